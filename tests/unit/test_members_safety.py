"""The safety of members (DOMAIN.md section 11) as pure rules: visibility,
erasure, what an erasure says it removed, the export's declarations, the
erasure across services (services/common/erasure.py) and the file
`coalition erasures replay` reads."""
import io
from datetime import datetime, timezone

import pytest

from services.cli_erasures import ids_in
from services.common import erasure
from services.common.errors import BadUserInput, Conflict, NotFound
from services.common.events import validate_data
from services.common.validation import load
from services.common.vocabulary import MemberStatus
from services.members import dependencies, domain, safety
from services.members.schemas import ListFilter, MemberInput, MemberView, member_view

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
FOCAL_POINT = {"name": "F", "email": "f@example.org", "phone": None}
INPUT = {"name": "Asteria", "orgType": "COMMUNITY_ORGANISATION", "countries": ["KG"],
         "constituencies": ["SEX_WORKERS"], "focalPoint": FOCAL_POINT}


def member(status, **fields):
    data = {"name": "Asteria", "acronym": None, "org_type": "COMMUNITY_ORGANISATION",
            "countries": ["KG"], "region": None, "constituencies": ["SEX_WORKERS"],
            "focal_point": dict(FOCAL_POINT)}
    return {**domain.new_member(data, NOW, founding=False), "_id": "m1", "status": status,
            **fields}


# ---- visibility -------------------------------------------------------------------------

@pytest.mark.parametrize("given,stored", [({}, "PUBLIC"), ({"visibility": None}, "PUBLIC"),
                                          ({"visibility": "MEMBERS_ONLY"}, "MEMBERS_ONLY")])
def test_a_member_is_stored_public_unless_it_chooses_members_only(given, stored):
    data = load(MemberInput(), {**INPUT, **given})
    assert data["visibility"] == stored
    m = {**domain.new_member(data, NOW, founding=True), "_id": "m1"}
    assert m["visibility"] == stored
    assert member_view(m)["visibility"] == stored
    assert validate_data("member_registered", domain.event_data(m))["visibility"] == stored


@pytest.mark.parametrize("bad", ["SECRET", "public", 1, {"$ne": ""}])
def test_a_visibility_that_is_not_offered_is_refused_naming_the_field(bad):
    with pytest.raises(BadUserInput) as refused:
        load(MemberInput(), {**INPUT, "visibility": bad})
    assert "visibility" in refused.value.fields
    with pytest.raises(BadUserInput):
        load(ListFilter(), {"visibility": bad})


def test_a_member_stored_before_visibility_reads_public_and_is_announced_so():
    old = member("ACTIVE")
    old.pop("visibility", None)
    assert domain.visibility_of(old) == "PUBLIC"
    view = MemberView().dump(old)
    assert (view["visibility"], view["erased_at"]) == ("PUBLIC", None)
    assert validate_data("mou_signed", domain.event_data(old))["visibility"] == "PUBLIC"
    assert domain.visibility_change(old, "PUBLIC") is None


@pytest.mark.parametrize("status", list(MemberStatus))
def test_any_member_changes_its_visibility_with_a_new_revision(status):
    m = member(status)
    changed = domain.visibility_change(m, "MEMBERS_ONLY")
    assert changed == {"visibility": "MEMBERS_ONLY", "revision": m["revision"] + 1}
    m.update(changed)
    assert domain.visibility_change(m, "MEMBERS_ONLY") is None
    data = validate_data("member_visibility_set", domain.event_data(m))
    assert (data["visibility"], data["revision"]) == ("MEMBERS_ONLY", 2)
    assert "focal_point" not in domain.event_data(m)


def test_the_list_filters_by_visibility():
    assert dependencies.list_query(load(ListFilter(), {"visibility": "PUBLIC"})) == {
        "visibility": "PUBLIC"}
    assert "visibility" not in dependencies.list_query(load(ListFilter(), {}))


# ---- erasure ------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["ACTIVE", "CANDIDATE", "SUSPENDED"])
def test_erasing_an_acting_member_is_a_conflict_naming_its_status(status):
    with pytest.raises(Conflict) as refused:
        domain.erasure(member(status), NOW, "Secretariat Person")
    assert status in refused.value.message
    assert "REJECTED or WITHDRAWN" in refused.value.message


@pytest.mark.parametrize("status", ["WITHDRAWN", "REJECTED"])
def test_a_first_erasure_removes_the_focal_point_and_is_kept_in_the_history(status):
    m = member(status)
    changes, entry = domain.erasure(m, NOW, "Secretariat Person")
    assert changes == {"focal_point": None, "erased_at": NOW, "erased_by": "Secretariat Person",
                       "revision": m["revision"] + 1}
    assert entry == {"at": NOW, "status": status, "note": "Personal data erased"}
    m.update(changes)
    view = member_view(m)
    assert (view["focal_point"], view["erased_at"]) == (None, NOW.isoformat())
    assert domain.erasure(m, NOW, "someone else") == (None, None)  # nothing left to erase
    data = validate_data("member_data_erased", domain.event_data(m, entry["note"]))
    assert (data["status"], data["note"]) == (status, "Personal data erased")


