"""Versioned schema migrations for the SQLite store.

Each migration has a unique name, sorted by its numeric prefix, and is applied
once, inside a transaction, and recorded in `schema_migrations`. Add a new one
at the end; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

# A migration is an SQL script, or a function run on the connection inside the
# migration's transaction (for data that SQL alone cannot recompute).
Migration = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: list[tuple[str, Migration]] = [
    (
        "0001_core",
        """
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            canonical_url TEXT NOT NULL UNIQUE,
            url TEXT NOT NULL,
            source TEXT NOT NULL,
            category TEXT NOT NULL DEFAULT 'general',
            title TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            author TEXT,
            published TEXT,
            language TEXT,
            keywords TEXT NOT NULL DEFAULT '[]',
            content_hash TEXT NOT NULL DEFAULT '',
            signature BLOB,
            cluster_id INTEGER,
            tags TEXT NOT NULL DEFAULT '[]',
            tag_reasons TEXT NOT NULL DEFAULT '{}',
            opportunity REAL,
            fetched_at TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX items_source ON items(source);
        CREATE INDEX items_published ON items(published);
        CREATE INDEX items_first_seen ON items(first_seen);
        CREATE INDEX items_cluster ON items(cluster_id);

        -- Tags in a side table so filters and facets are indexed lookups.
        CREATE TABLE item_tags (
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (item_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX item_tags_tag ON item_tags(tag);

        -- MinHash bands for near-duplicate lookup (see watch/dedupe.py).
        CREATE TABLE item_bands (
            band_key INTEGER NOT NULL,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            PRIMARY KEY (band_key, item_id)
        ) WITHOUT ROWID;

        CREATE VIRTUAL TABLE items_fts USING fts5(
            title, summary, text,
            content='items', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
            INSERT INTO items_fts(rowid, title, summary, text)
            VALUES (new.id, new.title, new.summary, new.text);
        END;
        CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
            INSERT INTO items_fts(items_fts, rowid, title, summary, text)
            VALUES ('delete', old.id, old.title, old.summary, old.text);
        END;
        CREATE TRIGGER items_fts_update AFTER UPDATE OF title, summary, text ON items BEGIN
            INSERT INTO items_fts(items_fts, rowid, title, summary, text)
            VALUES ('delete', old.id, old.title, old.summary, old.text);
            INSERT INTO items_fts(rowid, title, summary, text)
            VALUES (new.id, new.title, new.summary, new.text);
        END;

        CREATE TABLE source_state (
            name TEXT PRIMARY KEY,
            last_run_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            next_due_at TEXT,
            current_interval REAL
        );

        -- HTTP validators and sitemap lastmods, per fetched URL.
        CREATE TABLE url_state (
            url TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            lastmod TEXT,
            checked_at TEXT NOT NULL
        );
        CREATE INDEX url_state_source ON url_state(source);

        CREATE TABLE crawl_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running'
        );
        CREATE TABLE crawl_run_sources (
            run_id INTEGER NOT NULL REFERENCES crawl_runs(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0,
            new INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            not_modified INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            messages TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (run_id, source)
        );

        -- Items stored but not yet accepted by the search engine (Elasticsearch).
        CREATE TABLE index_outbox (
            item_id INTEGER PRIMARY KEY,
            queued_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        """,
    ),
    (
        "0004_alerts",
        """
        -- Per alert rule: the highest item id already evaluated, and digest times.
        CREATE TABLE alert_cursors (
            rule TEXT PRIMARY KEY,
            last_item_id INTEGER NOT NULL DEFAULT 0,
            evaluated_at TEXT,
            last_digest_at TEXT,
            created_at TEXT NOT NULL
        );

        -- (rule, item) pairs already put in a message: never sent twice.
        CREATE TABLE alert_deliveries (
            rule TEXT NOT NULL,
            item_id INTEGER NOT NULL,
            cluster_id INTEGER,
            queued_at TEXT NOT NULL,
            PRIMARY KEY (rule, item_id)
        );
        CREATE INDEX alert_deliveries_cluster ON alert_deliveries(rule, cluster_id);

        -- Rendered messages waiting for SMTP (one row per recipient).
        CREATE TABLE mail_outbox (
            id INTEGER PRIMARY KEY,
            rule TEXT,
            kind TEXT NOT NULL,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            message BLOB NOT NULL,
            item_count INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX mail_outbox_due ON mail_outbox(status, next_attempt_at);

        -- Named locks (one per source crawl, one for alert delivery) that a
        -- crashed holder cannot keep: stale once expired or its pid is gone.
        CREATE TABLE locks (
            name TEXT PRIMARY KEY,
            token TEXT NOT NULL,
            pid INTEGER NOT NULL,
            host TEXT NOT NULL,
            acquired_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );

        -- When the admin was last told a source is failing (once per failing streak).
        CREATE TABLE source_notices (
            source TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            notified_at TEXT NOT NULL
        );
        """,
    ),
    (
        "0005_search_facts",
        """
        -- A narrow copy of what search filters, sorts and facets on, kept in
        -- step by triggers: scanning it is far cheaper than scanning `items`,
        -- whose rows carry the full text (see watch/search/sqlite.py).
        CREATE TABLE search_facts (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            category TEXT NOT NULL,
            language TEXT,
            date TEXT NOT NULL,
            day TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            opportunity REAL,
            cluster INTEGER NOT NULL
        );
        -- Covering indexes: date ranges and date sorts read only the index;
        -- each facet's index, led by its value, makes a facet over a large
        -- filtered set an ordered index scan with no sort and no lookup.
        CREATE INDEX search_facts_date ON search_facts(
            date, source, category, language, day, first_seen, opportunity, cluster);
        CREATE INDEX search_facts_first_seen ON search_facts(first_seen);
        CREATE INDEX search_facts_by_source ON search_facts(
            source, date, category, language, day, first_seen, opportunity, cluster);
        CREATE INDEX search_facts_by_category ON search_facts(
            category, date, source, language, day, first_seen, opportunity, cluster);
        CREATE INDEX search_facts_by_language ON search_facts(
            language, date, source, category, day, first_seen, opportunity, cluster);
        CREATE INDEX search_facts_by_day ON search_facts(
            day, date, source, category, language, first_seen, opportunity, cluster);
        CREATE TRIGGER search_facts_insert AFTER INSERT ON items BEGIN
            INSERT OR REPLACE INTO search_facts VALUES (
                new.id, new.source, new.category, new.language,
                COALESCE(new.published, new.first_seen),
                substr(COALESCE(new.published, new.first_seen), 1, 10), new.first_seen,
                new.opportunity, COALESCE(new.cluster_id, new.id));
        END;
        CREATE TRIGGER search_facts_update AFTER UPDATE OF
            source, category, language, published, first_seen, opportunity, cluster_id
            ON items BEGIN
            INSERT OR REPLACE INTO search_facts VALUES (
                new.id, new.source, new.category, new.language,
                COALESCE(new.published, new.first_seen),
                substr(COALESCE(new.published, new.first_seen), 1, 10), new.first_seen,
                new.opportunity, COALESCE(new.cluster_id, new.id));
        END;
        CREATE TRIGGER search_facts_delete AFTER DELETE ON items BEGIN
            DELETE FROM search_facts WHERE id = old.id;
        END;
        INSERT INTO search_facts
            SELECT id, source, category, language, COALESCE(published, first_seen),
                   substr(COALESCE(published, first_seen), 1, 10), first_seen,
                   opportunity, COALESCE(cluster_id, id)
            FROM items;
        """,
    ),
    (
        "0003_feedback",
        """
        -- Users' corrections to tags and opportunity (veille label), as an
        -- append-only log. Keyed by canonical URL, with no foreign key, so a
        -- correction outlives re-crawls, retags and even the item's deletion.
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL,
            canonical_url TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('add', 'remove', 'opportunity')),
            tag TEXT,
            value INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE INDEX feedback_url ON feedback(canonical_url, id);
        """,
    ),
]


def _recompute_signatures(conn: sqlite3.Connection) -> None:
    """Recompute every item's near-duplicate signature and band keys with the current scheme.

    watch/dedupe.py moved from datasketch's MinHash (SHA-1 per shingle) to its
    own numpy MinHash: a signature of one scheme never matches one of the
    other, so without this a stored story would no longer catch its syndicated
    copies. Signatures come from the stored title and text (or summary), as on
    insert. Cluster ids are kept as they are: no item changes cluster.
    """
    from watch import dedupe  # here: only this migration needs it

    conn.execute("DELETE FROM item_bands")
    last = 0
    while True:
        rows = conn.execute(
            "SELECT id, title, text, summary FROM items WHERE id > ? ORDER BY id LIMIT 500",
            (last,),
        ).fetchall()
        if not rows:
            break
        blobs, bands = [], []
        for item_id, title, text, summary in rows:
            sig = dedupe.signature(dedupe.signed_text(title, text, summary))
            blobs.append((dedupe.to_blob(sig) if sig is not None else None, item_id))
            if sig is not None:
                bands.extend((key, item_id) for key in dedupe.band_keys(sig))
        conn.executemany("UPDATE items SET signature = ? WHERE id = ?", blobs)
        conn.executemany("INSERT OR IGNORE INTO item_bands VALUES (?, ?)", bands)
        last = rows[-1][0]


# Appended after the list because it names a function defined above.
MIGRATIONS.append(("0006_signature_numpy", _recompute_signatures))

MIGRATIONS.append(
    (
        "0007_crawl_run_owner",
        """
        -- The process that owns a crawl run (pid, its start time against pid
        -- reuse, and host): a run still 'running' whose owner is gone was
        -- killed, and is closed as interrupted (Store.close_abandoned_runs).
        ALTER TABLE crawl_runs ADD COLUMN pid INTEGER;
        ALTER TABLE crawl_runs ADD COLUMN pid_started REAL;
        ALTER TABLE crawl_runs ADD COLUMN host TEXT;
        """,
    )
)
