"""Reading and writing records the way every service does.

- `read(tx, collection, record_id)`: the record, read in the transaction, or
  None; an id of any other shape than a short string names nothing and is
  never a query.
- `load(tx, collection, noun, record_id)`: the same, or NotFound.
- `found(doc, noun, record_id)`: the record, or NotFound in one wording.
- `apply_newer(tx, collection, record_id, revision, fields)`: a read model
  that follows another service's events keeps the newest revision only, so
  events may arrive in any order and twice.
"""
from typing import Any, TypeVar

from services.common import paging
from services.common.errors import NotFound

T = TypeVar("T")


def not_found(noun: str, record_id: object) -> NotFound:
    """NOT_FOUND naming the id, unless it is not an id at all (never echoed)."""
    clean_id = paging.clean_id(record_id)
    return NotFound(f"No {noun} with id {clean_id!r}." if clean_id else f"No {noun} with this id.")


def found(doc: T | None, noun: str, record_id: object) -> T:
    """`doc`, or NotFound("No <noun> with id '<id>'.") when it is None."""
    if doc is None:
        raise not_found(noun, record_id)
    return doc


def read(tx: Any, collection: str, record_id: object) -> dict[str, Any] | None:
    clean_id = paging.clean_id(record_id)
    if clean_id is None:
        return None
    doc: dict[str, Any] | None = tx.db[collection].find_one({"_id": clean_id}, session=tx.session)
    return doc


def load(tx: Any, collection: str, noun: str, record_id: object) -> dict[str, Any]:
    return found(read(tx, collection, record_id), noun, record_id)


def apply_newer(tx: Any, collection: str, record_id: str, revision: int,
                fields: dict[str, Any]) -> bool:
    """Set `fields` and `revision` on the read-model record `record_id` if
    `revision` is newer than the one it holds (or it has none yet); return
    whether it was applied. Two round trips: the guarded update, then an
    insert only when nothing matched and no record exists.

    Invariant: a record's revision only grows, so an older event arriving
    late never overwrites a newer state."""
    coll = tx.db[collection]
    changed = coll.update_one({"_id": record_id, "revision": {"$lt": revision}},
                              {"$set": {**fields, "revision": revision}}, session=tx.session)
    if changed.matched_count:
        return True
    if coll.find_one({"_id": record_id}, {"_id": 1}, session=tx.session) is not None:
        return False  # it holds this revision or a newer one
    coll.insert_one({"_id": record_id, **fields, "revision": revision}, session=tx.session)
    return True
