"""Storage of the consultations service: indexes, the layout of a round's
eligible snapshot, counters and stances, its read model of voters, and the
reads and guarded writes the service makes.

A round's data lives beside the consultation document, never in it, so the
document stays small however many members vote:

- `eligibility`: one document per eligible member and round,
  `_id = "cid:round:member"`; the cast checks it with one `_id` lookup.
- `tally_shards`: the round's counters split over TALLY_SHARDS documents
  (`_id = "cid:round:k"`, a member always in the same k). Concurrent casts
  then rarely write the same document, so they rarely conflict. Closing a
  round marks every shard `closed` in the closing transaction: a cast racing
  the close conflicts with it and is retried into "closed", so no stance is
  counted after the close. The closed round's tally is kept in the
  consultation document (`tally`, and in `rounds`).

What the service holds about one member, for its export, is declared in
member_data.py (`MEMBER_DATA`, re-exported here); the `member_id` and
`cast_by` indexes of stances, their audit and eligibility serve it.
"""
import zlib

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.common import paging
from services.common.store import MongoStore
from services.common.vocabulary import LIVE_PROXY, ConsultationKind, ConsultationStatus
from services.consultations.domain import Tally
from services.consultations.member_data import MEMBER_DATA  # noqa: F401 (the service's parts)

TALLY_SHARDS = 32

# a member's stances, and (partial: only stances cast by proxy have one) those
# it cast as a proxy holder: member_data.py reads them by these
BY_CASTER = (IndexModel([("member_id", ASCENDING)]),
             IndexModel([("cast_by", ASCENDING)],
                        partialFilterExpression={"cast_by": {"$type": "string"}}))

INDEXES = {
    "consultations": [
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("kind", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("closes_at", ASCENDING)]),
        IndexModel([("subject_id", ASCENDING), ("_id", DESCENDING)]),
    ],
    "eligibility": [IndexModel([("consultation_id", ASCENDING), ("round", ASCENDING)]),
                    IndexModel([("member_id", ASCENDING)])],
    "tally_shards": [IndexModel([("consultation_id", ASCENDING), ("round", ASCENDING)])],
    # the current stance of each member in each round: _id "cid:round:member"
    "stances": [IndexModel([("consultation_id", ASCENDING), ("round", ASCENDING)]),
                *BY_CASTER],
    # every cast ever made, replaced ones included
    "stance_audit": [IndexModel([("consultation_id", ASCENDING), ("at", ASCENDING)]),
                     *BY_CASTER],
    # a read model of members (name, status, can_vote), fed by members' events
    # (never by reading their database); a round's snapshot is not taken from
    # it but from the members service's answer at opening (read-your-writes)
    "voters": [IndexModel([("can_vote", ASCENDING)])],
    # proxies (DOMAIN.md section 9; proxies.py): one document each, its
    # audit trail, and the slots that hold the per-round limits
    "proxies": [IndexModel([("consultation_id", ASCENDING), ("round", ASCENDING)]),
                IndexModel([("holder_id", ASCENDING), ("status", ASCENDING)]),
                IndexModel([("granter_id", ASCENDING), ("status", ASCENDING)])],
    "proxy_audit": [IndexModel([("consultation_id", ASCENDING), ("at", ASCENDING)])],
}


def consultations_store():
    return MongoStore(indexes=INDEXES, migrations=[migrate_embedded_rounds])


def round_key(consultation_id, round_number, part):
    """The `_id` of a round's stance, eligibility or shard document."""
    return f"{consultation_id}:{round_number}:{part}"


def shard_key(consultation_id, round_number, member_id):
    return round_key(consultation_id, round_number,
                     zlib.crc32(member_id.encode()) % TALLY_SHARDS)


def write_round(tx, consultation_id, round_number, eligible, closed=False, counters=None):
    """A round's eligibility documents and its counter shards. A new round's
    `eligible` is domain.snapshot of the members service's answer at opening
    (not of the `voters` read model, which lags); a migrated one may be
    `closed` and bring its `counters` (kept in the first shard)."""
    key = {"consultation_id": consultation_id, "round": round_number}
    if eligible:
        tx.db.eligibility.insert_many(
            [{"_id": round_key(consultation_id, round_number, m), **key, "member_id": m}
             for m in eligible], ordered=False, session=tx.session)
    shards = [{"_id": round_key(consultation_id, round_number, k), **key, "closed": closed}
              for k in range(TALLY_SHARDS)]
    shards[0].update(counters or {})
    tx.db.tally_shards.insert_many(shards, session=tx.session)


def consultations_by(db, field, values, projection=None):
    """The consultations whose `field` is one of `values` (ids: anything but
    plain strings names nothing), with only `projection`'s fields if given."""
    values = paging.clean_ids(values)
    return list(db.consultations.find({field: {"$in": values}}, projection)) if values else []


def current_rounds(db, consultation_ids):
    """{consultation id: its current round number} of those that exist."""
    ids = paging.clean_ids(consultation_ids)
    return {d["_id"]: d["round"]
            for d in db.consultations.find({"_id": {"$in": ids}}, {"round": 1})}


