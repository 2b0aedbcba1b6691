"""Storage of the consultations service: indexes, the layout of a round's
eligible snapshot, counters and stances, its read model of voters, and the
reads and guarded writes the service makes.

A round's data lives beside the consultation document, never in it, so the
document stays small however many members vote:

- `tally_shards`: the round's TALLY_SHARDS documents (`_id = "cid:round:k"`,
  a member always in the same k = crc32 % TALLY_SHARDS). Each holds its part
  of the round's snapshot (`eligible`: the members of the snapshot in that
  shard), the round's deadline (`closes_at`), whether it is `closed`, its
  part of the counters, and `proxy_granters` (its members that offered a
  proxy in the round). Opening a round writes these TALLY_SHARDS documents,
  however many members it has. Concurrent casts rarely write the same shard,
  so they rarely conflict. Closing a round marks every shard `closed` in the
  closing transaction: a cast racing the close conflicts with it and is
  retried into "closed", so no stance is counted after the close. The closed
  round's tally is kept in the consultation document (`tally`, and in
  `rounds`).
- `stances`: one document per member and round (`_id = "cid:round:member"`):
  the current stance, and in `history` every cast of the round, oldest first
  (the audit trail: `replaces` is the value of the entry before).

A member's first cast in a round is then four store round trips (the
stance's insert, `count_stance`, the outbox, the commit): the shard's
filter checks eligibility, the round's status and its deadline in the
write that counts the stance (casting.py). No find-and-modify: this store
answers it by reading the whole collection.

What the service holds about one member, for its export, is declared in
member_data.py (`MEMBER_DATA`, re-exported here); the `member_id`,
`history.cast_by` and `eligible` indexes serve it.
"""
import zlib

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.common import paging
from services.common.vocabulary import LIVE_PROXY, ConsultationKind, ConsultationStatus
from services.consultations.domain import Tally
from services.consultations.member_data import MEMBER_DATA  # noqa: F401 (the service's parts)

TALLY_SHARDS = 32

# a member's stances, and (partial: only stances cast by proxy have one) those
# it cast as a proxy holder, now or in their history: member_data.py reads them by these
BY_CASTER = (IndexModel([("member_id", ASCENDING)]),
             IndexModel([("cast_by", ASCENDING)],
                        partialFilterExpression={"cast_by": {"$type": "string"}}),
             IndexModel([("history.cast_by", ASCENDING)],
                        partialFilterExpression={"history.cast_by": {"$type": "string"}}))
# the named calls that made a stance's casts (`calls`, strings only, so no
# document indexes a null), each once in the whole collection (casting.py)
CALL_ONCE = IndexModel([("calls", ASCENDING)], unique=True, name="call_once",
                       partialFilterExpression={"calls": {"$type": "string"}})
# a stance without its history: what every reader but the audit wants
CURRENT = {"history": 0}
# a shard without its members: what the tallies read
COUNTERS = {"eligible": 0, "proxy_granters": 0}

INDEXES = {
    "consultations": [
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("kind", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("closes_at", ASCENDING)]),
        IndexModel([("subject_id", ASCENDING), ("_id", DESCENDING)]),
    ],
    # a round's counters and snapshot; `eligible` (multikey) finds a member's rounds
    "tally_shards": [IndexModel([("consultation_id", ASCENDING), ("round", ASCENDING)]),
                     IndexModel([("eligible", ASCENDING)])],
    # the current stance of each member in each round, with its history:
    # _id "cid:round:member"
    "stances": [IndexModel([("consultation_id", ASCENDING), ("round", ASCENDING)]),
                *BY_CASTER, CALL_ONCE],
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


def round_key(consultation_id, round_number, part):
    """The `_id` of a round's stance, eligibility or shard document."""
    return f"{consultation_id}:{round_number}:{part}"


def shard_of(member_id):
    """The number of the member's shard in every round."""
    return zlib.crc32(member_id.encode()) % TALLY_SHARDS


