"""The consultations service without the gateway: its entrypoints run in a
nameko container (tests/service/host.py) beside a members container, on a
vhost and databases of their own, against the real store and broker. When
a round opens, consultations asks members who may vote over real RPC; the
members' events reach consultations through the real broker. The members of
this module are the only ones either service knows."""
import uuid

import pytest

from services.common.errors import BadUserInput, Conflict, Forbidden, NotFound
from tests.helpers.consultations import later
from tests.helpers.events import member_event
from tests.support import announced, member_input, wait_for

HOSTED = ("members", "consultations")
ADMIN = {"role": "ADMIN", "member_id": None, "sub": "admin-test"}


@pytest.fixture(scope="module")
def consultations(host):
    return host.service("consultations")


@pytest.fixture(scope="module")
def voters(host):
    """The ids of three founding members: every member of this module that may vote."""
    return [host.service("members").register_founding_member(member_input())["id"]
            for _ in range(3)]


def member(member_id):
    """The actor a member's own token makes."""
    return {"role": "MEMBER", "member_id": member_id, "sub": f"member-{member_id}"}


def general(title=None, **overrides):
    return {"title": title or f"Plan {uuid.uuid4().hex[:8]}", "proposal": "Adopt the plan",
            "closesAt": later(), **overrides}


def test_opening_snapshots_who_may_vote_and_announces_it(consultations, voters):
    opened = consultations.open_consultation(general(), "admin-test")
    assert opened["status"] == "OPEN" and opened["round"] == 1
    stored = consultations.db.consultations.find_one({"_id": opened["id"]})
    assert stored["status"] == "OPEN" and stored["tally"]["eligible"] == 3
    shards = list(consultations.db.tally_shards.find({"consultation_id": opened["id"]}))
    assert len(shards) == 32 and sum(len(s["eligible"]) for s in shards) == 3
    eligible = consultations.eligible_many([opened["id"]])[opened["id"]]
    assert sorted(eligible) == sorted(voters)
    (event,) = announced(consultations.db, "consultation_opened", consultation_id=opened["id"])
    assert (event["data"]["kind"], event["data"]["eligible"]) == ("GENERAL", 3)


def test_an_application_opens_its_admission_through_the_broker(host, consultations, voters):
    candidate = host.service("members").apply_for_membership(member_input())
    admission = wait_for(lambda: consultations.db.consultations.find_one(
        {"subject_id": candidate["id"], "kind": "MEMBERSHIP_ADMISSION"}), 20, 0.1,
        "the admission consultation")
    eligible = consultations.eligible_many([admission["_id"]])[admission["_id"]]
    assert sorted(eligible) == sorted(voters) and candidate["id"] not in eligible


def test_refusals_are_typed_and_store_nothing(host, consultations, voters):
    title = f"Refused {uuid.uuid4().hex[:8]}"
    with pytest.raises(BadUserInput) as refused:
        consultations.open_consultation(general(title, closesAt="2001-01-01T00:00:00+00:00"))
    assert "closesAt" in refused.value.fields
    assert consultations.db.consultations.count_documents({"title": title}) == 0

    opened = consultations.open_consultation(general())
    candidate = host.service("members").apply_for_membership(member_input())
    with pytest.raises(Forbidden):
        consultations.cast_stance(ADMIN, opened["id"], "AGREE")
    with pytest.raises(Forbidden):  # not in the round's snapshot
        consultations.cast_stance(member(candidate["id"]), opened["id"], "AGREE")
    with pytest.raises(BadUserInput) as refused:
        consultations.cast_stance(member(voters[0]), opened["id"], "BLOCK")
    assert "reason" in refused.value.fields
    with pytest.raises(NotFound):
        consultations.cast_stance(member(voters[0]), uuid.uuid4().hex, "AGREE")
    assert consultations.db.stances.count_documents({"consultation_id": opened["id"]}) == 0
    assert announced(consultations.db, "stance_cast", consultation_id=opened["id"]) == []


def test_stances_are_stored_counted_and_the_close_announced_once(consultations, voters):
    opened = consultations.open_consultation(general())
    for voter, value in zip(voters, ["AGREE", "AGREE", "RESERVATIONS"]):
        assert consultations.cast_stance(member(voter), opened["id"], value)["value"] == value
    assert consultations.db.stances.count_documents({"consultation_id": opened["id"]}) == 3
    assert len(announced(consultations.db, "stance_cast", consultation_id=opened["id"])) == 3

    closed = consultations.close_consultation(opened["id"])
    assert (closed["status"], closed["outcome"]) == ("CLOSED", "ADOPTED")
    stored = consultations.db.consultations.find_one({"_id": opened["id"]})
    assert stored["status"] == "CLOSED" and [r["outcome"] for r in stored["rounds"]] == ["ADOPTED"]
    (event,) = announced(consultations.db, "round_closed", consultation_id=opened["id"])
    assert event["data"]["outcome"] == "ADOPTED" and event["data"]["tally"]["agree"] == 2

    with pytest.raises(Conflict):
        consultations.close_consultation(opened["id"])
    with pytest.raises(Conflict):
        consultations.cast_stance(member(voters[2]), opened["id"], "AGREE")
    assert len(announced(consultations.db, "round_closed", consultation_id=opened["id"])) == 1


