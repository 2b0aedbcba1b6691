"""The allocation saga across the three services, through the gateway:
grants reserves and announces, consultations opens a GRANT_ALLOCATION
consultation, members vote, the outcome (or a cancellation) comes back to
grants, and member suspension / reinstatement hold and release allocations."""
import os
import signal
import time
import uuid
from datetime import datetime, timedelta, timezone

from tests.helpers.consultations import cast, close
from tests.helpers.grants import (
    DISBURSE, PROPOSE_ONLY, approve, assert_books_balance, create_grant, disburse_body,
    get_allocation, get_grant, grants_snapshot, propose, propose_body, wait_allocation,
    wait_consultation)
from tests.support import (
    announced, founders, isolate_voters, member_input, refusal, wait_for, wait_read_models)

CANCEL = """mutation($id: ID!, $r: String!) { cancelConsultation(id: $id, reason: $r) {
    id status outcome } }"""
SUSPEND = """mutation($m: ID!, $r: String!) { proposeSuspension(memberId: $m, reason: $r) {
    id kind status subjectId eligibleMembers { id } } }"""
REINSTATE = "mutation($m: ID!) { reinstateMember(memberId: $m) { id status } }"
APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id status } }"
MEMBER = "query($id: ID!) { member(id: $id) { id status canVote } }"


def coalition(stack, n=4):
    """Only our members may vote: the first is the beneficiary, the rest vote."""
    isolate_voters(stack)
    ids = [m["id"] for m in founders(stack, n)]
    return ids[0], ids[1:]


def wait_round_closed_seen_by_grants(stack, consultation_id):
    """Until grants has handled the round_closed event of the consultation."""
    event = wait_for(lambda: announced(stack.db("consultations"), "round_closed",
                                       consultation_id=consultation_id),
                     20, 0.1, "round_closed in the outbox")[0]
    marker = f"grants.on_round_closed:{event['event_id']}"
    wait_for(lambda: stack.db("grants").processed_events.find_one({"_id": marker}), 20, 0.1,
             "grants handled round_closed")


def member_status(stack, member_id):
    return stack.gql(MEMBER, {"id": member_id})["member"]["status"]


def test_adopted_consultation_approves_and_money_can_flow(stack):
    beneficiary, voters = coalition(stack)
    g = create_grant(stack, activate=True, amount="10000", currency="USD")
    a = propose(stack, g["id"], beneficiary, "2500", purpose="Community-led monitoring in KG")
    assert a["status"] == "PROPOSED"
    # the reservation counts at once, before any vote
    assert (a["grant"]["allocated"], a["grant"]["available"]) == ("2500.00", "7500.00")
    assert get_grant(stack, g["id"])["allocated"] == "2500.00"

    c = wait_consultation(stack, g["id"], a["id"])
    assert c["kind"] == "GRANT_ALLOCATION" and c["status"] == "OPEN" and c["subjectId"] == a["id"]
    eligible = {m["id"] for m in c["eligibleMembers"]}
    assert eligible == set(voters) and beneficiary not in eligible
    assert "2500.00 USD" in c["title"]

    # no one decides their own case; ADMIN cannot vote for a member
    code, _, _ = refusal(cast(stack, c["id"], beneficiary))
    assert code == "FORBIDDEN"
    code, _, _ = refusal(cast(stack, c["id"], beneficiary, token=stack.admin()))
    assert code == "FORBIDDEN"
    # money cannot flow before the decision
    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(disburse_body(stack, a["id"], "100"))
    assert code == "CONFLICT" and "PROPOSED" in message
    assert grants_snapshot(stack, g["id"]) == before

    for v in voters:
        assert not cast(stack, c["id"], v, "AGREE").get("errors")
    closed = close(stack, c["id"])
    assert closed["status"] == "CLOSED" and closed["outcome"] == "ADOPTED"
    approved = wait_allocation(stack, g["id"], a["id"], "APPROVED")
    assert approved["consultation"]["outcome"] == "ADOPTED"
    assert approved["grant"]["allocated"] == "2500.00"

    d = stack.gql(DISBURSE, {"i": {"allocationId": a["id"], "amount": "1000.00",
                                   "paidOn": "2026-05-01", "reference": "Q2"}},
                  stack.admin())["recordDisbursement"]
    assert d["amount"] == "1000.00"
    seen = get_grant(stack, g["id"])
    assert (seen["allocated"], seen["disbursed"], seen["available"]) == ("2500.00", "1000.00", "7500.00")
    assert get_allocation(stack, g["id"], a["id"])["disbursed"] == "1000.00"
    assert len(announced(stack.db("grants"), "allocation_approved", allocation_id=a["id"])) == 1
    assert stack.db("consultations").consultations.count_documents(
        {"kind": "GRANT_ALLOCATION", "subject_id": a["id"]}) == 1
    assert_books_balance(stack, g["id"])


