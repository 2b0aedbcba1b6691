"""Storage of the consultations service: indexes and its read model of voters."""
from pymongo import ASCENDING, DESCENDING, IndexModel

from services.common.store import MongoStore

INDEXES = {
    "consultations": [
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("kind", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("closes_at", ASCENDING)]),
        IndexModel([("subject_id", ASCENDING), ("_id", DESCENDING)]),
    ],
    # the current stance of each member in each round: _id "cid:round:member"
    "stances": [IndexModel([("consultation_id", ASCENDING), ("round", ASCENDING)])],
    # every cast ever made, replaced ones included
    "stance_audit": [IndexModel([("consultation_id", ASCENDING), ("at", ASCENDING)])],
    # who may vote, fed by members' events (never by reading their database)
    "voters": [IndexModel([("can_vote", ASCENDING)])],
}

# consultation documents without the (possibly 10,000-long) eligible snapshot
VIEW_PROJECTION = {"eligible": 0}


def consultations_store():
    return MongoStore(indexes=INDEXES)


def stance_id(consultation_id, round_number, member_id):
    return f"{consultation_id}:{round_number}:{member_id}"


def eligible_snapshot(db, session, excluded_member_id):
    """Ids of the members that may vote now, minus the subject of the case."""
    query = {"can_vote": True}
    if excluded_member_id:
        query["_id"] = {"$ne": excluded_member_id}
    return [d["_id"] for d in db.voters.find(query, {"_id": 1}, session=session).sort("_id", 1)]
