"""Near-duplicate detection: MinHash signatures banded for lookup in SQLite.

Syndicated or lightly rewritten stories share most of their word 3-shingles.
A MinHash signature estimates that overlap (Jaccard similarity); splitting it
into bands lets the store find candidates with an indexed equality lookup
instead of comparing against every stored item.

The signature is computed with numpy over the whole text at once, with no
Python call per word or shingle (a per-shingle SHA-1, as datasketch does, cost
about 1.2 ms per article; this costs about a seventh of that):

- words are runs of Unicode word characters (what the regex ``\\w+`` matches)
  in the lower-cased text, found on the array of its code points;
- each word is hashed once, as a sum of its code points times per-position
  random 64-bit weights; three consecutive word hashes combine into a shingle
  hash, scrambled by a 64-bit finaliser and cut to 32 bits;
- each of the NUM_PERM hash functions is a multiply-add-shift
  ``(a * x + b mod 2**64) >> 32`` (2-independent for 32-bit x), applied to all
  shingles in one array operation, and the signature is the minimum per function.

Every parameter is derived from BLAKE2b of a fixed label, never from Python's
salted ``hash()`` nor a random generator whose stream may change between numpy
versions, so signatures are identical in every process, run and machine.
Changing any of this changes the signatures: stored ones must then be
recomputed by a new migration (see ``0006_signature_numpy`` in watch/migrations.py).
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np

NUM_PERM = 64
BANDS = 16
ROWS = NUM_PERM // BANDS
# Estimated Jaccard similarity above which two texts are the same story.
THRESHOLD = 0.6
# Too short a text says too little to cluster on (titles alone collide).
MIN_TOKENS = 40
# Words per shingle.
SHINGLE = 3
# Which scheme computed a signature: stored ones of another scheme never match.
SCHEME = "numpy-mas32-v1"

_U64 = np.uint64
# Positions beyond this reuse weights (position modulo _POSITIONS); long words still differ.
_POSITIONS = 64
# Shingles per block of the min-hash step: bounds the temporary array for huge texts.
_BLOCK = 4096


def _params(label: str, count: int, odd: bool) -> np.ndarray:
    """`count` fixed pseudo-random 64-bit integers derived from `label`."""
    values = [
        int.from_bytes(
            hashlib.blake2b(f"veille-dedupe:{label}:{i}".encode(), digest_size=8).digest(), "little"
        )
        for i in range(count)
    ]
    out = np.array(values, dtype=_U64)
    return out | _U64(1) if odd else out


_CHAR_WEIGHTS = _params("char", _POSITIONS, odd=True)
_SHINGLE_WEIGHTS = _params("shingle", SHINGLE, odd=True)
_PERM_A = _params("perm-a", NUM_PERM, odd=True)[:, None]
_PERM_B = _params("perm-b", NUM_PERM, odd=False)[:, None]

# ASCII word characters (letters, digits, underscore); others are looked up per text.
_ASCII_WORD = np.zeros(128, dtype=bool)
for _c in "0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
    _ASCII_WORD[ord(_c)] = True


def _word_chars(points: np.ndarray) -> np.ndarray:
    """A mask of the code points that are word characters (as regex \\w)."""
    if int(points.max()) < 128:
        return _ASCII_WORD[points]
    mask = np.zeros(points.size, dtype=bool)
    ascii_ = points < 128
    mask[ascii_] = _ASCII_WORD[points[ascii_]]
    other = points[~ascii_]
    distinct = np.unique(other)
    # str.isalnum() or "_" is exactly what `re` calls a Unicode word character.
    flags = np.array([chr(c).isalnum() for c in distinct.tolist()], dtype=bool)
    mask[~ascii_] = flags[np.searchsorted(distinct, other)]
    return mask


def word_hashes(text: str) -> np.ndarray:
    """One stable 64-bit hash per word of the lower-cased text, in order."""
    # surrogatepass: a lone surrogate (from a bad decode) is a non-word character, not an error.
    points = np.frombuffer(text.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if points.size == 0:
        return np.empty(0, dtype=_U64)
    where = np.flatnonzero(_word_chars(points))
    if where.size == 0:
        return np.empty(0, dtype=_U64)
    starts_mask = np.empty(where.size, dtype=bool)
    starts_mask[0] = True
    np.not_equal(np.diff(where), 1, out=starts_mask[1:])
    starts = np.flatnonzero(starts_mask)
    position = np.arange(where.size) - np.repeat(starts, np.diff(starts, append=where.size))
    terms = points[where].astype(_U64) * _CHAR_WEIGHTS[position % _POSITIONS]
    return np.add.reduceat(terms, starts)


def shingle_hashes(words: np.ndarray) -> np.ndarray:
    """A 32-bit hash (in uint64) per run of SHINGLE consecutive word hashes."""
    n = words.size - SHINGLE + 1
    x = words[:n] * _SHINGLE_WEIGHTS[0]
    for k in range(1, SHINGLE):
        x += words[k : k + n] * _SHINGLE_WEIGHTS[k]
    # MurmurHash3's 64-bit finaliser: the weighted sum alone is linear in the words.
    x ^= x >> _U64(33)
    x *= _U64(0xFF51AFD7ED558CCD)
    x ^= x >> _U64(33)
    x *= _U64(0xC4CEB9FE1A85EC53)
    x ^= x >> _U64(33)
    return x >> _U64(32)


def signature(text: str) -> np.ndarray | None:
    """The MinHash signature of a text's word 3-shingles, or None when too short."""
    words = word_hashes(text)
    if words.size < MIN_TOKENS:
        return None
    shingles = shingle_hashes(words)
    # Repeated shingles cannot change a minimum, so no de-duplication is needed.
    low = None
    for start in range(0, shingles.size, _BLOCK):
        block = _PERM_A * shingles[start : start + _BLOCK]
        block += _PERM_B
        mins = block.min(axis=1)
        low = mins if low is None else np.minimum(low, mins)
    # The shift is monotonic, so it can come after the minimum.
    return low >> _U64(32)


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


def signed_text(title: str, text: str, summary: str = "") -> str:
    """The text a stored item's signature is computed from (title, then body or summary)."""
    return f"{title}\n{text or summary}"


def to_blob(sig: np.ndarray) -> bytes:
    """A signature as bytes for storage."""
    return sig.astype(np.uint64).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """A signature back from storage."""
    return np.frombuffer(blob, dtype=np.uint64)
