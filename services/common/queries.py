"""The read RPCs every service offers about its main record: `get`,
`get_many` and `list`, written once.

    class GrantsService(RecordQueries, OperatorRpc):
        name = "grants"
        store = grants_store()
        records = RecordSource("grants", view=grant_view, filters=ListFilter,
                               query=list_query)

`get` answers None for an id that names nothing, `get_many` leaves unknown
ids out (one round trip for any number of ids), `list` is a page in creation
order (services/common/paging.py) of at most MAX_PAGE_SIZE, read from the
service's config at call time. A service whose views need more than one
document each (consultations) gives `views`, a function of the store's db and
a list of documents, instead of `view`.
"""
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema

from services.common import paging
from services.common.handlers import rpc
from services.common.validation import load

Doc = dict[str, Any]

DEFAULT_MAX_PAGE_SIZE = 200


def no_filter(filters: Mapping[str, Any]) -> Doc:
    """A list query from validated filters: each given filter must match as is."""
    return {k: v for k, v in filters.items() if v}


@dataclass(frozen=True)
class RecordSource:
    collection: str
    filters: type[Schema]
    view: Callable[[Doc], Doc] | None = None
    views: Callable[[Any, list[Doc]], list[Doc]] | None = None
    query: Callable[[Mapping[str, Any]], Doc] = no_filter
    sequenced: bool = False  # paged by the collection's `seq` counter instead of `_id`

    def render(self, db: Any, docs: list[Doc]) -> list[Doc]:
        if self.views is not None:
            return self.views(db, docs)
        assert self.view is not None, "a RecordSource needs view or views"
        return [self.view(d) for d in docs]


class RecordQueries:
    """Mixin of a nameko service class that declares `records` and `store`."""

    records: RecordSource
    store: Any

    @rpc
    def get(self, record_id: object) -> Doc | None:
        found = self.get_many([record_id])
        return found[0] if found else None

    @rpc
    def get_many(self, record_ids: object) -> list[Doc]:
        """One round trip for any number of ids; unknown ids are left out."""
        ids = paging.clean_ids(record_ids)
        if not ids:
            return []
        docs = list(self.store.db[self.records.collection].find({"_id": {"$in": ids}}))
        return self.records.render(self.store.db, docs)

    @rpc
    def list(self, filters: Mapping[str, Any] | None = None, first: int = 50,
             after: str | None = None, count: bool = True) -> Doc:
        """A page in creation order; totalCount only if `count`."""
        query = self.records.query(load(self.records.filters(), filters or {}))
        result = paging.page(self.store.db[self.records.collection], query, first, after,
                             lambda d: d, count=count, sequenced=self.records.sequenced,
                             maximum=self.store.config.get("MAX_PAGE_SIZE", DEFAULT_MAX_PAGE_SIZE))
        nodes = self.records.render(self.store.db, [e["node"] for e in result["edges"]])
        for edge, node in zip(result["edges"], nodes):
            edge["node"] = node
        return result
