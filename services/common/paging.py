"""Keyset pagination with opaque cursors, shared by every list RPC.

A page never repeats a document, and costs what the page costs, not what
the collection costs. Two orders:

- by `seq` (a *sequenced* collection): each document gets a number of its
  counter (`counters`, `{_id: <collection>, value: <highest reserved>}`),
  unique and never changed; documents are never deleted. A process takes
  numbers in blocks (`SeqBlocks`: one `$inc` of SEQ_BLOCK on the counter, its
  own short write outside any transaction, then handed out from memory), so
  creating a document does not write the shared counter and concurrent
  creations do not conflict. The rule that follows:
  * `seq` is unique but NOT dense: a block's unused numbers are lost when its
    process stops, and a number taken by a creation that aborts is not given
    back. Nothing may read `seq` or the counter as a count (total_count
    counts documents: `page`).
  * `seq` order is creation order within one process; across several
    instances it is only roughly creation order (each hands out its own
    block), so a document created while a client pages through may get a
    number below that client's cursor and not be shown to that traversal.
    A traversal still shows every document that existed when it started
    exactly once, in `seq` order.
  * the counter (`last_seq`) is the highest number reserved, so it bounds
    every stored `seq`: a page is the bounded index ranges `after < seq <= hi`
    (the only range the store answers in O(page)), read by `windows` from
    `after` up to the counter, each twice as wide as the one before, until
    the page is full. A gap of any size costs O(log(gap / page)) windows,
    never a loop without end, and pages stay full across gaps.
  Cursors "s1:<seq>". `backfill_seq` numbers older documents in one
  transaction per batch (`next_seq` with n), contiguous within a batch.
- by `_id` (ObjectId strings: creation order): `_id > after`, sorted and
  limited (or, newest first, `_id < after` sorted the other way). Cursors
  "k1:<_id>". Collections move to `seq` as they need to.
"""
import base64
import binascii
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.write_concern import WriteConcern

from services.common.errors import BadUserInput

BY_ID: Final = "k1"
BY_SEQ: Final = "s1"

Doc = dict[str, Any]
DEFAULT_SEQ_BLOCK: Final = 64  # SEQ_BLOCK's default (services/common/config.py)
SEQ_INDEX = IndexModel([("seq", ASCENDING)], unique=True, sparse=True)  # sparse: backfill_seq's input


def new_id() -> str:
    """A new `_id`: an ObjectId as text, so `_id` order is creation order."""
    return str(ObjectId())


# ---- cursors -----------------------------------------------------------------------

def encode_cursor(kind: str, value: object) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: object, kind: str) -> str | int | None:
    """The `_id` (BY_ID) or seq (BY_SEQ) a cursor names; None for no cursor.
    Anything else, a cursor of the other kind included, is BAD_USER_INPUT."""
    if cursor is None:
        return None
    try:
        if not isinstance(cursor, str):
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        if prefix == kind == BY_ID and ObjectId.is_valid(value):
            return value
        if prefix == kind == BY_SEQ and value.isascii() and value.isdigit() and len(value) <= 18:
            return int(value)
        raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput("The cursor is not valid.", {"after": ["Not a cursor from this API."]})


# ---- sequence numbers --------------------------------------------------------------

def next_seq(db: Any, name: str, session: Any = None, n: int = 1) -> int:
    """Reserve the next n numbers of counter `name` (in the caller's
    transaction if `session`, so an abort gives them back; otherwise one
    atomic write of its own); return the last of them."""
    counter = db.counters.find_one_and_update({"_id": name}, {"$inc": {"value": n}}, upsert=True,
                                              return_document=ReturnDocument.AFTER, session=session)
    last: int = counter["value"]
    return last


def last_seq(db: Any, name: str) -> int:
    """The highest number reserved of counter `name` (0: none): every stored
    `seq` is at most this. Not a count (see the module's docstring)."""
    counter = db.counters.find_one({"_id": name})
    return int(counter["value"]) if counter else 0