def shard_key(consultation_id, round_number, member_id):
    return round_key(consultation_id, round_number, shard_of(member_id))


def round_shards(consultation_id, round_number, eligible, closes_at, closed=False,
                 counters=None):
    """The TALLY_SHARDS documents of a round whose snapshot is `eligible`,
    each with its members of it (sorted), the deadline, and the counters
    (`counters`, of a migrated round, kept in the first shard)."""
    members = [[] for _ in range(TALLY_SHARDS)]
    for member_id in sorted(eligible):
        members[shard_of(member_id)].append(member_id)
    shards = [{"_id": round_key(consultation_id, round_number, k),
               "consultation_id": consultation_id, "round": round_number, "closed": closed,
               "closes_at": closes_at, "eligible": members[k], "proxy_granters": []}
              for k in range(TALLY_SHARDS)]
    shards[0].update(counters or {})
    return shards


def write_round(tx, consultation_id, round_number, eligible, closes_at, closed=False,
                counters=None):
    """A round's shards: one write of TALLY_SHARDS documents. A new round's
    `eligible` is domain.snapshot of the members service's answer at opening
    (not of the `voters` read model, which lags); a migrated one may be
    `closed` and bring its `counters`."""
    tx.db.tally_shards.insert_many(round_shards(consultation_id, round_number, eligible,
                                                closes_at, closed, counters), session=tx.session)


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


def of_rounds(collection, rounds, sort=None, projection=None):
    """The documents of a round's `collection` (shards, stances) that belong
    to `rounds` ({consultation id: round number}), in `sort` order if given,
    with `projection`'s fields. `$in` on one indexed field, the rounds
    filtered here: the store answers an `$or` of (consultation, round) pairs
    by scanning the collection."""
    if not rounds:
        return []
    cursor = collection.find({"consultation_id": {"$in": list(rounds)}}, projection)
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
    """Whether the member is in the round's snapshot (one `_id` lookup)."""
    return tx.db.tally_shards.find_one(
        {"_id": shard_key(consultation_id, round_number, member_id), "eligible": member_id},
        {"_id": 1}, session=tx.session) is not None


def touch_shard(tx, consultation_id, round_number, member_id):
    """Write the member's counter shard (a counter no tally reads) and name
    it among the shard's `proxy_granters`; False if the round is closed. A
    proxy offered by the member then collides in the store with the
    member's own cast (which writes the same shard) and with the close
    (which writes every shard), instead of both passing checks made on what
    each read; and the member's next own cast knows to end its proxies."""
    changed = tx.db.tally_shards.update_one(
        {"_id": shard_key(consultation_id, round_number, member_id), "closed": False},
        {"$inc": {"proxy_offers": 1}, "$addToSet": {"proxy_granters": member_id}},
        session=tx.session)
    return changed.matched_count == 1


def count_stance(tx, stance, inc, quick_at=None):
    """Apply a stance's change to its member's shard if the member is in the
    round's snapshot and the round is open; whether it did. The check and
    the count are one write. With `quick_at` (the cast's moment; the quick
    path) the deadline must not have passed then either, and the member
    must not have offered a proxy in the round (its cast then has proxies
    to end: the careful path's work)."""
    where = {"_id": shard_key(stance["consultation_id"], stance["round"], stance["member_id"]),
             "closed": False, "eligible": stance["member_id"]}
    if quick_at is not None:
        where.update(closes_at={"$gt": quick_at}, proxy_granters={"$ne": stance["member_id"]})
    # `casts` always changes, so the write is a write (one that changed
    # nothing would not conflict with a concurrent close)
    changed = tx.db.tally_shards.update_one(where, {"$inc": {**inc, "casts": 1}},
                                            session=tx.session)
    return changed.matched_count == 1


def current_stance(tx, stance_id):
    return tx.db.stances.find_one({"_id": stance_id}, CURRENT, session=tx.session)


