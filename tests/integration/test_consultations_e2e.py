"""The consensus engine through the gateway: outcomes, refusals, deadlines,
rounds, audit trail, several instances, and concurrent casts."""
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers.consultations import (
    CAST, CLOSE, CONSULTATION_FIELDS, GET, OPEN, cast, close, later, open_consultation)
from tests.support import (
    announced, founders, isolate_voters, refusal, start_service, wait_for)


@pytest.fixture(scope="module")
def five(stack):
    isolate_voters(stack)
    return [m["id"] for m in founders(stack, 5)]


def vote(stack, cid, members, values):
    for member_id, value in zip(members, values):
        body = cast(stack, cid, member_id, value, "a reason" if value == "BLOCK" else None)
        assert not body.get("errors"), body


@pytest.mark.parametrize("values,rule,extra,outcome", [
    (["AGREE", "AGREE", "RESERVATIONS"], "CONSENSUS", {}, "ADOPTED"),
    (["AGREE", "AGREE", "AGREE", "AGREE", "BLOCK"], "CONSENSUS", {}, "BLOCKED"),
    (["AGREE", "AGREE"], "CONSENSUS", {}, "NO_QUORUM"),                      # 2 < ceil(2.5)
    (["STAND_ASIDE", "STAND_ASIDE", "STAND_ASIDE"], "CONSENSUS", {}, "NOT_ADOPTED"),
    (["AGREE", "AGREE", "AGREE", "BLOCK"], "MODIFIED_CONSENSUS", {"threshold": 0.75}, "ADOPTED"),
    (["AGREE", "AGREE", "BLOCK", "BLOCK"], "MODIFIED_CONSENSUS", {"threshold": 0.75}, "BLOCKED"),
    (["STAND_ASIDE", "STAND_ASIDE", "STAND_ASIDE"], "MODIFIED_CONSENSUS", {"threshold": 0.6},
     "NOT_ADOPTED"),
    (["AGREE", "AGREE", "AGREE", "AGREE"], "CONSENSUS", {"quorum": 1.0}, "NO_QUORUM"),
])
def test_every_outcome(stack, five, values, rule, extra, outcome):
    c = open_consultation(stack, rule=rule, **extra)
    assert c["status"] == "OPEN" and c["round"] == 1 and c["outcome"] is None
    assert c["tally"]["eligible"] == 5
    vote(stack, c["id"], five, values)
    counted = stack.gql(GET, {"id": c["id"]})["consultation"]["tally"]
    assert counted["responded"] == len(values)
    closed = close(stack, c["id"])
    assert closed["status"] == "CLOSED" and closed["outcome"] == outcome
    assert closed["rounds"][0]["outcome"] == outcome and closed["rounds"][0]["tally"]["responded"] == len(values)
    event = announced(stack.db("consultations"), "round_closed",
                      consultation_id=c["id"])[0]
    assert (event["data"]["outcome"], event["data"]["kind"]) == (outcome, "GENERAL")


def test_replaced_stance_is_kept_in_the_audit_trail(stack, five):
    c = open_consultation(stack)
    cast(stack, c["id"], five[0], "BLOCK", "Budget too high")
    body = cast(stack, c["id"], five[0], "RESERVATIONS", "Fine if reviewed")
    assert body["data"]["castStance"]["value"] == "RESERVATIONS"
    q = "query($id: ID!) { consultation(id: $id) { tally { responded block reservations } stances { value member { id } } myStance { value reason } } }"
    seen = stack.gql(q, {"id": c["id"]}, stack.member_token(five[0]))["consultation"]
    assert seen["tally"] == {"responded": 1, "block": 0, "reservations": 1}
    assert [s["value"] for s in seen["stances"]] == ["RESERVATIONS"]
    assert seen["myStance"] == {"value": "RESERVATIONS", "reason": "Fine if reviewed"}
    anonymous = stack.gql(q, {"id": c["id"]})["consultation"]
    assert anonymous["stances"] == [] and anonymous["myStance"] is None
    assert anonymous["tally"]["responded"] == 1
    with stack.rpc() as rpc:
        audit = rpc.consultations.stance_audit(c["id"])
    assert [(a["value"], a["replaces"]) for a in audit] == [("BLOCK", None), ("RESERVATIONS", "BLOCK")]