def test_blocked_then_cancelled_rejects_and_frees_the_reservation(stack):
    beneficiary, voters = coalition(stack)
    g = create_grant(stack, activate=True, amount="5000", currency="EUR")
    a = propose(stack, g["id"], beneficiary, "3000")
    assert get_grant(stack, g["id"])["available"] == "2000.00"
    c = wait_consultation(stack, g["id"], a["id"])
    # a BLOCK needs a reason
    code, _, fields = refusal(cast(stack, c["id"], voters[0], "BLOCK"))
    assert code == "BAD_USER_INPUT" and fields
    assert not cast(stack, c["id"], voters[0], "BLOCK", "Conflicts with the workplan").get("errors")
    for v in voters[1:]:
        assert not cast(stack, c["id"], v, "AGREE").get("errors")
    assert close(stack, c["id"])["outcome"] == "BLOCKED"
    # BLOCKED decides nothing: still PROPOSED, still reserved
    wait_round_closed_seen_by_grants(stack, c["id"])
    held = get_allocation(stack, g["id"], a["id"])
    assert held["status"] == "PROPOSED" and held["grant"]["allocated"] == "3000.00"
    # while reserved, the rest of the grant is all that can be proposed
    code, message, _ = refusal(propose_body(stack, g["id"], voters[0], "2000.01"))
    assert code == "CONFLICT" and "2000.00 EUR" in message

    cancelled = stack.gql(CANCEL, {"id": c["id"], "r": "No agreement on the workplan"},
                          stack.admin())["cancelConsultation"]
    assert cancelled["status"] == "CANCELLED"
    rejected = wait_allocation(stack, g["id"], a["id"], "REJECTED")
    assert rejected["consultation"]["status"] == "CANCELLED"
    seen = get_grant(stack, g["id"])
    assert (seen["allocated"], seen["available"]) == ("0.00", "5000.00")
    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(disburse_body(stack, a["id"], "1"))
    assert code == "CONFLICT" and "REJECTED" in message
    assert grants_snapshot(stack, g["id"]) == before
    # the freed money can be proposed again, in full
    again = propose(stack, g["id"], beneficiary, "5000")
    assert again["grant"]["available"] == "0.00"
    assert len(announced(stack.db("grants"), "allocation_rejected", allocation_id=a["id"])) == 1
    assert_books_balance(stack, g["id"])