def test_an_application_handled_twice_opens_one_admission(consultations, voters):
    envelope = member_event("membership_applied", status="CANDIDATE", mou_signed=False)
    applicant = envelope["data"]["member_id"]

    consultations.handle(envelope)
    admissions = list(consultations.db.consultations.find({"subject_id": applicant}))
    assert [a["kind"] for a in admissions] == ["MEMBERSHIP_ADMISSION"]
    assert admissions[0]["tally"]["eligible"] == 3
    voter_record = consultations.db.voters.find_one({"_id": applicant})
    assert (voter_record["status"], voter_record["can_vote"]) == ("CANDIDATE", False)

    consultations.handle(envelope)  # redelivered
    assert list(consultations.db.consultations.find({"subject_id": applicant})) == admissions
    assert consultations.db.voters.find_one({"_id": applicant}) == voter_record
    assert len(announced(consultations.db, "consultation_opened", subject_id=applicant)) == 1


def test_a_rounds_events_say_its_title_proposal_and_why_it_closed(consultations, voters):
    opened = consultations.open_consultation(general(), "admin-test")
    (event,) = announced(consultations.db, "consultation_opened", consultation_id=opened["id"])
    assert (event["data"]["title"], event["data"]["proposal"]) == (opened["title"], "Adopt the plan")
    consultations.cast_stance(member(voters[0]), opened["id"], "AGREE")
    consultations.cast_stance(member(voters[1]), opened["id"], "BLOCK", "Against our principles")

    closed = consultations.close_consultation(opened["id"])
    assert closed["rounds"][0]["explanation"] == "Blocks: 1."
    stored = consultations.db.consultations.find_one({"_id": opened["id"]})
    assert stored["rounds"][0]["reason"] == {"key": "blocked", "params": {"block": 1}}
    (event,) = announced(consultations.db, "round_closed", consultation_id=opened["id"])
    assert event["data"]["title"] == opened["title"] and event["data"]["outcome"] == "BLOCKED"
    assert event["data"]["explanation"] == {"key": "blocked", "params": {"block": 1}}
    assert "AGREE" not in str(event["data"]) and voters[1] not in str(event["data"])


def test_the_snapshot_of_each_round_is_read_back_by_its_number(host, consultations, voters):
    opened = consultations.open_consultation(general())
    consultations.close_consultation(opened["id"])  # NO_QUORUM: no one responded
    newcomer = host.service("members").register_founding_member(member_input())["id"]
    consultations.start_next_round(opened["id"], {"proposal": "Again", "closesAt": later()})
    assert consultations.eligible_of_round(opened["id"], 1) == sorted(voters)
    assert consultations.eligible_of_round(opened["id"], 2) == sorted(voters + [newcomer])
    assert consultations.eligible_of_round(opened["id"], 3) == []
    assert consultations.eligible_of_round(uuid.uuid4().hex, 1) == []
    assert consultations.eligible_of_round({"$gt": ""}, 1) == []
    assert consultations.eligible_of_round(opened["id"], "1") == []


def test_a_named_cast_repeated_is_answered_again_not_cast_again(consultations, voters):
    """The cast keeps the name of its call in its history entry (casting.py):
    a repeat gets the stance as first recorded, even after the round closed,
    and nothing is cast, counted or announced twice."""
    opened = consultations.open_consultation(general())
    call = consultations.named(f"cast-{uuid.uuid4().hex}")
    first = call.cast_stance(member(voters[0]), opened["id"], "AGREE")
    assert call.cast_stance(member(voters[0]), opened["id"], "AGREE") == first
    recast = consultations.cast_stance(member(voters[0]), opened["id"], "RESERVATIONS")
    # the same name for another member's cast: the call it names was done already
    assert call.cast_stance(member(voters[1]), opened["id"], "BLOCK", "No") == first
    closed = consultations.close_consultation(opened["id"])
    assert call.cast_stance(member(voters[0]), opened["id"], "AGREE") == first
    stored = consultations.db.stances.find_one({"_id": f"{opened['id']}:1:{voters[0]}"})
    assert [e["value"] for e in stored["history"]] == ["AGREE", "RESERVATIONS"]
    assert stored["value"] == recast["value"] == "RESERVATIONS"
    assert closed["tally"]["responded"] == closed["tally"]["reservations"] == 1
    assert len(announced(consultations.db, "stance_cast", consultation_id=opened["id"])) == 2
