"""Keyset pagination with opaque cursors, shared by every list RPC.

Documents are ordered by `_id` (ObjectId strings: creation order), so a page
is `_id > cursor` in an index: no duplicates or gaps while others insert,
and no cost that grows with the page number.
"""
import base64
import binascii

from bson import ObjectId

from services.common.errors import BadUserInput


def new_id():
    return str(ObjectId())


def encode_cursor(doc_id):
    return base64.urlsafe_b64encode(f"k1:{doc_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor):
    if cursor is None:
        return None
    try:
        if not isinstance(cursor, str):
            raise ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, doc_id = raw.partition(":")
        if prefix != "k1" or not ObjectId.is_valid(doc_id):
            raise ValueError
        return doc_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput("The cursor is not valid.", {"after": ["Not a cursor from this API."]})


def check_first(first, maximum):
    if not isinstance(first, int) or isinstance(first, bool) or first < 0 or first > maximum:
        raise BadUserInput(f"first must be between 0 and {maximum}.",
                           {"first": [f"Must be between 0 and {maximum}."]})


def page(collection, query, first, after, view, maximum=200, projection=None):
    """One page: {edges: [{cursor, node}], has_next_page, end_cursor, total_count}."""
    check_first(first, maximum)
    after_id = decode_cursor(after)
    total = collection.count_documents(query)
    page_query = dict(query)
    if after_id is not None:
        page_query["_id"] = {"$gt": after_id}
    docs = list(collection.find(page_query, projection).sort("_id", 1).limit(first + 1))
    has_next = len(docs) > first
    docs = docs[:first]
    edges = [{"cursor": encode_cursor(d["_id"]), "node": view(d)} for d in docs]
    return {"edges": edges, "has_next_page": has_next,
            "end_cursor": edges[-1]["cursor"] if edges else None, "total_count": total}


def clean_id(value):
    """An id that is not a plain string names nothing (and is never a query)."""
    return value if isinstance(value, str) and 0 < len(value) <= 100 else None


def clean_ids(values):
    if not isinstance(values, (list, tuple)):
        return []
    return list(dict.fromkeys(v for v in (clean_id(x) for x in values) if v))
