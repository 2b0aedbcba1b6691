"""The safety of members (DOMAIN.md section 11) in the members service on
its own: visibility, focal-point reads, the erasure of personal data and
the member's export, against the real store and broker
(tests/service/host.py)."""
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from services.common.errors import BadUserInput, Conflict, NotFound
from services.common.events import make_envelope
from services.members import dependencies, safety
from tests.support import announced, member_input

HOSTED = ("members",)
READER = "Secretariat Person"


@pytest.fixture(scope="module")
def members(host):
    return host.service("members")


def withdrawn(members, **overrides):
    found = members.register_founding_member(member_input(**overrides))
    return members.withdraw_membership(found["id"])


def reads_of(members, member_id):
    return list(members.db.focal_point_reads.find({"member_ids": member_id}))


# ---- visibility ---------------------------------------------------------------------------

def test_a_member_may_apply_members_only_and_the_public_list_leaves_it_out(members):
    tag = uuid.uuid4().hex[:8]
    hidden = members.apply_for_membership(member_input(f"Hidden {tag}",
                                                       visibility="MEMBERS_ONLY"))
    shown = members.apply_for_membership(member_input(f"Shown {tag}"))
    assert (hidden["visibility"], shown["visibility"]) == ("MEMBERS_ONLY", "PUBLIC")
    assert members.db.members.find_one({"_id": hidden["id"]})["visibility"] == "MEMBERS_ONLY"
    (event,) = announced(members.db, "membership_applied", member_id=hidden["id"])
    assert event["data"]["visibility"] == "MEMBERS_ONLY"

    public = members.list({"search": tag, "visibility": "PUBLIC"}, 50)
    assert [e["node"]["id"] for e in public["edges"]] == [shown["id"]]
    assert public["total_count"] == 1
    everyone = members.list({"search": tag}, 50)
    assert {e["node"]["id"] for e in everyone["edges"]} == {hidden["id"], shown["id"]}
    with pytest.raises(BadUserInput) as refused:
        members.list({"visibility": "NOBODY"}, 50)
    assert "visibility" in refused.value.fields


def test_the_public_list_reads_the_visibility_index(members):
    plan = members.db.members.find({"seq": {"$gt": 0, "$lte": 50}, "visibility": "PUBLIC"}) \
        .sort("seq", 1).explain()
    stages = repr(plan["queryPlanner"])
    assert "IXSCAN" in stages and "visibility" in stages and "COLLSCAN" not in stages


def test_a_visibility_set_is_stored_with_a_new_revision_and_announced_once(members):
    founder = members.register_founding_member(member_input())
    changed = members.set_visibility(founder["id"], "MEMBERS_ONLY")
    assert (changed["visibility"], changed["revision"]) == ("MEMBERS_ONLY", 2)
    stored = members.db.members.find_one({"_id": founder["id"]})
    assert (stored["visibility"], stored["revision"]) == ("MEMBERS_ONLY", 2)
    assert [h["status"] for h in stored["history"]] == ["ACTIVE"]  # no change of status
    (event,) = announced(members.db, "member_visibility_set", member_id=founder["id"])
    assert (event["data"]["visibility"], event["data"]["revision"]) == ("MEMBERS_ONLY", 2)

    assert members.set_visibility(founder["id"], "MEMBERS_ONLY") == changed  # nothing to do
    assert members.db.members.find_one({"_id": founder["id"]}) == stored
    assert len(announced(members.db, "member_visibility_set", member_id=founder["id"])) == 1


def test_a_member_that_left_may_still_change_its_visibility_but_not_to_anything(members):
    gone = withdrawn(members)
    assert members.set_visibility(gone["id"], "MEMBERS_ONLY")["visibility"] == "MEMBERS_ONLY"
    with pytest.raises(BadUserInput) as refused:
        members.set_visibility(gone["id"], "HIDDEN")
    assert "visibility" in refused.value.fields
    with pytest.raises(NotFound):
        members.set_visibility(uuid.uuid4().hex, "PUBLIC")


