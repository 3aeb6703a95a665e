"""Migration 0006: stored signatures are recomputed with the numpy MinHash scheme."""

import sqlite3
from pathlib import Path

import numpy as np

from crawler.items import Article
from watch import dedupe
from watch.store import Store

STORY = " ".join(
    f"Marketplace {w} fees rise for sellers of home appliances in region {w}" for w in range(40)
)
OTHER = " ".join(f"Parcel lockers {w} open in station {w} across the north" for w in range(40))


def article(url: str, text: str, digest: str) -> Article:
    return Article(url=url, canonical_url=url, source="s", title="T", text=text,
                   content_hash=digest)  # fmt: skip


def make_pre_migration_store(path: Path) -> dict[str, int]:
    """A store as the datasketch scheme left it: other signatures, other band keys, clusters."""
    store = Store(path)
    ids = {
        "story": store.upsert(article("https://a.test/story", STORY, "h1")).item_id,
        "copy": store.upsert(article("https://b.test/copy", STORY + " via partner", "h2")).item_id,
        "other": store.upsert(article("https://c.test/other", OTHER, "h3")).item_id,
        "short": store.upsert(article("https://d.test/short", "Too short to sign", "h4")).item_id,
    }
    store.close()
    # Stand-in for the old scheme's values: none of them equals a new signature.
    conn = sqlite3.connect(path)
    rng = np.random.default_rng(1)
    for item_id in (ids["story"], ids["copy"], ids["other"]):
        old = rng.integers(0, 2**32, size=dedupe.NUM_PERM, dtype=np.uint64)
        conn.execute("UPDATE items SET signature = ? WHERE id = ?", (old.tobytes(), item_id))
    conn.execute("DELETE FROM item_bands")
    conn.executemany(
        "INSERT INTO item_bands VALUES (?, ?)", [(1000 + i, ids["story"]) for i in range(16)]
    )
    conn.execute("DELETE FROM schema_migrations WHERE name = '0006_signature_numpy'")
    conn.commit()
    conn.close()
    return ids


def test_old_signatures_and_band_keys_are_recomputed_and_clusters_kept(tmp_path: Path) -> None:
    ids = make_pre_migration_store(tmp_path / "v.db")
    store = Store(tmp_path / "v.db")
    assert "0006_signature_numpy" in {
        r[0] for r in store.conn.execute("SELECT name FROM schema_migrations")
    }
    rows = {r["id"]: r for r in store.conn.execute("SELECT * FROM items")}
    for item_id, row in rows.items():
        expected = dedupe.signature(dedupe.signed_text(row["title"], row["text"], row["summary"]))
        if expected is None:
            assert item_id == ids["short"] and row["signature"] is None
            continue
        assert dedupe.from_blob(row["signature"]).tolist() == expected.tolist()
        bands = {
            r[0]
            for r in store.conn.execute(
                "SELECT band_key FROM item_bands WHERE item_id = ?", (item_id,)
            )
        }
        assert bands == set(dedupe.band_keys(expected))
    stale = store.conn.execute("SELECT COUNT(*) FROM item_bands WHERE band_key < 2000")
    assert stale.fetchone()[0] == 0
    # Cluster ids are kept: the copy stays in the story's cluster, the others in their own.
    clusters = {i: rows[i]["cluster_id"] for i in rows}
    assert clusters[ids["copy"]] == ids["story"] == clusters[ids["story"]]
    assert clusters[ids["other"]] == ids["other"]
    # And a new syndicated copy of a story stored before the change still finds it.
    again = store.upsert(article("https://e.test/again", "Republished: " + STORY, "h5"))
    assert (again.status, again.cluster_id) == ("duplicate", ids["story"])


def test_the_migration_runs_once_on_a_new_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    store.close()
    assert Store(tmp_path / "v.db").migrate() == []