def of_rounds(collection, rounds, sort=None):
    """The documents of a round's `collection` (shards, stances) that belong
    to `rounds` ({consultation id: round number}), in `sort` order if given.
    `$in` on one indexed field, the rounds filtered here: the store answers
    an `$or` of (consultation, round) pairs by scanning the collection."""
    if not rounds:
        return []
    cursor = collection.find({"consultation_id": {"$in": list(rounds)}})
    if sort is not None:
        cursor = cursor.sort(sort, ASCENDING)
    return [d for d in cursor if d["round"] == rounds[d["consultation_id"]]]


def update_unchanged(tx, consultation, update):
    """Apply `update` to the consultation if it still has the status and round
    it was read with in `tx`; whether it did (a guarded write: the check and
    the change are one operation)."""
    changed = tx.db.consultations.update_one(
        {"_id": consultation["_id"], "status": consultation["status"],
         "round": consultation["round"]}, update, session=tx.session)
    return changed.modified_count == 1


def suspension_open_about(tx, member_id):
    """Whether a suspension consultation about this member is OPEN."""
    return tx.db.consultations.find_one(
        {"kind": ConsultationKind.MEMBER_SUSPENSION, "status": ConsultationStatus.OPEN,
         "subject_id": member_id}, {"_id": 1}, session=tx.session) is not None


def is_eligible(tx, consultation_id, round_number, member_id):
    return tx.db.eligibility.find_one({"_id": round_key(consultation_id, round_number, member_id)},
                                      {"_id": 1}, session=tx.session) is not None


def touch_shard(tx, consultation_id, round_number, member_id):
    """Write the member's counter shard (a counter no tally reads); False if
    the round is closed. A proxy offered by the member then collides in the
    store with the member's own cast (which writes the same shard) and with
    the close (which writes every shard), instead of both passing checks
    made on what each read."""
    changed = tx.db.tally_shards.update_one(
        {"_id": shard_key(consultation_id, round_number, member_id), "closed": False},
        {"$inc": {"proxy_offers": 1}}, session=tx.session)
    return changed.matched_count == 1


def count_stance(tx, consultation_id, round_number, member_id, inc):
    """Apply a stance's change to its shard; False if the round is closed."""
    changed = tx.db.tally_shards.update_one(
        {"_id": shard_key(consultation_id, round_number, member_id), "closed": False},
        {"$inc": inc} if inc else {"$set": {"closed": False}}, session=tx.session)
    return changed.matched_count == 1


def current_stance(tx, stance_id):
    return tx.db.stances.find_one({"_id": stance_id}, session=tx.session)


def keep_stance(tx, stance, previous):
    """Save a member's current stance in place of `previous` (its stance
    before, or None) and add the cast to the audit trail, which keeps every
    cast, replaced ones included."""
    if previous is None:
        tx.db.stances.insert_one(stance, session=tx.session)
    else:
        tx.db.stances.replace_one({"_id": stance["_id"]}, stance, session=tx.session)
    tx.db.stance_audit.insert_one({**stance, "_id": paging.new_id(), "at": stance["cast_at"],
                                   "replaces": previous and previous["value"]},
                                  session=tx.session)


def close_counters(tx, doc):
    """The round's final tally, its shards marked closed (in the closing transaction)."""
    where = {"consultation_id": doc["_id"], "round": doc["round"]}
    tally = Tally.from_counters(doc["tally"]["eligible"],
                                list(tx.db.tally_shards.find(where, session=tx.session)))
    tx.db.tally_shards.update_many(where, {"$set": {"closed": True}}, session=tx.session)
    return tally


def tallies(db, docs):
    """{consultation id: Tally} for these documents: OPEN rounds summed from
    their shards in one query, the others as they were closed."""
    result = {d["_id"]: Tally.from_doc(d["tally"]) for d in docs}
    open_rounds = {d["_id"]: d["round"] for d in docs if d["status"] == ConsultationStatus.OPEN}
    shards = {}
    for s in of_rounds(db.tally_shards, open_rounds):
        shards.setdefault(s["consultation_id"], []).append(s)
    for consultation_id in open_rounds:
        result[consultation_id] = Tally.from_counters(result[consultation_id].eligible,
                                                      shards.get(consultation_id, []))
    return result


def eligible_of(db, consultation_id, round_number):
    """Ids of the members in that round's snapshot, sorted ([] for a round
    that does not exist): one range of the eligibility index."""
    return sorted(e["member_id"] for e in db.eligibility.find(
        {"consultation_id": consultation_id, "round": round_number}, {"member_id": 1}))


def eligible_many(db, docs):
    """{consultation id: ids of its current round's eligible members}."""
    return {d["_id"]: eligible_of(db, d["_id"], d["round"]) for d in docs}