def test_refusals(stack, five):
    c = open_consultation(stack)
    outsider = founders(stack, 1)[0]["id"]  # joined after the snapshot: next round only
    assert refusal(cast(stack, c["id"], outsider))[0] == "FORBIDDEN"
    assert refusal(cast(stack, c["id"], five[0], token=stack.admin()))[0] == "FORBIDDEN"
    r = stack.post(CAST, {"c": c["id"], "v": "AGREE"})
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = cast(stack, c["id"], five[0], "BLOCK")
    assert refusal(body)[0] == "BAD_USER_INPUT" and "reason" in body["errors"][0]["extensions"]["fields"]
    body = cast(stack, c["id"], five[0], "BLOCK", "   ")
    assert refusal(body)[0] == "BAD_USER_INPUT"
    assert stack.db("consultations").stances.count_documents({"consultation_id": c["id"]}) == 0
    assert refusal(cast(stack, "no-such-consultation", five[0]))[0] == "NOT_FOUND"
    r = stack.post(CAST, {"c": c["id"], "v": "AGREE"}, headers={"Authorization": "Bearer forged.token.x"})
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    close(stack, c["id"])
    assert refusal(cast(stack, c["id"], five[1]))[0] == "CONFLICT"
    r = stack.post(CLOSE, {"id": c["id"]}, stack.admin())
    assert r.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    r = stack.post(CLOSE, {"id": c["id"]}, stack.member_token(five[0]))
    assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("overrides,field", [
    ({"closesAt": "2001-01-01T00:00:00+00:00"}, "closesAt"),
    ({"rule": "MODIFIED_CONSENSUS"}, "threshold"),
    ({"rule": "MODIFIED_CONSENSUS", "threshold": 0.5}, "threshold"),
    ({"threshold": 0.8}, "threshold"),
    ({"quorum": 0}, "quorum"),
    ({"quorum": 1.5}, "quorum"),
    ({"title": ""}, "title"),
])
def test_open_validation(stack, five, overrides, field):
    title = f"Invalid {uuid.uuid4().hex[:6]}"
    data = {"title": title, "proposal": "p", "closesAt": later(), **overrides}
    body = stack.post(OPEN, {"i": data}, stack.admin()).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert field in body["errors"][0]["extensions"]["fields"]
    assert stack.db("consultations").consultations.count_documents({"title": title}) == 0


def test_open_needs_admin(stack, five):
    data = {"title": "t", "proposal": "p", "closesAt": later()}
    assert stack.post(OPEN, {"i": data}).json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = stack.post(OPEN, {"i": data}, stack.member_token(five[0])).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_datetime_without_offset_is_refused(stack, five):
    data = {"title": "t", "proposal": "p", "closesAt": "2099-01-01T00:00:00"}
    r = stack.post(OPEN, {"i": data}, stack.admin())
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_deadline_closes_the_round(stack, five):
    c = open_consultation(stack, closesAt=later(2))
    vote(stack, c["id"], five, ["AGREE"] * 5)
    closed = wait_for(lambda: (lambda x: x if x["status"] == "CLOSED" else None)(
        stack.gql(GET, {"id": c["id"]})["consultation"]), 15, 0.2, "deadline close")
    assert closed["outcome"] == "ADOPTED" and closed["closedAt"]
    body = cast(stack, c["id"], five[4], "BLOCK", "too late")
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"


