"""Everything a service holds about one member, for its export (DOMAIN.md
section 11, `exportMemberData`), written once for every service.

Each service declares its `Part`s: a collection, the query that finds the
member's documents in it, and the fields exported, each with what it means.
docs/member-export.md documents the export field by field from the same
declarations (a unit test checks that every declared field is documented),
so nothing leaves that nobody described.

Collections that are the kit's own machinery (TECHNICAL) are never exported:
they hold copies of facts exported from their own collections (events in the
outbox, kept answers of repeated calls), and expire.

Invariant: `export` answers plain JSON values only (text, numbers, booleans,
None, lists and objects): dates as ISO 8601 text, Decimal128 as decimal text.
"""
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from bson import Decimal128, ObjectId

from services.common.paging import clean_id

Doc = dict[str, Any]

# the kit's collections (services/common/store.py KIT_INDEXES) and the
# gateway's: not exported (see above)
TECHNICAL: Final = frozenset({"outbox", "processed_events", "dead_letters", "requests",
                              "idempotency", "rate_limits", "guards", "tries"})


@dataclass(frozen=True)
class Part:
    """The documents of `collection` that are about a member (`query` of its
    id), with `fields`: {field: what it is, in a sentence}. `_id` is exported
    as `id` when listed as "id".

    A part kept inside another collection's documents names that one as
    `source`, and `rows(document, member id)` gives its rows from each
    document found (then sorted by `sort`, ascending)."""
    collection: str
    query: Callable[[str], Doc]
    fields: Mapping[str, str]
    sort: Sequence[tuple[str, int]] = field(default=(("_id", 1),))
    source: str | None = None
    rows: Callable[[Doc, str], Iterable[Doc]] | None = None

    @property
    def stored_in(self) -> str:
        """The collection its documents are read from."""
        return self.source or self.collection


def jsonable(value: Any) -> Any:
    """`value` as plain JSON values (see the module's invariant)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal128):
        return str(value.to_decimal())
    if isinstance(value, (Decimal, ObjectId)):
        return str(value)
    return value


def _projected(doc: Mapping[str, Any], fields: Mapping[str, str]) -> Doc:
    return {name: jsonable(doc.get("_id" if name == "id" else name)) for name in fields}


def export(db: Any, parts: Sequence[Part], member_id: object) -> dict[str, list[Doc]]:
    """{collection: [the member's documents, their declared fields only]}:
    one read per part; every list empty for a `member_id` that is not an id
    (paging.clean_id: never a query of None, which would match documents
    without a member)."""
    clean = clean_id(member_id)
    found: dict[str, list[Doc]] = {}
    for part in parts:
        if clean is None:
            found[part.collection] = []
            continue
        if part.rows is None:
            docs = db[part.stored_in].find(part.query(clean)).sort(list(part.sort))
        else:
            docs = sorted((row for doc in db[part.stored_in].find(part.query(clean))
                           for row in part.rows(doc, clean)),
                          key=lambda row: [row[name] for name, _ in part.sort])
        found[part.collection] = [_projected(doc, part.fields) for doc in docs]
    return found
