"""Users' corrections to tags and opportunity scores (``veille label``).

Corrections are an append-only log in the store (table ``feedback``), keyed by
the item's canonical URL. The latest word on each tag wins. They are applied on
top of whatever the tagger says, at crawl time (a re-crawled item gets them
back), on ``veille retag`` and at once by ``veille label``; they also join the
seed set when ``veille train`` retrains the models. Nothing ever deletes them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from classifiers.dataset import Example
from classifiers.taxonomy import OPPORTUNITY_TAG
from watch.errors import UserError
from watch.store import Store, StoredItem, now_iso

USER_REASON = "set by a user (veille label)"


@dataclass
class Corrections:
    """The net effect of the corrections made to one item."""

    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    opportunity: bool | None = None

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.opportunity is not None)

    def apply(
        self,
        tags: Iterable[str],
        opportunity: float | None,
        reasons: dict[str, list[str]],
        threshold: float,
    ) -> tuple[list[str], float | None, dict[str, list[str]]]:
        """Tags, score and reasons with these corrections on top."""
        result = set(tags)
        reasons = {tag: list(why) for tag, why in reasons.items()}
        if self.opportunity is not None:
            opportunity = 1.0 if self.opportunity else 0.0
            result.discard(OPPORTUNITY_TAG)
            reasons.pop(OPPORTUNITY_TAG, None)
            if self.opportunity:
                result.add(OPPORTUNITY_TAG)
                reasons[OPPORTUNITY_TAG] = [USER_REASON]
        elif (
            opportunity is not None
            and opportunity >= threshold
            and OPPORTUNITY_TAG not in self.removed
        ):
            result.add(OPPORTUNITY_TAG)
        for tag in self.added:
            result.add(tag)
            reasons[tag] = [USER_REASON]
        for tag in self.removed:
            result.discard(tag)
            reasons.pop(tag, None)
        return sorted(result), opportunity, reasons


class FeedbackIndex:
    """Every item's corrections, by canonical URL, read once (for a crawl or a retag)."""

    def __init__(self, by_url: dict[str, Corrections] | None = None) -> None:
        self.by_url = by_url or {}

    def __len__(self) -> int:
        return len(self.by_url)

    def get(self, canonical_url: str | None) -> Corrections | None:
        """The corrections for an item, if any."""
        return self.by_url.get(canonical_url) if canonical_url else None

    @classmethod
    def from_store(cls, store: Store) -> FeedbackIndex:
        """Read every correction through an open store."""
        return cls(_fold(store.conn.execute(_SELECT_ALL)))

    @classmethod
    def from_path(cls, db_path: Path) -> FeedbackIndex:
        """Read every correction from a store file, read-only; empty if there is none yet.

        Crawl workers use this: they must not migrate or write the store.
        """
        if not db_path.exists():
            return cls()
        try:
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30.0)
        except sqlite3.Error:
            return cls()
        try:
            return cls(_fold(conn.execute(_SELECT_ALL)))
        except sqlite3.OperationalError:
            return cls()  # a store from before migration 0003: no corrections yet
        finally:
            conn.close()


_SELECT_ALL = "SELECT canonical_url, action, tag, value FROM feedback ORDER BY id"


def _fold(rows: Iterable[tuple]) -> dict[str, Corrections]:
    out: dict[str, Corrections] = {}
    for url, action, tag, value in rows:
        c = out.setdefault(url, Corrections())
        if action == "add":
            c.added.add(tag)
            c.removed.discard(tag)
        elif action == "remove":
            c.removed.add(tag)
            c.added.discard(tag)
        elif action == "opportunity":
            c.opportunity = bool(value)
    return out


def corrections_for(store: Store, canonical_url: str) -> Corrections:
    """One item's corrections."""
    rows = store.conn.execute(
        "SELECT canonical_url, action, tag, value FROM feedback WHERE canonical_url = ? "
        "ORDER BY id",
        (canonical_url,),
    )
    return _fold(rows).get(canonical_url, Corrections())


def record(
    store: Store,
    item_id: int,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    opportunity: bool | None = None,
) -> tuple[StoredItem, Corrections]:
    """Record corrections for an item; return the item and its corrections so far."""
    item = store.get(item_id)
    if item is None:
        raise UserError(f"No item with id {item_id}. Find ids with `veille search`.")
    add, remove = [_clean(t) for t in add], [_clean(t) for t in remove]
    both = set(add) & set(remove)
    if both:
        raise UserError(f"Cannot both add and remove {', '.join(sorted(both))}.")
    if not add and not remove and opportunity is None:
        raise UserError("Nothing to record: give --add TAG, --remove TAG or --opportunity yes|no.")
    now = now_iso()
    rows = [(item_id, item.canonical_url, "add", t, None, now) for t in add]
    rows += [(item_id, item.canonical_url, "remove", t, None, now) for t in remove]
    if opportunity is not None:
        rows.append((item_id, item.canonical_url, "opportunity", None, int(opportunity), now))
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO feedback (item_id, canonical_url, action, tag, value, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    return item, corrections_for(store, item.canonical_url)


def training_examples(
    store: Store, labels: Iterable[str], text_of: Callable[[StoredItem], str]
) -> list[Example]:
    """Corrected items as training examples.

    An item whose topic tags were corrected is a labelled example: its topics
    are its stored tags (which carry the corrections) among `labels`. An item
    whose opportunity was set is a yes/no example. Items no longer stored are
    skipped; their corrections stay in the log.
    """
    known = set(labels)
    index = FeedbackIndex.from_store(store)
    examples = []
    for url, c in index.by_url.items():
        item = store.get_by_url(url)
        if item is None:
            continue
        touched_topics = bool((c.added | c.removed) & known)
        if not touched_topics and c.opportunity is None:
            continue
        topics = sorted(((set(item.tags) | c.added) - c.removed) & known)
        examples.append(
            Example(
                text=text_of(item),
                labels=topics if touched_topics else [],
                opportunity=c.opportunity,
                has_labels=touched_topics,
            )
        )
    return examples


def _clean(tag: str) -> str:
    tag = tag.strip()
    if not tag:
        raise UserError("Tags must not be empty.")
    return tag