def test_next_round_and_cancel(stack, five):
    c = open_consultation(stack)
    vote(stack, c["id"], five, ["BLOCK", "AGREE", "AGREE"])
    assert close(stack, c["id"])["outcome"] == "BLOCKED"
    newcomer = founders(stack, 1)[0]["id"]
    q = f"""mutation($id: ID!, $p: String!, $at: DateTime!) {{ startNextRound(id: $id, proposal: $p,
            closesAt: $at) {{ {CONSULTATION_FIELDS} eligibleMembers {{ id }} }} }}"""
    nxt = stack.gql(q, {"id": c["id"], "p": "Amended strategy", "at": later()}, stack.admin())["startNextRound"]
    assert nxt["round"] == 2 and nxt["status"] == "OPEN" and nxt["proposal"] == "Amended strategy"
    voters = stack.db("consultations").voters.count_documents({"can_vote": True})
    assert nxt["tally"]["responded"] == 0 and nxt["tally"]["eligible"] == voters >= 6
    assert newcomer in {m["id"] for m in nxt["eligibleMembers"]}
    assert nxt["outcome"] == "BLOCKED"  # of the last closed round
    assert [r["number"] for r in nxt["rounds"]] == [1] and nxt["rounds"][0]["proposal"] == "Adopt the 2027 strategy"
    body = stack.post(q, {"id": c["id"], "p": "again", "at": later()}, stack.admin()).json()
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"  # round 2 is open
    cancel = 'mutation($id: ID!) { cancelConsultation(id: $id, reason: "Dropped") { status } }'
    assert stack.post(cancel, {"id": c["id"]}, stack.admin()).json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    vote(stack, c["id"], five, ["STAND_ASIDE"] * 5)
    assert close(stack, c["id"])["outcome"] == "NOT_ADOPTED"
    assert stack.gql(cancel, {"id": c["id"]}, stack.admin())["cancelConsultation"]["status"] == "CANCELLED"
    body = stack.post(q, {"id": c["id"], "p": "again", "at": later()}, stack.admin()).json()
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"


def test_adopted_is_final(stack, five):
    c = open_consultation(stack)
    vote(stack, c["id"], five, ["AGREE"] * 5)
    assert close(stack, c["id"])["outcome"] == "ADOPTED"
    q = 'mutation($id: ID!, $at: DateTime!) { startNextRound(id: $id, proposal: "x", closesAt: $at) { id } }'
    body = stack.post(q, {"id": c["id"], "at": later()}, stack.admin()).json()
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT" and "ADOPTED" in body["errors"][0]["message"]


def test_consultations_list_filters_and_pages(stack, five):
    made = {open_consultation(stack, title=f"Listed {i}")["id"] for i in range(4)}
    q = """query($after: String) { consultations(status: OPEN, kind: GENERAL, first: 2, after: $after) {
           totalCount pageInfo { hasNextPage endCursor } edges { node { id status kind } } } }"""
    seen, after = [], None
    while True:
        page = stack.gql(q, {"after": after})["consultations"]
        assert all(e["node"]["status"] == "OPEN" and e["node"]["kind"] == "GENERAL" for e in page["edges"])
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert made <= set(seen) and len(seen) == len(set(seen))


def test_two_instances_close_each_round_once(stack, five, tmp_path):
    second = start_service(stack, "consultations", tmp_path / "second.log")
    try:
        time.sleep(3)  # let it start its timer
        ids = [open_consultation(stack, closesAt=later(2), title=f"Race {i}")["id"] for i in range(8)]
        db = stack.db("consultations")
        wait_for(lambda: db.consultations.count_documents({"_id": {"$in": ids}, "status": "CLOSED"}) == 8,
                 20, 0.2, "every round closed")
        time.sleep(2 * 0.5 + 1)  # more timer ticks of both instances
        for cid in ids:
            assert len(announced(db, "round_closed", consultation_id=cid)) == 1
            assert len(db.consultations.find_one({"_id": cid})["rounds"]) == 1
    finally:
        second.terminate()
        second.wait(20)


