"""Storage of the members service: its indexes and its queries.

`members` is sequenced (services/common/paging.py): each member has a unique
`seq`, taken from its instance's block of numbers (service.py, SEQ_BLOCK),
so in creation order within an instance, with gaps; pages are ranges of it.

`focal_unique` keeps one acting member (CANDIDATE, ACTIVE, SUSPENDED) per
focal-point address: only those have a `focal_key` (services/members/domain.py).
Members stored before it existed get theirs at start-up (backfill_focal_keys),
and those stored before visibility existed become PUBLIC (backfill_visibility).

`focal_point_reads` keeps who was given which members' focal points, and
when (DOMAIN.md section 11): `{_id, at, by, member_ids}`, never the focal
point itself nor an address. Records are never changed nor deleted (not even
by an erasure: they say who read, not what).

MEMBER_DATA declares what `member_data` exports about one member
(services/common/member_data.py)."""
import logging
import re
from datetime import datetime, timezone

from bson import Regex
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.common import paging
from services.common.member_data import Part
from services.common.store import MongoStore
from services.common.vocabulary import DEFAULT_VISIBILITY, MemberStatus
from services.members import domain

log = logging.getLogger(__name__)

NAME_INDEX = "name_unique"
FOCAL_INDEX = "focal_unique"

INDEXES = {
    "members": [
        # name unique case-insensitively among non-REJECTED members
        IndexModel([("name_key", ASCENDING)], unique=True,
                   partialFilterExpression={"name_key": {"$type": "string"}}, name=NAME_INDEX),
        # focal-point address unique case-insensitively among acting members
        IndexModel([("focal_key", ASCENDING)], unique=True,
                   partialFilterExpression={"focal_key": {"$type": "string"}}, name=FOCAL_INDEX),
        # how a sign-in finds the member (find_by_focal_point): the store reads
        # no partial index, so the lookup has its own
        IndexModel([("focal_key", ASCENDING), ("status", ASCENDING)], name="focal_point"),
        IndexModel([("search_terms", ASCENDING), ("_id", ASCENDING)]),
        paging.SEQ_INDEX,
        # a filtered page's seq window reads only the members that match
        IndexModel([("status", ASCENDING), ("seq", ASCENDING)]),
        IndexModel([("constituencies", ASCENDING), ("seq", ASCENDING)]),
        IndexModel([("countries", ASCENDING), ("seq", ASCENDING)]),
        # the public list (ANONYMOUS sees PUBLIC members only)
        IndexModel([("visibility", ASCENDING), ("seq", ASCENDING)]),
        # `coalition erasures list` (erased_ids), as a range of dates
        IndexModel([("erased_at", ASCENDING)], name="erased"),
        # who may vote now (voter_ids, read at every round's opening)
        IndexModel([("status", ASCENDING), ("mou_signed_at", ASCENDING)], name="voters"),
    ],
    # a member's reads, newest first (focal_point_reads_many)
    "focal_point_reads": [
        IndexModel([("member_ids", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)]),
    ],
}

# the most read records focal_point_reads_many answers per member (the newest)
MAX_READS_PER_MEMBER = 500

# every date, and only dates: a range, not `$ne: None` or `$type`, so that the
# store reads it from the `voters` index (it scans the collection for those)
_ANY_DATE = {"$gte": datetime(1, 1, 1, tzinfo=timezone.utc)}


def members_store():
    # at start-up, a `seq`, a `focal_key` and a visibility for members stored without one
    return MongoStore(indexes=INDEXES,
                      migrations=[lambda store: paging.backfill_seq(store, "members"),
                                  backfill_focal_keys, backfill_visibility])


def backfill_visibility(store):
    """Store DEFAULT_VISIBILITY (PUBLIC) on every member stored without a
    visibility, as it has always read (MemberView's default): no revision, no
    event, since nothing changes for anyone. One guarded update: idempotent,
    and safe with instances starting at once."""
    store.db.members.update_many({"visibility": {"$exists": False}},
                                 {"$set": {"visibility": str(DEFAULT_VISIBILITY)}})


