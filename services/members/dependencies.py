"""Storage of the members service: its indexes and its queries."""
import re

from pymongo import ASCENDING, IndexModel

from services.common.store import MongoStore

INDEXES = {
    "members": [
        # name unique case-insensitively among non-REJECTED members
        IndexModel([("name_key", ASCENDING)], unique=True,
                   partialFilterExpression={"name_key": {"$type": "string"}}, name="name_unique"),
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("constituencies", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("countries", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("search_terms", ASCENDING), ("_id", ASCENDING)]),
    ],
}


def members_store():
    return MongoStore(indexes=INDEXES)


def list_query(filters):
    """Validated filters -> a Mongo query. Every value is data: the search is
    escaped and anchored, so it matches word prefixes and nothing else."""
    query = {}
    if filters.get("status"):
        query["status"] = filters["status"]
    if filters.get("constituency"):
        query["constituencies"] = filters["constituency"]
    if filters.get("country"):
        query["countries"] = filters["country"].upper()
    words = (filters.get("search") or "").casefold().split()
    if words:
        query["$and"] = [{"search_terms": {"$regex": "^" + re.escape(w)}} for w in words]
    return query