def test_suspension_holds_and_reinstatement_releases(stack):
    beneficiary, voters = coalition(stack)
    g = create_grant(stack, activate=True, amount="8000", currency="USD")
    a = propose(stack, g["id"], beneficiary, "4000")
    approve(stack, g["id"], a["id"])
    assert not disburse_body(stack, a["id"], "1000").get("errors")
    other = propose(stack, g["id"], voters[0], "1000")  # someone else's, stays PROPOSED

    s = stack.gql(SUSPEND, {"m": beneficiary, "r": "Financial reports missing for 2025"},
                  stack.admin())["proposeSuspension"]
    assert s["kind"] == "MEMBER_SUSPENSION" and s["subjectId"] == beneficiary
    assert {m["id"] for m in s["eligibleMembers"]} == set(voters)
    for v in voters:
        assert not cast(stack, s["id"], v, "AGREE").get("errors")
    assert close(stack, s["id"])["outcome"] == "ADOPTED"
    wait_for(lambda: member_status(stack, beneficiary) == "SUSPENDED", 20, 0.1, "suspended")
    on_hold = wait_allocation(stack, g["id"], a["id"], "ON_HOLD")
    assert on_hold["member"]["status"] == "SUSPENDED"
    assert get_allocation(stack, g["id"], other["id"])["status"] == "PROPOSED"
    # ON_HOLD still counts as allocated
    seen = get_grant(stack, g["id"])
    assert (seen["allocated"], seen["disbursed"], seen["available"]) == ("5000.00", "1000.00", "3000.00")

    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(disburse_body(stack, a["id"], "100"))
    assert code == "CONFLICT" and "ON_HOLD" in message
    # and no new allocation to a suspended member
    wait_read_models(stack, beneficiary, status="SUSPENDED")
    code, message, _ = refusal(propose_body(stack, g["id"], beneficiary, "10"))
    assert code == "CONFLICT" and "SUSPENDED" in message
    assert grants_snapshot(stack, g["id"]) == before

    assert stack.gql(REINSTATE, {"m": beneficiary}, stack.admin())["reinstateMember"]["status"] == "ACTIVE"
    wait_allocation(stack, g["id"], a["id"], "APPROVED")
    assert not disburse_body(stack, a["id"], "3000").get("errors")
    code, message, _ = refusal(disburse_body(stack, a["id"], "0.01"))
    assert code == "CONFLICT" and "0.00 USD" in message
    final = get_allocation(stack, g["id"], a["id"])
    assert final["disbursed"] == "4000.00" and len(final["disbursements"]) == 2
    for event in ("allocation_held", "allocation_released"):
        assert len(announced(stack.db("grants"), event, allocation_id=a["id"])) == 1, event
    assert_books_balance(stack, g["id"])


def test_withdrawn_member_allocation_goes_on_hold_for_good(stack):
    beneficiary, voters = coalition(stack, 3)
    g = create_grant(stack, activate=True, amount="1000")
    a = propose(stack, g["id"], beneficiary, "600")
    approve(stack, g["id"], a["id"])
    stack.gql("mutation($m: ID!) { withdrawMembership(memberId: $m, reason: \"merged\") { status } }",
              {"m": beneficiary}, stack.member_token(beneficiary))
    wait_allocation(stack, g["id"], a["id"], "ON_HOLD")
    code, message, _ = refusal(disburse_body(stack, a["id"], "1"))
    assert code == "CONFLICT" and "ON_HOLD" in message
    assert get_grant(stack, g["id"])["allocated"] == "600.00"
    assert_books_balance(stack, g["id"])


def test_the_consultation_closes_at_the_proposals_deadline(stack):
    beneficiary, voters = coalition(stack, 3)
    g = create_grant(stack, activate=True, amount="1000")
    deadline = datetime.now(timezone.utc) + timedelta(seconds=3)
    a = propose(stack, g["id"], beneficiary, "100", closesAt=deadline.isoformat())
    c = wait_consultation(stack, g["id"], a["id"])
    for v in voters:
        assert not cast(stack, c["id"], v, "AGREE").get("errors")
    # nobody closes it: the deadline does, and the outcome reaches grants
    approved = wait_allocation(stack, g["id"], a["id"], "APPROVED", timeout=20)
    assert approved["consultation"]["status"] == "CLOSED"
    stored = stack.db("consultations").consultations.find_one({"_id": c["id"]})
    assert abs((stored["closes_at"] - deadline).total_seconds()) < 1


