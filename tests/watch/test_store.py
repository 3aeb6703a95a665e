from pathlib import Path

from crawler.items import Article
from watch.store import Store

BODY = " ".join(f"word{i}" for i in range(300))


def article(url: str, text: str = BODY, digest: str = "h1", **kw: object) -> Article:
    return Article(url=url, canonical_url=url, source="s", title="T", text=text,
                   content_hash=digest, **kw)  # fmt: skip


def test_same_url_is_stored_once_and_changes_update_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    first = store.upsert(article("https://a.test/1"))
    assert first.status == "new"
    assert store.upsert(article("https://a.test/1")).status == "unchanged"
    updated = store.upsert(article("https://a.test/1", BODY + " edit", "h2"))
    assert (updated.status, updated.item_id) == ("updated", first.item_id)
    item = store.get(first.item_id)
    assert item is not None and item.text.endswith("edit")
    assert item.first_seen <= item.updated_at
    assert store.count() == 1


def test_near_duplicate_joins_the_first_items_cluster(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    first = store.upsert(article("https://a.test/1"))
    copy = store.upsert(article("https://b.test/syndicated", BODY + " via partner", "h9"))
    other = store.upsert(article("https://c.test/2", " ".join(f"other{i}" for i in range(300))))
    assert copy.status == "duplicate" and copy.cluster_id == first.item_id
    assert other.status == "new" and other.cluster_id == other.item_id


def test_reopening_keeps_data_and_applies_no_migration_twice(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    store.upsert(article("https://a.test/1"))
    store.close()
    again = Store(tmp_path / "v.db")
    assert again.migrate() == []
    assert again.count() == 1


def test_source_state_counts_consecutive_failures(tmp_path: Path) -> None:
    store = Store(tmp_path / "v.db")
    store.record_source_result("blog", "HTTP 500")
    state = store.record_source_result("blog", "HTTP 500")
    assert state.consecutive_failures == 2 and state.last_error == "HTTP 500"
    assert store.record_source_result("blog", None).consecutive_failures == 0


def test_threads_opening_a_new_store_at_once_all_migrate_it(tmp_path: Path) -> None:
    # As under a plain `scrapy crawl`: the spider and the store writer open a fresh store
    # together, and each would apply the migrations the other had not yet recorded.
    import threading

    errors: list[BaseException] = []

    def open_store(path: Path, start: threading.Barrier) -> None:
        start.wait()
        try:
            Store(path).close()
        except BaseException as exc:
            errors.append(exc)

    for attempt in range(5):
        start = threading.Barrier(3)
        path = tmp_path / f"race-{attempt}.db"
        threads = [threading.Thread(target=open_store, args=(path, start)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
