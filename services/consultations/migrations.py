"""Start-up migrations of the consultations store (the kit's MongoStore runs
them, in this order, before the service takes calls).

Each is idempotent and moves one round per transaction: an interrupted start
resumes where it stopped, and two instances starting at once write the same
documents, so one of them conflicts, is retried and finds the work done.

1. `migrate_embedded_rounds`: a round kept inside its consultation document
   (an `eligible` array, the counters in `tally`) gets its shards.
2. `migrate_round_layout` (issue 21): a round's snapshot kept as one
   `eligibility` document per member moves into its shards (`eligible`, with
   the round's `closes_at` and `proxy_granters`), and the `stance_audit`
   collection into each stance's `history`; the emptied collections are
   dropped. Instances of the version before must be stopped first (they
   would still write the old collections): docs/operator-guide.md says to
   scale the consultations deployment to zero before this upgrade.
"""
from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from services.common.vocabulary import ConsultationStatus
from services.consultations import dependencies
from services.consultations.domain import Tally

OLD_COLLECTIONS = ("eligibility", "stance_audit")


def run_each(store, migrate_one):
    """Run `migrate_one(tx)` in transactions until it finds nothing left."""
    while True:
        try:
            if not store.transaction(migrate_one):
                return
        except DuplicateKeyError:
            continue  # another instance migrated this one first


def migrate_embedded_rounds(store):
    def migrate_one(tx):
        doc = tx.db.consultations.find_one({"eligible": {"$exists": True}}, session=tx.session)
        if doc is None:
            return False
        dependencies.write_round(tx, doc["_id"], doc["round"], doc["eligible"], doc["closes_at"],
                                 closed=doc["status"] != ConsultationStatus.OPEN,
                                 counters=Tally.from_doc(doc["tally"]).counters())
        tx.db.consultations.update_one({"_id": doc["_id"]}, {"$unset": {"eligible": ""}},
                                       session=tx.session)
        return True
    run_each(store, migrate_one)


def snapshot_into_shards(tx):
    """One round whose shards lack `eligible`: its snapshot, deadline and
    proxy granters written into them, its eligibility documents deleted."""
    shard = tx.db.tally_shards.find_one({"eligible": {"$exists": False}},
                                        {"consultation_id": 1, "round": 1}, session=tx.session)
    if shard is None:
        return False
    where = {"consultation_id": shard["consultation_id"], "round": shard["round"]}
    members = [e["member_id"] for e in tx.db.eligibility.find(where, {"member_id": 1},
                                                              session=tx.session)]
    doc = tx.db.consultations.find_one({"_id": shard["consultation_id"]},
                                       {"round": 1, "closes_at": 1, "status": 1},
                                       session=tx.session) or {}
    granters = {p["granter_id"] for p in tx.db.proxies.find(where, {"granter_id": 1},
                                                            session=tx.session)}
    current = doc.get("round") == shard["round"] and doc.get("status") == ConsultationStatus.OPEN
    closes_at = doc.get("closes_at") if doc.get("round") == shard["round"] else None
    tx.db.tally_shards.bulk_write([UpdateOne({"_id": new["_id"]}, {"$set": {
        "eligible": new["eligible"], "closes_at": closes_at, "proxy_granters": sorted(
            g for g in granters if dependencies.shard_key(
                shard["consultation_id"], shard["round"], g) == new["_id"])},
        "$setOnInsert": {**where, "closed": not current}}, upsert=True)  # a shard lost
        for new in dependencies.round_shards(shard["consultation_id"], shard["round"], members,
                                             closes_at)], session=tx.session)
    tx.db.eligibility.delete_many(where, session=tx.session)
    return True


def audit_into_history(tx):
    """One round whose stances lack `history`: each gets its casts from the
    `stance_audit` collection, oldest first (a stance without any, its own
    cast), and the round's audit documents are deleted."""
    stance = tx.db.stances.find_one({"history": {"$exists": False}},
                                    {"consultation_id": 1, "round": 1}, session=tx.session)
    if stance is None:
        return False
    where = {"consultation_id": stance["consultation_id"], "round": stance["round"]}
    casts = {}
    for a in tx.db.stance_audit.find(where, session=tx.session).sort([("at", 1), ("_id", 1)]):
        casts.setdefault(a["member_id"], []).append(
            {"value": a["value"], "reason": a.get("reason"), "at": a["at"],
             "cast_by": a.get("cast_by")})
    updates = [UpdateOne({"_id": s["_id"]}, {"$set": {"history": casts.get(s["member_id"]) or [
        dependencies.history_entry({"cast_by": None, "reason": None, **s})]}})
        for s in tx.db.stances.find({**where, "history": {"$exists": False}}, session=tx.session)]
    tx.db.stances.bulk_write(updates, session=tx.session)  # one round trip, not one per stance
    tx.db.stance_audit.delete_many(where, session=tx.session)
    return True


def migrate_round_layout(store):
    run_each(store, snapshot_into_shards)
    run_each(store, audit_into_history)
    for name in OLD_COLLECTIONS:
        if store.db[name].find_one({}, {"_id": 1}) is None:
            store.db.drop_collection(name)


MIGRATIONS = [migrate_embedded_rounds, migrate_round_layout]
