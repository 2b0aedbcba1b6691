"""Storage of the members service: its indexes and its queries.

`members` is sequenced (services/common/paging.py): each member has a `seq`,
1, 2, 3, ... in creation order, and pages are ranges of it."""
import re
from datetime import datetime, timezone

from bson import Regex
from pymongo import ASCENDING, IndexModel

from services.common import paging
from services.common.store import MongoStore
from services.common.vocabulary import MemberStatus

INDEXES = {
    "members": [
        # name unique case-insensitively among non-REJECTED members
        IndexModel([("name_key", ASCENDING)], unique=True,
                   partialFilterExpression={"name_key": {"$type": "string"}}, name="name_unique"),
        IndexModel([("search_terms", ASCENDING), ("_id", ASCENDING)]),
        paging.SEQ_INDEX,
        # a filtered page's seq window reads only the members that match
        IndexModel([("status", ASCENDING), ("seq", ASCENDING)]),
        IndexModel([("constituencies", ASCENDING), ("seq", ASCENDING)]),
        IndexModel([("countries", ASCENDING), ("seq", ASCENDING)]),
        # who may vote now (voter_ids, read at every round's opening)
        IndexModel([("status", ASCENDING), ("mou_signed_at", ASCENDING)], name="voters"),
    ],
}

# every date, and only dates: a range, not `$ne: None` or `$type`, so that the
# store reads it from the `voters` index (it scans the collection for those)
_ANY_DATE = {"$gte": datetime(1, 1, 1, tzinfo=timezone.utc)}


def members_store():
    # at start-up, a `seq` for members stored without one
    return MongoStore(indexes=INDEXES,
                      migrations=[lambda store: paging.backfill_seq(store, "members")])


def list_query(filters):
    """Validated filters -> a Mongo query. Every value is data: the search is
    escaped and anchored, so it matches word prefixes and nothing else. No
    top-level operator: the store would then scan instead of reading the
    page's seq range from its index."""
    query = {}
    if filters.get("status"):
        query["status"] = filters["status"]
    if filters.get("constituency"):
        query["constituencies"] = filters["constituency"]
    if filters.get("country"):
        query["countries"] = filters["country"].upper()
    words = (filters.get("search") or "").casefold().split()
    if words:
        query["search_terms"] = {"$all": [Regex("^" + re.escape(w)) for w in words]}
    return query


def voters_query():
    """The members whose `can_vote` is true (services/members/domain.py
    can_vote: ACTIVE with the MoU signed), as one range of the `voters` index."""
    return {"status": MemberStatus.ACTIVE, "mou_signed_at": _ANY_DATE}
