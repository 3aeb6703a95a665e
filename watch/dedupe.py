"""Near-duplicate detection: MinHash signatures banded for lookup in SQLite.

Syndicated or lightly rewritten stories share most of their word 3-shingles.
A MinHash signature estimates that overlap (Jaccard similarity); splitting it
into bands lets the store find candidates with an indexed equality lookup
instead of comparing against every stored item.
"""

from __future__ import annotations

import hashlib
import re
import struct

import numpy as np

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
# Estimated Jaccard similarity above which two texts are the same story.
THRESHOLD = 0.6
# Too short a text says too little to cluster on (titles alone collide).
MIN_TOKENS = 40

_WORD = re.compile(r"\w+", re.UNICODE)


def signature(text: str) -> np.ndarray | None:
    """The MinHash signature of a text's word 3-shingles, or None when too short."""
    words = _WORD.findall(text.lower())
    if len(words) < MIN_TOKENS:
        return None
    shingles = {" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2)}
    # Imported here: datasketch pulls in scipy, which every `veille` call would pay for.
    from datasketch import MinHash

    mh = MinHash(num_perm=NUM_PERM, seed=7)
    mh.update_batch(list(shingles))
    return mh.hashvalues.astype(np.uint64)


def band_keys(sig: np.ndarray) -> list[int]:
    """One signed 63-bit key per band, suitable for an indexed SQLite column."""
    keys = []
    for band in range(BANDS):
        chunk = sig[band * ROWS : (band + 1) * ROWS].tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=struct.pack("<Q", band)).digest()
        keys.append(int.from_bytes(digest, "little") >> 1)
    return keys


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of the texts behind two signatures."""
    return float(np.count_nonzero(a == b)) / len(a)


def to_blob(sig: np.ndarray) -> bytes:
    """A signature as bytes for storage."""
    return sig.astype(np.uint64).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """A signature back from storage."""
    return np.frombuffer(blob, dtype=np.uint64)