class SeqBlocks:
    """The numbers of sequenced collections one process hands out: a block of
    `block` numbers reserved at a time by `next_seq` outside any transaction,
    then one number per `take` from memory, under a lock (a green lock under
    eventlet). Each number is handed out once: blocks never overlap, since
    each is one atomic `$inc` of the counter. Numbers left in the block when
    the process stops are never used (gaps: the module's docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[tuple[str, str], tuple[int, int]] = {}  # (db, name) -> (next, last)

    def take(self, db: Any, name: str, block: int = DEFAULT_SEQ_BLOCK) -> int:
        """A number of counter `name` no one else has: call it before the
        transaction that stores it (a retry of that transaction keeps it)."""
        key = (db.name, name)
        with self._lock:
            start, end = self._free.get(key, (1, 0))
            if start > end:
                # majority: a block a failover rolled back could be handed out twice
                end = next_seq(db.with_options(write_concern=WriteConcern("majority")), name,
                               n=max(1, block))
                start = end - max(1, block) + 1
            self._free[key] = (start + 1, end)
        return start


def backfill_seq(store: Any, name: str, batch: int = 500) -> None:
    """Number the documents of collection `name` that have no `seq` yet, in
    `_id` order after those that have one, moving the counter past them.
    Each batch is one transaction that reads what it numbers, so instances
    starting at once conflict on the counter, retry, and never number a
    document twice."""
    def work(tx: Any) -> int:
        coll = tx.db[name]
        ids = [d["_id"] for d in coll.find({"seq": {"$exists": False}}, {"_id": 1},
                                           session=tx.session).sort("_id", 1).limit(batch)]
        if ids:
            last = next_seq(tx.db, name, tx.session, len(ids))
            for seq, doc_id in enumerate(ids, start=last - len(ids) + 1):
                coll.update_one({"_id": doc_id}, {"$set": {"seq": seq}}, session=tx.session)
        return len(ids)

    while store.transaction(work):
        pass


# ---- pages -------------------------------------------------------------------------

def check_first(first: object, maximum: int) -> None:
    if not isinstance(first, int) or isinstance(first, bool) or first < 0 or first > maximum:
        raise BadUserInput(f"first must be between 0 and {maximum}.",
                           {"first": [f"Must be between 0 and {maximum}."]})


def windows(after: int, size: int, last: int) -> Iterator[tuple[int, int]]:
    """The seq ranges (lo, hi] a page reads, from `after` up to `last`: the
    first `size` wide (a whole page when nothing is filtered out), each next
    one twice as wide as the one before, so a gap in the numbers of any size
    takes O(log(gap / size)) windows; ends at `last` whatever `size`."""
    lo, size = after, max(1, size)
    while lo < last:
        hi = min(lo + size, last)
        yield lo, hi
        lo, size = hi, size * 2


def _by_seq(collection: Any, query: Mapping[str, Any], want: int, after: int, last: int,
            projection: Mapping[str, Any] | None) -> list[Doc]:
    docs: list[Doc] = []
    for lo, hi in windows(after, want, last):
        # the seq range first: the store then reads an index on seq (or on the
        # filter and seq), not every document the filter matches
        window = {"seq": {"$gt": lo, "$lte": hi}, **query}
        docs += collection.find(window, projection).sort("seq", 1).limit(want - len(docs))
        if len(docs) == want:
            break
    return docs


def page(collection: Any, query: Mapping[str, Any], first: int, after: object,
         view: Callable[[Doc], Any], maximum: int = 200,
         projection: Mapping[str, Any] | None = None, *, count: bool = True,
         sequenced: bool = False, newest_first: bool = False) -> Doc:
    """One page: {edges: [{cursor, node}], has_next_page, end_cursor, total_count}.

    In creation order, by `seq` if `sequenced` else by `_id` (a projection
    must keep that field); `newest_first` (by `_id` only) reverses it, and a
    cursor then names where the next, older, page starts. total_count is None
    unless `count`; for a sequenced collection and no filter it is the
    store's `count` command without a query (estimated_document_count:
    SecantusDB counts the documents, at half the cost of count_documents),
    never the counter, which numbers gaps too."""
    if sequenced and newest_first:
        raise ValueError("newest_first pages by _id only")
    check_first(first, maximum)
    if sequenced:
        kind, key = BY_SEQ, "seq"
        last = last_seq(collection.database, collection.name)
        after_seq = int(decode_cursor(after, BY_SEQ) or 0)  # BY_SEQ: an int
        docs = _by_seq(collection, query, first + 1, after_seq, last, projection)
        # never `last`: the counter numbers gaps too
        total = ((collection.count_documents(query) if query
                  else collection.estimated_document_count()) if count else None)
    else:
        kind, key = BY_ID, "_id"
        after_id = decode_cursor(after, BY_ID)
        beyond, order = ("$lt", -1) if newest_first else ("$gt", 1)
        page_query = {**query, "_id": {beyond: after_id}} if after_id is not None else query
        docs = list(collection.find(page_query, projection).sort("_id", order).limit(first + 1))
        total = collection.count_documents(query) if count else None
    has_next = len(docs) > first
    edges = [{"cursor": encode_cursor(kind, d[key]), "node": view(d)} for d in docs[:first]]
    return {"edges": edges, "has_next_page": has_next,
            "end_cursor": edges[-1]["cursor"] if edges else None, "total_count": total}


def clean_id(value: object) -> str | None:
    """An id that is not a plain string names nothing (and is never a query)."""
    return value if isinstance(value, str) and 0 < len(value) <= 100 else None


def clean_ids(values: object) -> list[str]:
    """The ids of a list that are plain strings, each once, in their order."""
    if not isinstance(values, (list, tuple)):
        return []
    return list(dict.fromkeys(v for v in (clean_id(x) for x in values) if v))