def test_200_concurrent_casts_leave_the_tally_equal_to_the_stances(stack):
    isolate_voters(stack)
    with stack.rpc() as rpc:
        members = [rpc.members.register_founding_member({
            "name": f"Concurrent {uuid.uuid4().hex[:10]}", "orgType": "NGO", "countries": ["TH"],
            "constituencies": ["SEX_WORKERS"],
            "focalPoint": {"name": "F", "email": f"f-{uuid.uuid4().hex[:10]}@example.org"}})["id"]
            for _ in range(200)]
    db = stack.db("consultations")
    wait_for(lambda: db.voters.count_documents({"_id": {"$in": members}, "can_vote": True}) == 200,
             60, 0.3, "200 voters")
    c = open_consultation(stack)
    assert c["tally"]["eligible"] == 200
    values = ["AGREE", "RESERVATIONS", "STAND_ASIDE", "BLOCK"]
    # every member casts once; 40 of them cast a second stance at the same time
    jobs = [(m, values[i % 4]) for i, m in enumerate(members)] + \
           [(m, values[(i + 1) % 4]) for i, m in enumerate(members[:40])]

    def one(job):
        member_id, value = job
        return cast(stack, c["id"], member_id, value, "principled" if value == "BLOCK" else None)

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, jobs))
    failures = [r for r in results if r.get("errors")]
    assert not failures, failures[:3]
    stored = list(db.stances.find({"consultation_id": c["id"]}))
    assert len(stored) == 200 and len({s["member_id"] for s in stored}) == 200
    by_value = Counter(s["value"] for s in stored)
    tally = stack.gql(GET, {"id": c["id"]})["consultation"]["tally"]
    assert tally["responded"] == 200
    assert (tally["agree"], tally["reservations"], tally["standAside"], tally["block"]) == (
        by_value["AGREE"], by_value["RESERVATIONS"], by_value["STAND_ASIDE"], by_value["BLOCK"])
    assert sum(len(s["history"]) for s in stored) == 240  # every cast kept


def test_casts_racing_the_close_are_counted_or_refused_never_lost(stack):
    """The tally is split over counter shards, and closing marks every shard
    in the closing transaction: a stance either committed before the close
    (and is in the final tally) or is refused with CONFLICT."""
    isolate_voters(stack)
    members = [m["id"] for m in founders(stack, 60)]
    c = open_consultation(stack)
    assert c["tally"]["eligible"] == 60
    closed = {}

    def one(i):
        if i == 30:
            closed["c"] = close(stack, c["id"])
            return None
        return cast(stack, c["id"], members[i if i < 30 else i - 1])

    with ThreadPoolExecutor(16) as pool:
        results = [r for r in pool.map(one, range(61)) if r is not None]
    codes = Counter(r["errors"][0]["extensions"]["code"] for r in results if r.get("errors"))
    assert set(codes) <= {"CONFLICT"}, codes
    accepted = sum(1 for r in results if not r.get("errors"))
    stored = stack.db("consultations").stances.count_documents({"consultation_id": c["id"]})
    final = closed["c"]
    assert final["status"] == "CLOSED"
    assert final["tally"]["responded"] == final["tally"]["agree"] == stored == accepted
    assert final["rounds"][0]["tally"]["responded"] == stored
    assert stack.gql(GET, {"id": c["id"]})["consultation"]["tally"]["responded"] == stored


def test_the_round_lives_beside_the_consultation_document(stack):
    """The consultation document stays small however many members vote: the
    eligible snapshot and the counters are in 32 shards of their own."""
    isolate_voters(stack)
    five = [m["id"] for m in founders(stack, 5)]
    c = open_consultation(stack)
    vote(stack, c["id"], five[:2], ["AGREE", "BLOCK"])
    db = stack.db("consultations")
    doc = db.consultations.find_one({"_id": c["id"]})
    assert "eligible" not in doc and doc["tally"]["eligible"] == 5
    shards = list(db.tally_shards.find({"consultation_id": c["id"], "round": 1}))
    assert len(shards) == 32 and sum(s.get("agree", 0) + s.get("block", 0) for s in shards) == 2
    assert sorted(m for s in shards for m in s["eligible"]) == sorted(five)
    assert {s["closes_at"] for s in shards} == {doc["closes_at"]}
    tally = stack.gql(GET, {"id": c["id"]})["consultation"]["tally"]
    assert (tally["responded"], tally["agree"], tally["block"]) == (2, 1, 1)