def test_a_deadline_that_passed_before_consultations_heard_still_gets_a_consultation(stack):
    """Always a consultation (DOMAIN.md section 6). consultations is paused
    (SIGSTOP) while grants reserves an allocation whose deadline is 3 s
    away, and resumed after it: handling allocation_proposed late, it opens
    the consultation and closes it at once, NO_QUORUM, announced as any close
    is; nothing is parked, and cancelling frees the reservation."""
    beneficiary, voters = coalition(stack, 3)
    g = create_grant(stack, activate=True, amount="1000")
    pid = stack.stack.pid("consultations")
    assert pid, "consultations is not running"
    deadline = datetime.now(timezone.utc) + timedelta(seconds=3)
    os.kill(pid, signal.SIGSTOP)
    try:
        body = stack.post(PROPOSE_ONLY, {"i": {
            "grantId": g["id"], "memberId": beneficiary, "amount": "400",
            "purpose": "Late", "closesAt": deadline.isoformat()}}, stack.admin()).json()
        assert not body.get("errors"), body
        a = body["data"]["proposeAllocation"]
        assert a["status"] == "PROPOSED" and a["grant"]["allocated"] == "400.00"
        # published: the event waits in consultations' queue
        wait_for(lambda: stack.db("grants").outbox.find_one(
            {"event_type": "allocation_proposed", "envelope.data.allocation_id": a["id"],
             "status": "sent"}), 20, 0.1, "allocation_proposed published")
        time.sleep(max(0.0, (deadline - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    finally:
        os.kill(pid, signal.SIGCONT)

    c = wait_consultation(stack, g["id"], a["id"])
    assert c["kind"] == "GRANT_ALLOCATION" and c["subjectId"] == a["id"]
    assert (c["status"], c["outcome"]) == ("CLOSED", "NO_QUORUM")
    assert {m["id"] for m in c["eligibleMembers"]} == set(voters)
    stored = stack.db("consultations").consultations.find_one({"_id": c["id"]})
    assert [r["outcome"] for r in stored["rounds"]] == ["NO_QUORUM"]
    assert "deadline" in stored["rounds"][0]["explanation"]
    assert stored["closed_at"] >= stored["closes_at"]
    assert stack.db("consultations").dead_letters.count_documents(
        {"payload.data.allocation_id": a["id"]}) == 0
    # announced like any close; NO_QUORUM decides nothing: still reserved
    wait_round_closed_seen_by_grants(stack, c["id"])
    held = get_allocation(stack, g["id"], a["id"])
    assert held["status"] == "PROPOSED" and held["grant"]["allocated"] == "400.00"
    # a late round is a round like any other: no stance can be cast in it
    code, _, _ = refusal(cast(stack, c["id"], voters[0], "AGREE"))
    assert code == "CONFLICT"

    cancelled = stack.gql(CANCEL, {"id": c["id"], "r": "The deadline had passed"},
                          stack.admin())["cancelConsultation"]
    assert cancelled["status"] == "CANCELLED"
    wait_allocation(stack, g["id"], a["id"], "REJECTED")
    seen = get_grant(stack, g["id"])
    assert (seen["allocated"], seen["available"]) == ("0.00", "1000.00")
    assert_books_balance(stack, g["id"])


def test_proposals_to_candidates_or_unknown_members_are_refused(stack):
    beneficiary, voters = coalition(stack, 2)
    g = create_grant(stack, activate=True, amount="1000")
    candidate = stack.gql(APPLY, {"i": member_input(name=f"Candidate {uuid.uuid4().hex[:8]}")})[
        "applyForMembership"]
    assert candidate["status"] == "CANDIDATE"
    wait_read_models(stack, candidate["id"], status="CANDIDATE")
    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(propose_body(stack, g["id"], candidate["id"], "10"))
    assert code == "CONFLICT" and "CANDIDATE" in message
    for unknown in [str(uuid.uuid4()), "0" * 24, '{"$gt": ""}']:
        code, message, _ = refusal(propose_body(stack, g["id"], unknown, "10"))
        assert code == "NOT_FOUND" and "member" in message
    # a refused proposal opens no consultation and reserves nothing
    assert grants_snapshot(stack, g["id"]) == before
    assert get_grant(stack, g["id"])["allocated"] == "0.00"
    # a MEMBER token may not propose, not even to itself
    code, _, _ = refusal(propose_body(stack, g["id"], beneficiary, "10",
                                      token=stack.member_token(beneficiary)))
    assert code == "FORBIDDEN"
    assert grants_snapshot(stack, g["id"]) == before
