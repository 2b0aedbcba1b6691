"""The members service on its own, without the gateway: its entrypoints run
in a nameko container (tests/service/host.py) against the real store and
broker. A command, its refusals, what it stores, the event it puts in the
outbox, and an outcome handled twice that changes the member once."""
import uuid

import pytest

from services.common.errors import BadUserInput, Conflict, NotFound
from tests.helpers.events import round_closed
from tests.support import announced, member_input, wait_for

HOSTED = ("members",)


@pytest.fixture(scope="module")
def members(host):
    return host.service("members")


def test_a_founder_is_stored_active_and_announced(members):
    created = members.register_founding_member(member_input())
    assert created["status"] == "ACTIVE" and created["can_vote"] is True
    stored = members.db.members.find_one({"_id": created["id"]})
    assert stored["status"] == "ACTIVE" and stored["mou_signed_at"] is not None
    assert stored["name"] == created["name"] and stored["revision"] == 1
    assert [h["status"] for h in stored["history"]] == ["ACTIVE"]
    (event,) = announced(members.db, "member_registered", member_id=created["id"])
    assert event["source"] == "members"
    assert (event["data"]["status"], event["data"]["can_vote"]) == ("ACTIVE", True)
    # the outbox relay publishes it to the (real) broker
    wait_for(lambda: members.db.outbox.find_one({"_id": event["event_id"], "status": "sent"}),
             20, 0.1, "member_registered published")


def test_a_taken_name_is_refused_and_nothing_is_stored(members):
    name = f"Taken {uuid.uuid4().hex[:8]}"
    members.register_founding_member(member_input(name))
    outbox_before = members.db.outbox.count_documents({})
    with pytest.raises(BadUserInput) as refused:
        members.apply_for_membership(member_input(name.upper()))
    assert "name" in refused.value.fields
    assert members.db.members.count_documents({"name": {"$in": [name, name.upper()]}}) == 1
    assert members.db.outbox.count_documents({}) == outbox_before


def test_transitions_the_lifecycle_forbids_are_conflicts_that_change_nothing(members):
    founder = members.register_founding_member(member_input())
    before = members.db.members.find_one({"_id": founder["id"]})
    with pytest.raises(Conflict) as refused:
        members.sign_mou(founder["id"])
    assert "ACTIVE" in refused.value.message
    with pytest.raises(Conflict):
        members.reinstate_member(founder["id"])
    assert members.db.members.find_one({"_id": founder["id"]}) == before
    assert announced(members.db, "mou_signed", member_id=founder["id"]) == []
    with pytest.raises(NotFound):
        members.sign_mou(uuid.uuid4().hex)


def test_a_named_call_repeated_is_answered_again_not_done_again(members):
    """A redelivered RPC, or a client's repeat, carries the same call name."""
    request = f"test-{uuid.uuid4().hex}"
    data = member_input()
    first = members.named(request).register_founding_member(data)
    again = members.named(request).register_founding_member(data)
    assert again == first
    assert members.db.members.count_documents({"name": data["name"]}) == 1
    assert len(announced(members.db, "member_registered", member_id=first["id"])) == 1


def test_an_adopted_admission_handled_twice_admits_the_candidate_once(members):
    candidate = members.apply_for_membership(member_input())
    assert announced(members.db, "membership_applied", member_id=candidate["id"])
    envelope = round_closed("MEMBERSHIP_ADMISSION", candidate["id"], "ADOPTED")

    members.handle(envelope)
    admitted = members.db.members.find_one({"_id": candidate["id"]})
    assert admitted["status"] == "ACTIVE" and admitted["revision"] == 2
    assert [h["status"] for h in admitted["history"]] == ["CANDIDATE", "ACTIVE"]
    assert len(announced(members.db, "member_admitted", member_id=candidate["id"])) == 1

    members.handle(envelope)  # redelivered
    assert members.db.members.find_one({"_id": candidate["id"]}) == admitted
    assert len(announced(members.db, "member_admitted", member_id=candidate["id"])) == 1
    assert members.db.processed_events.count_documents(
        {"_id": {"$regex": envelope["event_id"]}}) == 1


def test_a_member_is_stored_and_announced_in_its_language(members):
    founder = members.register_founding_member(member_input())
    assert founder["language"] == "EN"  # left out: EN
    candidate = members.apply_for_membership({**member_input(), "language": "RU"})
    assert candidate["language"] == "RU"
    assert members.db.members.find_one({"_id": candidate["id"]})["language"] == "RU"
    (event,) = announced(members.db, "membership_applied", member_id=candidate["id"])
    assert event["data"]["language"] == "RU"


def test_a_language_set_is_stored_with_a_new_revision_and_announced_once(members):
    founder = members.register_founding_member(member_input())
    changed = members.set_language(founder["id"], "RU")
    assert (changed["language"], changed["revision"]) == ("RU", 2)
    stored = members.db.members.find_one({"_id": founder["id"]})
    assert (stored["language"], stored["revision"]) == ("RU", 2)
    assert [h["status"] for h in stored["history"]] == ["ACTIVE"]  # no change of status
    (event,) = announced(members.db, "member_language_set", member_id=founder["id"])
    assert (event["data"]["language"], event["data"]["revision"]) == ("RU", 2)

    again = members.set_language(founder["id"], "RU")  # the language it has: nothing to do
    assert again == changed
    assert members.db.members.find_one({"_id": founder["id"]}) == stored
    assert len(announced(members.db, "member_language_set", member_id=founder["id"])) == 1


def test_a_member_stored_before_languages_reads_en_and_can_choose_one(members):
    founder = members.register_founding_member(member_input())
    members.db.members.update_one({"_id": founder["id"]}, {"$unset": {"language": ""}})
    assert members.get(founder["id"])["language"] == "EN"
    assert members.set_language(founder["id"], "RU")["language"] == "RU"


def test_a_language_is_refused_to_a_member_that_left_and_when_not_offered(members):
    founder = members.register_founding_member(member_input())
    with pytest.raises(BadUserInput) as refused:
        members.set_language(founder["id"], "FR")
    assert "language" in refused.value.fields
    members.withdraw_membership(founder["id"])
    before = members.db.members.find_one({"_id": founder["id"]})
    with pytest.raises(Conflict) as refused:
        members.set_language(founder["id"], "RU")
    assert "WITHDRAWN" in refused.value.message
    assert members.db.members.find_one({"_id": founder["id"]}) == before
    assert announced(members.db, "member_language_set", member_id=founder["id"]) == []
    with pytest.raises(NotFound):
        members.set_language(uuid.uuid4().hex, "RU")
