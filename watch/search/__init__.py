"""Search backends behind one interface: SQLite FTS5 (embedded) and Elasticsearch."""