# ---- proxies ------------------------------------------------------------------------
#
# `proxy_slots` hold the two per-round limits as documents that concurrent
# changes write, so two of them conflict in the store instead of both passing
# a check made on what each read:
# - "cid:round:granter:<member>": the granter's one live proxy (inserted when
#   offered, deleted when it is declined, revoked or expires);
# - "cid:round:holder:<member>": {held: n}, the proxies the holder holds.

def granter_slot(consultation_id, round_number, member_id):
    return round_key(consultation_id, round_number, f"granter:{member_id}")


def holder_slot(consultation_id, round_number, member_id):
    return round_key(consultation_id, round_number, f"holder:{member_id}")


def eligible_among(tx, consultation_id, round_number, member_ids):
    """Which of `member_ids` are in the round's snapshot (one query)."""
    keys = [round_key(consultation_id, round_number, m) for m in member_ids]
    return {d["member_id"] for d in tx.db.eligibility.find(
        {"_id": {"$in": keys}}, {"member_id": 1}, session=tx.session)}


def live_proxy_of(tx, consultation_id, round_number, granter_id):
    """The granter's live proxy in the round (from its slot), or None."""
    slot = tx.db.proxy_slots.find_one({"_id": granter_slot(consultation_id, round_number,
                                                           granter_id)}, session=tx.session)
    return slot and tx.db.proxies.find_one({"_id": slot["proxy_id"]}, session=tx.session)


def take_granter_slot(tx, proxy):
    tx.db.proxy_slots.insert_one({"_id": granter_slot(proxy["consultation_id"], proxy["round"],
                                                      proxy["granter_id"]),
                                  "proxy_id": proxy["_id"]}, session=tx.session)


def free_granter_slot(tx, proxy):
    tx.db.proxy_slots.delete_one({"_id": granter_slot(proxy["consultation_id"], proxy["round"],
                                                      proxy["granter_id"]),
                                  "proxy_id": proxy["_id"]}, session=tx.session)


def count_held(tx, proxy, by):
    """Add `by` to the proxies its holder holds in the round; the new count."""
    key = holder_slot(proxy["consultation_id"], proxy["round"], proxy["holder_id"])
    tx.db.proxy_slots.update_one({"_id": key}, {"$inc": {"held": by}}, upsert=True,
                                 session=tx.session)
    return tx.db.proxy_slots.find_one({"_id": key}, session=tx.session)["held"]


def set_proxy_status(tx, proxy, changes, audit):
    """Change the proxy if it still has the status it was read with, and keep
    the change in the audit trail; whether it did."""
    changed = tx.db.proxies.update_one({"_id": proxy["_id"], "status": proxy["status"]},
                                       {"$set": changes}, session=tx.session)
    if changed.modified_count != 1:
        return False
    tx.db.proxy_audit.insert_one(audit, session=tx.session)
    return True


def proxies_of_granter(tx, consultation_id, round_number, granter_id):
    return list(tx.db.proxies.find({"consultation_id": consultation_id, "round": round_number,
                                    "granter_id": granter_id}, session=tx.session))


def held_proxy(tx, consultation_id, round_number, granter_id, holder_id):
    """The newest proxy from granter to holder in the round, or None."""
    found = list(tx.db.proxies.find(
        {"consultation_id": consultation_id, "round": round_number, "granter_id": granter_id,
         "holder_id": holder_id}, session=tx.session).sort("offered_at", DESCENDING).limit(1))
    return found[0] if found else None


def live_proxies_of_member(db, member_id):
    """The proxies the member gives or holds that are OFFERED or ACCEPTED,
    oldest first: two ranges of the (holder_id|granter_id, status) indexes. A
    round's close expires its live ones, so these are all of open rounds."""
    live = {"$in": list(LIVE_PROXY)}
    found = {p["_id"]: p for field in ("holder_id", "granter_id")
             for p in db.proxies.find({field: member_id, "status": live})}
    return sorted(found.values(), key=lambda p: p["offered_at"])


def live_proxies_of_round(tx, doc):
    return list(tx.db.proxies.find({"consultation_id": doc["_id"], "round": doc["round"],
                                    "status": {"$in": list(LIVE_PROXY)}}, session=tx.session))


def migrate_embedded_rounds(store):
    """Consultations stored before a round moved out of its document (an
    `eligible` array, the counters in `tally`) get their eligibility and
    counter documents, one consultation per transaction. Idempotent; two
    instances starting at once collide on the same documents and the loser
    finds the work done."""
    def migrate_one(tx):
        doc = tx.db.consultations.find_one({"eligible": {"$exists": True}}, session=tx.session)
        if doc is None:
            return False
        write_round(tx, doc["_id"], doc["round"], doc["eligible"],
                    closed=doc["status"] != ConsultationStatus.OPEN,
                    counters=Tally.from_doc(doc["tally"]).counters())
        tx.db.consultations.update_one({"_id": doc["_id"]}, {"$unset": {"eligible": ""}},
                                       session=tx.session)
        return True

    while True:
        try:
            if not store.transaction(migrate_one):
                return
        except DuplicateKeyError:
            continue  # another instance migrated this one first