def test_members_stored_before_visibility_read_public_and_get_it_at_start_up(members):
    founder = members.register_founding_member(member_input())
    members.db.members.update_one({"_id": founder["id"]}, {"$unset": {"visibility": ""}})
    assert members.get(founder["id"])["visibility"] == "PUBLIC"
    store = SimpleNamespace(db=members.db)
    dependencies.backfill_visibility(store)
    dependencies.backfill_visibility(store)  # again: nothing to do
    stored = members.db.members.find_one({"_id": founder["id"]})
    assert (stored["visibility"], stored["revision"]) == ("PUBLIC", 1)
    assert members.db.members.count_documents({"visibility": {"$exists": False}}) == 0


# ---- who read a focal point -----------------------------------------------------------------

def test_reading_focal_points_answers_them_and_records_one_read_per_call(members):
    first = members.register_founding_member(member_input())
    second = members.apply_for_membership(member_input())
    unknown = uuid.uuid4().hex
    answer = members.read_focal_points([second["id"], unknown, first["id"], second["id"]],
                                       READER)
    assert answer == [{"id": second["id"], "focal_point": second["focal_point"]},
                      {"id": first["id"], "focal_point": first["focal_point"]}]
    (record,) = reads_of(members, first["id"])
    assert set(record) == {"_id", "at", "by", "member_ids"}  # never what was read
    assert record["by"] == READER and record["member_ids"] == [second["id"], first["id"]]
    assert reads_of(members, second["id"]) == [record]

    members.read_focal_points([first["id"]], "token-subject")
    assert len(reads_of(members, first["id"])) == 2
    assert len(reads_of(members, second["id"])) == 1


def test_no_read_is_recorded_when_no_focal_point_is_given(members):
    before = members.db.focal_point_reads.count_documents({})
    assert members.read_focal_points([], READER) == []
    assert members.read_focal_points([uuid.uuid4().hex], READER) == []
    assert members.db.focal_point_reads.count_documents({}) == before


@pytest.mark.parametrize("by", [None, "", "x" * 201, {"$gt": ""}])
def test_a_read_by_no_one_or_by_a_long_text_is_refused_and_gives_nothing(members, by):
    founder = members.register_founding_member(member_input())
    with pytest.raises(BadUserInput) as refused:
        members.read_focal_points([founder["id"]], by)
    assert "by" in refused.value.fields
    assert reads_of(members, founder["id"]) == []


def test_reads_are_answered_newest_first_and_at_most_500_per_member(members):
    founder = members.register_founding_member(member_input())
    other = members.register_founding_member(member_input())
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    members.db.focal_point_reads.insert_many([
        {"_id": uuid.uuid4().hex, "at": start + timedelta(minutes=i), "by": f"reader {i}",
         "member_ids": [founder["id"]]} for i in range(dependencies.MAX_READS_PER_MEMBER + 1)])
    members.read_focal_points([other["id"], founder["id"]], READER)
    unknown = uuid.uuid4().hex
    reads = members.focal_point_reads_many([founder["id"], other["id"], unknown])
    assert set(reads) == {founder["id"], other["id"], unknown}
    assert len(reads[founder["id"]]) == dependencies.MAX_READS_PER_MEMBER
    assert reads[founder["id"]][0]["by"] == READER  # the newest
    assert reads[founder["id"]][1] == {
        "at": (start + timedelta(minutes=500)).isoformat(), "by": "reader 500"}
    assert reads[founder["id"]][-1]["by"] == "reader 2"  # reader 0 and 1: beyond the cap
    assert [r["by"] for r in reads[other["id"]]] == [READER]
    assert reads[unknown] == []
    assert members.focal_point_reads_many([]) == {}


def test_reads_of_too_many_members_at_once_are_refused(members):
    with pytest.raises(BadUserInput):
        members.read_focal_points([str(i) for i in range(safety.MAX_IDS + 1)], READER)


# ---- erasure ------------------------------------------------------------------------------

def test_erasing_an_acting_or_unknown_member_is_refused_and_changes_nothing(members):
    founder = members.register_founding_member(member_input())
    before = members.db.members.find_one({"_id": founder["id"]})
    with pytest.raises(Conflict) as refused:
        members.erase_member_data(founder["id"], READER)
    assert "ACTIVE" in refused.value.message
    assert members.db.members.find_one({"_id": founder["id"]}) == before
    assert announced(members.db, "member_data_erased", member_id=founder["id"]) == []
    with pytest.raises(NotFound):
        members.erase_member_data(uuid.uuid4().hex, READER)
    with pytest.raises(BadUserInput):
        members.erase_member_data(founder["id"], "")