def test_an_erased_member_whose_focal_point_came_back_loses_it_without_a_new_entry():
    """As after a restored backup of the record only: erased once, then a focal point."""
    m = member("WITHDRAWN", erased_at=NOW, erased_by="cli")
    changes, entry = domain.erasure(m, NOW, "cli")
    assert changes == {"focal_point": None, "revision": m["revision"] + 1}
    assert entry is None


@pytest.mark.parametrize("changes,kept,words", [
    ({"focal_point": None}, 0, [domain.FOCAL_POINT_REMOVED]),
    ({"focal_point": None}, 3, [domain.FOCAL_POINT_REMOVED, "3 kept answers of earlier requests"]),
    (None, 1, ["1 kept answer of an earlier request"]),
    (None, 0, []),
])
def test_an_erasure_says_what_it_removed_in_words(changes, kept, words):
    assert domain.removed_words(changes, kept) == words


def test_kept_answers_are_found_by_the_member_they_hold():
    assert dependencies.kept_answers_query("m1") == {
        "$or": [{"result._id": "m1"}, {"result.id": "m1"}]}


# ---- who asks, and for whom ---------------------------------------------------------------

@pytest.mark.parametrize("bad", [None, "", "   ", 42, {"$gt": ""}, "x" * 201, "a\x00b"])
def test_who_reads_or_erases_is_a_short_text(bad):
    with pytest.raises(BadUserInput) as refused:
        safety.by_of(bad)
    assert "by" in refused.value.fields


def test_who_reads_is_stripped():
    assert safety.by_of("  Secretariat Person ") == "Secretariat Person"
    assert safety.by_of("x" * 200) == "x" * 200


def test_member_ids_are_cleaned_and_bounded():
    assert safety.member_ids_of(["a", "a", 3, {"$gt": ""}, "", "b"]) == ["a", "b"]
    assert safety.member_ids_of("a") == []
    assert len(safety.member_ids_of([str(i) for i in range(safety.MAX_IDS)])) == safety.MAX_IDS
    with pytest.raises(BadUserInput):
        safety.member_ids_of([str(i) for i in range(safety.MAX_IDS + 1)])


# ---- the export's declarations -------------------------------------------------------------

def test_the_export_describes_every_field_of_the_member_and_of_its_reads():
    parts = {part.collection: part for part in dependencies.MEMBER_DATA}
    assert set(parts) == {"members", "focal_point_reads"}
    computed = {"can_vote"}  # from status and mou_signed_at, both exported
    assert set(MemberView().fields) - computed <= set(parts["members"].fields)
    assert set(parts["focal_point_reads"].fields) == {"id", "at", "by"}  # never other members
    for part in parts.values():
        for name, meaning in part.fields.items():
            assert meaning.endswith(".") and len(meaning) > 15, (part.collection, name)
    assert parts["members"].query("m1") == {"_id": "m1"}
    assert parts["focal_point_reads"].query("m1") == {"member_ids": "m1"}


# ---- the erasure across services ----------------------------------------------------------

class Calls:
    """A call(service, method, *args) that answers from `answers` and records."""

    def __init__(self, answers, failing=None):
        self.answers, self.failing, self.made = answers, failing, []

    def __call__(self, service, method, *args):
        self.made.append((service, method, *args))
        if self.failing == service:
            raise NotFound("No member with id 'm1'.")
        return self.answers[service]


def test_erase_asks_members_first_then_each_step_and_joins_what_they_removed():
    calls = Calls({"members": {"member": {"id": "m1"}, "removed": ["the focal point"]},
                   "notifications": ["2 mails"], "accounts": []})
    view, removed = erasure.erase(calls, "m1", "Secretariat Person")
    assert view == {"id": "m1"}
    assert removed == ["the focal point", "2 mails"]
    assert calls.made == [("members", "erase_member_data", "m1", "Secretariat Person"),
                          ("notifications", "erase_member_data", "m1"),
                          ("accounts", "erase_member_data", "m1")]


def test_erase_stops_at_a_refusal_of_members_before_any_other_service():
    calls = Calls({}, failing="members")
    with pytest.raises(NotFound):
        erasure.erase(calls, "m1", "cli")
    assert [c[0] for c in calls.made] == ["members"]


def test_the_replay_file_gives_ids_once_without_blanks_or_comments():
    text = "# erased before the restore\n\n  m1  \nm2\n# m3\nm1\n\t\n"
    assert ids_in(io.StringIO(text)) == ["m1", "m2"]