def backfill_focal_keys(store):
    """Give each acting member stored without a `focal_key` its key, oldest
    first (so the oldest keeps an address two members share). A member whose
    address another acting member has already is skipped and logged by its id
    (never its address): an operator settles it, and the next start-up tries
    again. Each update is guarded by the key's absence and the unique index:
    idempotent, and safe with instances starting at once."""
    query = {"focal_key": {"$exists": False},
             "status": {"$in": sorted(domain.FOCAL_STATUSES)}}
    members = store.db.members
    for member in members.find(query, {"status": 1, "focal_point.email": 1}).sort("seq", 1):
        key = domain.focal_key_of(member)
        if key is None:
            continue
        try:
            members.update_one({"_id": member["_id"], "focal_key": {"$exists": False}},
                               {"$set": {"focal_key": key}})
        except DuplicateKeyError:
            log.warning("member %s: its focal point's address is already another acting "
                        "member's; it has no focal_key until an operator changes one of them",
                        member["_id"])


def duplicate_index(error):
    """The name of the unique index a DuplicateKeyError broke: NAME_INDEX,
    FOCAL_INDEX, or None for another (the server names the index in its
    message, and the key in `keyPattern`)."""
    details = error.details or {}
    pattern = details.get("keyPattern") or {}
    message = str(details.get("errmsg") or error)
    if "focal_key" in pattern or FOCAL_INDEX in message:
        return FOCAL_INDEX
    if "name_key" in pattern or NAME_INDEX in message:
        return NAME_INDEX
    return None


def focal_point_query(key):
    """The acting member whose focal_key is `key` (a text), one entry of the
    `focal_point` index."""
    return {"focal_key": key, "status": {"$in": sorted(domain.FOCAL_STATUSES)}}


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
    if filters.get("visibility"):
        query["visibility"] = filters["visibility"]
    words = (filters.get("search") or "").casefold().split()
    if words:
        query["search_terms"] = {"$all": [Regex("^" + re.escape(w)) for w in words]}
    return query


def voters_query():
    """The members whose `can_vote` is true (services/members/domain.py
    can_vote: ACTIVE with the MoU signed), as one range of the `voters` index."""
    return {"status": MemberStatus.ACTIVE, "mou_signed_at": _ANY_DATE}


def erased_query():
    """The members whose personal data was erased, as one range of the
    `erased` index (never `$ne: None`, which the store scans for)."""
    return {"erased_at": _ANY_DATE}


def reads_query(member_id):
    """The focal-point read records that name `member_id`."""
    return {"member_ids": member_id}


# What `member_data` exports (services/common/member_data.py): every field
# of a member's record that describes it, and the records of who read its
# focal point. Not exported: name_key, focal_key, search_terms and seq, which
# only copy or order the fields below; nor the other members a read record
# names, which are theirs.
MEMBER_DATA = [
    Part("members", lambda member_id: {"_id": member_id}, {
        "id": "The member's identifier in the coalition's system.",
        "name": "The organisation's name.",
        "acronym": "The organisation's acronym, if it gave one.",
        "org_type": "The kind of organisation it is.",
        "countries": "The countries it works in (ISO 3166-1 alpha-2 codes).",
        "region": "The region it works in, as it described it.",
        "constituencies": "The communities it represents.",
        "focal_point": "Its focal point's name, e-mail address and phone (null once erased).",
        "language": "The language of its e-mails and pages.",
        "visibility": "Who may learn it is a member: PUBLIC (anyone) or MEMBERS_ONLY.",
        "status": "Its membership status.",
        "mou_signed_at": "When it signed the Memorandum of Understanding.",
        "joined_at": "When it became an ACTIVE member.",
        "history": "Every change of its status, with the time and a note.",
        "created_at": "When it registered or applied.",
        "revision": "How many times its record changed, counting its creation.",
        "erased_at": "When its personal data was erased, if it was.",
        "erased_by": "Who erased its personal data (a secretariat person or the operator).",
    }),
    Part("focal_point_reads", reads_query, {
        "id": "The identifier of the read record.",
        "at": "When its focal point's details were given to someone other than itself.",
        "by": "Who was given them: a secretariat person's name or a token's subject.",
    }, sort=(("at", 1), ("_id", 1))),
]


def kept_answers_query(member_id):
    """The kit's kept answers (`requests`, services/common/store.py) of calls
    whose result is this member: a repeat of such a call would answer its
    focal point as it was. The kept result is the member's document (`_id`)
    or its view (`id`)."""
    return {"$or": [{"result._id": member_id}, {"result.id": member_id}]}