def history_entry(stance, request=None):
    """A cast as its stance's `history` keeps it, with the name of the call
    that made it (`request`) if it had one."""
    entry = {"value": stance["value"], "reason": stance["reason"], "at": stance["cast_at"],
             "cast_by": stance["cast_by"]}
    return entry if request is None else {**entry, "request": request}


def stance_document(stance, request=None):
    """A stance as first stored: its one cast in its history (and the name
    of its call in `calls`, if it had one)."""
    doc = {**stance, "history": [history_entry(stance, request)]}
    return doc if request is None else {**doc, "calls": [request]}


def first_stance(tx, stance, request=None):
    """Insert the member's first stance of the round, its cast the first of
    its history. DuplicateKeyError if the member has one (or, see
    CALL_ONCE, if the call `request` was recorded already)."""
    tx.db.stances.insert_one(stance_document(stance, request), session=tx.session)


def record_stance(tx, stance, previous, request=None):
    """Make `stance` the member's current one in place of `previous` (its
    stance before, read in `tx`, or None) and add the cast to its history,
    which keeps every cast, replaced ones included. DuplicateKeyError if
    the call `request` was recorded already (in this stance's `calls`: the
    upsert then inserts a second `_id`; in another's: CALL_ONCE)."""
    if previous is None:
        return first_stance(tx, stance, request)
    current = {k: v for k, v in stance.items() if k != "_id"}
    where, push = {"_id": stance["_id"]}, {"history": history_entry(stance, request)}
    if request is not None:
        where["calls"] = {"$ne": request}
        push["calls"] = request
    tx.db.stances.update_one(where, {"$set": current, "$push": push}, upsert=True,
                             session=tx.session)


def kept_cast(db, request):
    """The stance as the cast named `request` recorded it, or None (also
    from the kit's `requests`, where a cast before issue 21 kept it)."""
    if request is None:
        return None
    doc = db.stances.find_one({"calls": request})
    if doc is None:
        kept = db.requests.find_one({"_id": request})
        return kept and kept["result"]
    entry = next(e for e in doc["history"] if e.get("request") == request)
    return {"_id": doc["_id"], "consultation_id": doc["consultation_id"], "round": doc["round"],
            "member_id": doc["member_id"], "value": entry["value"], "reason": entry["reason"],
            "cast_at": entry["at"], "cast_by": entry["cast_by"]}


def close_counters(tx, doc):
    """The round's final tally, its shards marked closed (in the closing transaction)."""
    where = {"consultation_id": doc["_id"], "round": doc["round"]}
    tally = Tally.from_counters(doc["tally"]["eligible"], list(
        tx.db.tally_shards.find(where, COUNTERS, session=tx.session)))
    tx.db.tally_shards.update_many(where, {"$set": {"closed": True}}, session=tx.session)
    return tally


def tallies(db, docs):
    """{consultation id: Tally} for these documents: OPEN rounds summed from
    their shards in one query, the others as they were closed."""
    result = {d["_id"]: Tally.from_doc(d["tally"]) for d in docs}
    open_rounds = {d["_id"]: d["round"] for d in docs if d["status"] == ConsultationStatus.OPEN}
    shards = {}
    for s in of_rounds(db.tally_shards, open_rounds, projection=COUNTERS):
        shards.setdefault(s["consultation_id"], []).append(s)
    for consultation_id in open_rounds:
        result[consultation_id] = Tally.from_counters(result[consultation_id].eligible,
                                                      shards.get(consultation_id, []))
    return result


def eligible_of(db, consultation_id, round_number):
    """Ids of the members in that round's snapshot, sorted ([] for a round
    that does not exist): its TALLY_SHARDS shards."""
    return sorted(m for shard in db.tally_shards.find(
        {"consultation_id": consultation_id, "round": round_number}, {"eligible": 1})
        for m in shard.get("eligible", []))


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
    keys = sorted({shard_key(consultation_id, round_number, m) for m in member_ids})
    return {m for d in tx.db.tally_shards.find({"_id": {"$in": keys}}, {"eligible": 1},
                                               session=tx.session)
            for m in d.get("eligible", []) if m in member_ids}


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
