"""The read-only JSON API: /api/search, /api/items/<id> and /api/sources.

Shapes are those of the command line's --json output: `SearchResult.to_dict()`
with every facet, `StoredItem.to_dict()`, and `veille sources --json`. Errors
are `{"error": "..."}` with 400 for a bad query or parameter, 404 for a
missing item and 503 when the search engine cannot answer.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, request

from watch.commands.read import source_rows
from watch.web.connections import connections
from watch.web.params import item_id as parse_id
from watch.web.params import search_query

api = Blueprint("api", __name__, url_prefix="/api")


@api.get("/search")
def search() -> Response:
    """Search results with facets (source, category, language, tags, day)."""
    query = search_query(request.args, strict=True)
    return jsonify(connections().backend().search(query).to_dict())


@api.get("/items/<item_id>")
def item(item_id: str) -> Response:
    """One stored item, all its fields."""
    number = parse_id(item_id)
    found = connections().store().get(number) if number is not None else None
    if found is None:
        abort(404, f"No item with id {item_id!r}. Ids are the `id` of search hits.")
    return jsonify(found.to_dict())


@api.get("/sources")
def sources() -> Response:
    """Source health, the backend name and the indexing backlog, as `veille sources --json`."""
    conns = connections()
    store = conns.store()
    rows = source_rows(conns.config, store.source_states(), store.source_item_counts())
    return jsonify(
        {
            "sources": rows,
            "search_backend": conns.config.settings.search.backend,
            "index_backlog": store.pending_index_count(),
        }
    )