def test_an_erasure_removes_the_focal_point_and_kept_answers_and_is_kept_once(members):
    found = members.register_founding_member(member_input())
    request = f"test-{uuid.uuid4().hex}"
    gone = members.named(request).withdraw_membership(found["id"])  # a kept answer
    assert members.db.requests.count_documents({"result._id": found["id"]}) == 1

    erased = members.erase_member_data(found["id"], READER)
    member = erased["member"]
    assert member["focal_point"] is None and member["erased_at"] is not None
    assert (member["status"], member["revision"]) == ("WITHDRAWN", gone["revision"] + 1)
    assert member["history"][-1]["note"] == "Personal data erased"
    assert member["history"][-1]["status"] == "WITHDRAWN"
    assert erased["removed"] == [
        "the focal point's name, e-mail address and phone from the member's record",
        "1 kept answer of an earlier request"]
    stored = members.db.members.find_one({"_id": found["id"]})
    assert stored["focal_point"] is None and stored["erased_by"] == READER
    assert stored["name"] == found["name"]  # the organisation stays accountable
    assert members.db.requests.count_documents({"result._id": found["id"]}) == 0
    # its repeat is no longer answered with the focal point: it runs again, and is refused
    with pytest.raises(Conflict):
        members.named(request).withdraw_membership(found["id"])
    (event,) = announced(members.db, "member_data_erased", member_id=found["id"])
    assert (event["data"]["note"], event["data"]["revision"]) == ("Personal data erased",
                                                                  member["revision"])
    assert found["focal_point"]["email"] not in repr(event)

    again = members.erase_member_data(found["id"], "cli")
    assert again["removed"] == [] and again["member"] == member
    assert members.db.members.find_one({"_id": found["id"]}) == stored
    assert len(announced(members.db, "member_data_erased", member_id=found["id"])) == 1
    assert members.get(found["id"])["focal_point"] is None
    assert members.read_focal_points([found["id"]], READER) == [
        {"id": found["id"], "focal_point": None}]
    assert reads_of(members, found["id"]) == []  # nothing was given out


def test_a_rejected_member_may_be_erased_and_erased_ids_lists_erasures_in_order(members):
    candidate = members.apply_for_membership(member_input())
    members.handle(make_envelope("consultation_cancelled", {
        "consultation_id": uuid.uuid4().hex, "kind": "MEMBERSHIP_ADMISSION",
        "subject_id": candidate["id"], "reason": "Withdrawn by the secretariat"},
        source="consultations"))
    left = withdrawn(members)
    assert candidate["id"] not in members.erased_ids()
    members.erase_member_data(candidate["id"], READER)
    members.erase_member_data(left["id"], READER)
    ids = members.erased_ids()
    assert ids.index(candidate["id"]) < ids.index(left["id"])
    assert members.get(candidate["id"])["status"] == "REJECTED"


# ---- the member's export --------------------------------------------------------------------

def test_the_export_holds_the_record_and_the_reads_without_other_members(members):
    found = members.register_founding_member(member_input(visibility="MEMBERS_ONLY"))
    other = members.register_founding_member(member_input())
    members.read_focal_points([found["id"], other["id"]], READER)
    exported = members.member_data(found["id"])
    assert set(exported) == {"members", "focal_point_reads"}
    (record,) = exported["members"]
    assert record["id"] == found["id"] and record["visibility"] == "MEMBERS_ONLY"
    assert record["focal_point"] == found["focal_point"]
    assert record["history"][0]["at"] == found["history"][0]["at"]
    assert "focal_key" not in record and "seq" not in record
    (read,) = exported["focal_point_reads"]
    assert set(read) == {"id", "at", "by"} and read["by"] == READER
    assert other["id"] not in repr(exported)


@pytest.mark.parametrize("member_id", ["unknown", {"$gt": ""}, None, 42])
def test_the_export_of_no_member_is_empty(members, member_id):
    assert members.member_data(member_id) == {"members": [], "focal_point_reads": []}
