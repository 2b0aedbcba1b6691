"""The consultations store's start-up migrations (services/consultations/
migrations.py) on data written in each older layout: what a round held is
kept, the service works on it as on new data, and a second run changes
nothing."""
from services.common.store import Store
from services.consultations import migrations
from tests.helpers.consultations import GET, cast, close, open_consultation
from tests.helpers.proxies import GRANT, ok
from tests.support import founders, isolate_voters


def vote(stack, cid, members, values):
    for member_id, value in zip(members, values):
        body = cast(stack, cid, member_id, value, "a reason" if value == "BLOCK" else None)
        assert not body.get("errors"), body


def store_of(stack, db):
    return Store(stack.mongo(), db, "consultations", {})


def test_consultations_stored_in_the_embedded_layout_are_migrated(stack):
    """Before the round moved out of the document it carried an `eligible`
    array and its counters; the service's start-up migration moves them."""
    isolate_voters(stack)
    five = [m["id"] for m in founders(stack, 5)]
    c = open_consultation(stack)
    vote(stack, c["id"], five[:1], ["BLOCK"])
    db = stack.db("consultations")
    # back to the old layout: snapshot and counters inside the document
    db.tally_shards.delete_many({"consultation_id": c["id"]})
    db.consultations.update_one({"_id": c["id"]}, {"$set": {
        "eligible": sorted(five), "tally.responded": 1, "tally.block": 1}})
    assert cast(stack, c["id"], five[1])["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    migrations.migrate_embedded_rounds(store_of(stack, db))
    migrations.migrate_embedded_rounds(store_of(stack, db))  # idempotent
    assert "eligible" not in db.consultations.find_one({"_id": c["id"]})
    vote(stack, c["id"], five[1:3], ["AGREE", "AGREE"])
    tally = stack.gql(GET, {"id": c["id"]})["consultation"]["tally"]
    assert (tally["responded"], tally["agree"], tally["block"]) == (3, 2, 1)
    assert close(stack, c["id"])["outcome"] == "BLOCKED"


def back_to_one_document_per_member(db, cid):
    """The layout before issue 21: an `eligibility` document per member, a
    `stance_audit` document per cast, shards without snapshot or deadline."""
    for shard in db.tally_shards.find({"consultation_id": cid}):
        for m in shard["eligible"]:
            db.eligibility.insert_one({"_id": f"{cid}:{shard['round']}:{m}",
                                       "consultation_id": cid, "round": shard["round"],
                                       "member_id": m})
        db.tally_shards.update_one({"_id": shard["_id"]}, {"$unset": {
            "eligible": "", "closes_at": "", "proxy_granters": ""}})
    for stance in db.stances.find({"consultation_id": cid}):
        before = None
        for i, entry in enumerate(stance["history"]):
            db.stance_audit.insert_one({
                "_id": f"{stance['_id']}:{i}", "consultation_id": cid, "round": stance["round"],
                "member_id": stance["member_id"], "value": entry["value"],
                "reason": entry["reason"], "cast_at": entry["at"], "at": entry["at"],
                "cast_by": entry["cast_by"], "replaces": before})
            before = entry["value"]
        db.stances.update_one({"_id": stance["_id"]}, {"$unset": {"history": "", "calls": ""}})


def test_a_snapshot_and_audit_of_one_document_each_move_into_shards_and_histories(stack):
    isolate_voters(stack)
    five = [m["id"] for m in founders(stack, 5)]
    c = open_consultation(stack)
    vote(stack, c["id"], five[:2], ["AGREE", "RESERVATIONS"])
    vote(stack, c["id"], five[:1], ["BLOCK"])  # a replaced stance
    ok(stack.post(GRANT, {"c": c["id"], "h": five[3]}, stack.member_token(five[2])).json(),
       "grantProxy")
    db = stack.db("consultations")
    shards = {s["_id"]: s for s in db.tally_shards.find({"consultation_id": c["id"]})}
    # as the old layout kept them: its audit named no call (casting.py)
    stances = {s["_id"]: {**{k: v for k, v in s.items() if k != "calls"},
                          "history": [{k: v for k, v in e.items() if k != "request"}
                                      for e in s["history"]]}
               for s in db.stances.find({"consultation_id": c["id"]})}
    with stack.rpc() as rpc:
        audit = rpc.consultations.stance_audit(c["id"])
    back_to_one_document_per_member(db, c["id"])
    assert db.eligibility.count_documents({"consultation_id": c["id"]}) == 5

    migrations.migrate_round_layout(store_of(stack, db))
    migrations.migrate_round_layout(store_of(stack, db))  # idempotent
    assert {s["_id"]: s for s in db.tally_shards.find({"consultation_id": c["id"]})} == shards
    assert {s["_id"]: s for s in db.stances.find({"consultation_id": c["id"]})} == stances
    assert not {"eligibility", "stance_audit"} & set(db.list_collection_names())
    with stack.rpc() as rpc:
        assert rpc.consultations.stance_audit(c["id"]) == audit
    # the granter's own cast still ends its proxy; the tally is whole
    vote(stack, c["id"], five[2:3], ["AGREE"])
    proxy = db.proxies.find_one({"consultation_id": c["id"], "granter_id": five[2]})
    assert proxy["status"] == "REVOKED"
    tally = stack.gql(GET, {"id": c["id"]})["consultation"]["tally"]
    assert (tally["responded"], tally["agree"], tally["reservations"], tally["block"]) == \
        (3, 1, 1, 1)
