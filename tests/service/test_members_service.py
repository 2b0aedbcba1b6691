"""The members service on its own, without the gateway: its entrypoints run
in a nameko container (tests/service/host.py) against the real store and
broker. A command, its refusals, what it stores, the event it puts in the
outbox, and an outcome handled twice that changes the member once."""
import logging
import uuid
from types import SimpleNamespace

import pytest

from services.common.errors import BadUserInput, Conflict, NotFound
from services.common.events import make_envelope
from services.members import dependencies
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


def test_registrations_take_their_seq_from_the_process_block_not_the_counter_each(members):
    counter = members.db.counters
    reserved = counter.find_one({"_id": "members"})["value"]
    made = [members.register_founding_member(member_input())["id"] for _ in range(3)]
    seqs = [members.db.members.find_one({"_id": m})["seq"] for m in made]
    assert seqs == sorted(set(seqs)) and seqs[-1] <= counter.find_one({"_id": "members"})["value"]
    # one write of the counter per block of SEQ_BLOCK (64) numbers, none per registration
    assert counter.find_one({"_id": "members"})["value"] - reserved in (0, 64)


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


# ---- the focal point's address: unique among acting members, and found by it ------------

def with_address(address, name=None):
    return member_input(name, focalPoint={"name": "Focal Point", "email": address,
                                          "phone": None})


def cancelled_admission(candidate_id):
    """The consultation_cancelled event of the candidate's admission (it rejects it)."""
    return make_envelope("consultation_cancelled", {
        "consultation_id": uuid.uuid4().hex, "kind": "MEMBERSHIP_ADMISSION",
        "subject_id": candidate_id, "reason": "Withdrawn by the secretariat"},
        source="consultations")


def test_a_focal_point_address_in_use_is_a_conflict_whatever_its_case(members):
    address = f"Fp-{uuid.uuid4().hex[:10]}@Example.org"
    first = members.register_founding_member(with_address(address))
    outbox_before = members.db.outbox.count_documents({})
    for taken in (address, address.lower(), f"  {address.upper()} "):
        for register in (members.register_founding_member, members.apply_for_membership):
            with pytest.raises(Conflict) as refused:
                register(with_address(taken))
            assert refused.value.message == ("This focal point's e-mail address is already "
                                             "used by another member.")
            assert address.lower() not in repr(refused.value).lower()
    assert members.db.members.count_documents({"focal_key": address.lower()}) == 1
    assert members.db.members.find_one({"_id": first["id"]})["focal_key"] == address.lower()
    assert members.db.outbox.count_documents({}) == outbox_before


def test_a_name_clash_stays_bad_input_beside_a_new_address(members):
    name = f"Named {uuid.uuid4().hex[:8]}"
    members.register_founding_member(member_input(name))
    with pytest.raises(BadUserInput) as refused:
        members.apply_for_membership(member_input(name))
    assert "name" in refused.value.fields


def test_a_withdrawn_or_rejected_members_address_may_be_used_again(members):
    address = f"fp-{uuid.uuid4().hex[:10]}@example.org"
    gone = members.register_founding_member(with_address(address))
    members.withdraw_membership(gone["id"])
    assert members.db.members.find_one({"_id": gone["id"]})["focal_key"] is None
    again = members.apply_for_membership(with_address(address.upper()))
    assert members.find_by_focal_point(address)["id"] == again["id"]

    members.handle(cancelled_admission(again["id"]))
    assert members.db.members.find_one({"_id": again["id"]})["status"] == "REJECTED"
    assert members.find_by_focal_point(address) is None
    third = members.register_founding_member(with_address(address))
    assert members.find_by_focal_point(address)["id"] == third["id"]


def test_find_by_focal_point_finds_an_acting_member_whatever_the_case(members):
    address = f"fp-{uuid.uuid4().hex[:10]}@example.org"
    candidate = members.apply_for_membership({**with_address(address), "language": "RU"})
    expected = {"id": candidate["id"], "status": "CANDIDATE", "language": "RU"}
    assert members.find_by_focal_point(address) == expected
    assert members.find_by_focal_point(f" {address.upper()} ") == expected
    members.handle(round_closed("MEMBERSHIP_ADMISSION", candidate["id"], "ADOPTED"))
    assert members.find_by_focal_point(address)["status"] == "ACTIVE"
    members.withdraw_membership(candidate["id"])
    assert members.find_by_focal_point(address) is None


@pytest.mark.parametrize("address", ["unknown-{}@example.org", None, 42, ["a@example.org"],
                                     {"$gt": ""}, "", "x" * 255])
def test_find_by_focal_point_answers_none_for_unknown_or_malformed_input(members, address):
    if isinstance(address, str) and "{}" in address:
        address = address.format(uuid.uuid4().hex)
    assert members.find_by_focal_point(address) is None


def test_find_by_focal_point_reads_one_index_entry(members):
    address = f"fp-{uuid.uuid4().hex[:10]}@example.org"
    members.register_founding_member(with_address(address))
    plan = members.db.members.find(dependencies.focal_point_query(address)).explain()
    stages = repr(plan["queryPlanner"])
    assert "IXSCAN" in stages and "'focal_point'" in stages and "COLLSCAN" not in stages
    assert plan["executionStats"]["totalDocsExamined"] == 1


def test_members_stored_without_a_focal_key_get_one_at_start_up_but_not_a_taken_one(members,
                                                                                   caplog):
    tag = uuid.uuid4().hex[:10]
    older = members.register_founding_member(with_address(f"Old-{tag}@example.org"))
    newer = members.register_founding_member(with_address(f"new-{tag}@example.org"))
    left = members.register_founding_member(with_address(f"left-{tag}@example.org"))
    members.withdraw_membership(left["id"])
    # as stored before the key existed: newer shares older's address
    members.db.members.update_many({"_id": {"$in": [older["id"], newer["id"], left["id"]]}},
                                   {"$unset": {"focal_key": ""}})
    members.db.members.update_one({"_id": newer["id"]},
                                  {"$set": {"focal_point.email": f"OLD-{tag}@example.org"}})
    store = SimpleNamespace(db=members.db)
    with caplog.at_level(logging.WARNING, logger="services.members.dependencies"):
        dependencies.backfill_focal_keys(store)
        dependencies.backfill_focal_keys(store)  # again: nothing more to do, the skip logged
    stored = {m["_id"]: m for m in members.db.members.find(
        {"_id": {"$in": [older["id"], newer["id"], left["id"]]}})}
    assert stored[older["id"]]["focal_key"] == f"old-{tag}@example.org"
    assert "focal_key" not in stored[newer["id"]] and "focal_key" not in stored[left["id"]]
    warnings = [r.getMessage() for r in caplog.records if newer["id"] in r.getMessage()]
    assert len(warnings) == 2
    assert not any(tag in r.getMessage() for r in caplog.records)
    assert members.find_by_focal_point(f"old-{tag}@example.org")["id"] == older["id"]
