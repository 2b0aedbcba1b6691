"""The rules of services/gateway/disclosure.py on their own (no GraphQL, no
services): who may learn of a member, what a list asks, which allocations
are left out and their totals, how a consultation is redacted, and who a
focal point's reader is. The gateway applying them is
tests/unit/test_gateway_member_safety.py."""
from decimal import Decimal

from services.common.vocabulary import UNDISCLOSED_MEMBER
from services.gateway import disclosure
from services.gateway.auth import Viewer
from services.gateway.disclosure import (UNDISCLOSED_PROPOSAL, beneficiary, hides, keeps_member,
                                         listed_filters, reader, redact_hidden, redacted,
                                         sees_focal_point, split_allocations, undisclosed_totals,
                                         viewer_of, visibility)

ADMIN = Viewer(role="ADMIN", sub="ops", name="Ana Secretariat")
MEMBER = Viewer(role="MEMBER", member_id="m1", sub="focal-point:m1")
ANONYMOUS = Viewer()
PUBLIC = {"id": "m1", "visibility": "PUBLIC"}
HIDDEN = {"id": "m2", "visibility": "MEMBERS_ONLY"}


def test_only_anonymous_viewers_have_members_hidden_from_them():
    assert hides(ANONYMOUS)
    assert not hides(ADMIN) and not hides(MEMBER)


def test_a_members_only_member_is_kept_from_anonymous_only():
    assert keeps_member(ANONYMOUS, PUBLIC)
    assert not keeps_member(ANONYMOUS, HIDDEN)
    assert keeps_member(MEMBER, HIDDEN) and keeps_member(ADMIN, HIDDEN)


def test_a_view_without_visibility_is_public():
    assert visibility({"id": "m3"}) == "PUBLIC"
    assert keeps_member(ANONYMOUS, {"id": "m3"})


def test_the_members_list_asks_public_members_only_for_anonymous():
    assert listed_filters(ANONYMOUS, {"status": "ACTIVE"}) == {"status": "ACTIVE",
                                                               "visibility": "PUBLIC"}
    assert listed_filters(ADMIN, {"status": "ACTIVE"}) == {"status": "ACTIVE"}
    assert listed_filters(MEMBER, {}) == {}


def test_a_context_without_a_viewer_is_anonymous():
    assert viewer_of(object()) == ANONYMOUS
    assert viewer_of(type("Ctx", (), {"viewer": ADMIN})()) is ADMIN


ALLOCATIONS = [
    {"id": "a1", "member_id": "m1", "amount": "100000.00"},
    {"id": "a2", "member_id": "m2", "amount": "86454.20"},
    {"id": "a3", "member_id": "m2", "amount": "0.10"},
    {"id": "a4", "member_id": "m3", "amount": "0.20"},
]


def test_allocations_split_by_the_members_visible():
    shown, left_out = split_allocations(ALLOCATIONS, {"m1", "m3"})
    assert [a["id"] for a in shown] == ["a1", "a4"]
    assert [a["id"] for a in left_out] == ["a2", "a3"]
    assert split_allocations(ALLOCATIONS, ["m1", "m2", "m3"])[1] == []


def test_undisclosed_totals_are_exact_decimals():
    count, amount = undisclosed_totals(ALLOCATIONS[1:])
    assert count == 3 and amount == Decimal("86454.50") and isinstance(amount, Decimal)
    assert str(undisclosed_totals([ALLOCATIONS[2], ALLOCATIONS[3]])[1]) == "0.30"  # not 0.30000000000000004
    assert undisclosed_totals([]) == (0, Decimal("0.00"))
    assert str(undisclosed_totals([])[1]) == "0.00"


ADMISSION = {"id": "c1", "kind": "MEMBERSHIP_ADMISSION", "title": "Admission: Secret Org",
             "proposal": "Admit Secret Org (KZ, sex workers).", "subject_id": "m2",
             "beneficiary_id": "m2", "rounds": [
                 {"number": 1, "proposal": "Admit Secret Org.", "outcome": "BLOCKED"}]}
ALLOCATION = {"id": "c2", "kind": "GRANT_ALLOCATION", "title": "Allocation: USD 1 to Secret Org",
              "proposal": "Give Secret Org USD 1.", "subject_id": "a2", "beneficiary_id": "m2",
              "rounds": []}
GENERAL = {"id": "c3", "kind": "GENERAL", "title": "Strategy", "proposal": "Adopt it.",
           "subject_id": None, "beneficiary_id": None, "rounds": []}


def test_the_member_a_consultation_is_about():
    assert beneficiary(ADMISSION) == "m2" and beneficiary(ALLOCATION) == "m2"
    assert beneficiary(GENERAL) is None
    # a view from before beneficiary_id: an admission's or suspension's subject is the member
    assert beneficiary({**ADMISSION, "beneficiary_id": None}) == "m2"
    assert beneficiary({"kind": "MEMBER_SUSPENSION", "subject_id": "m4"}) == "m4"
    assert beneficiary({**ALLOCATION, "beneficiary_id": None}) is None


def test_a_redacted_consultation_names_no_member():
    out = redacted(ADMISSION)
    assert out["title"] == f"Admission: {UNDISCLOSED_MEMBER}"
    assert out["title"] == "Admission: Undisclosed member organisation"
    assert out["proposal"] == UNDISCLOSED_PROPOSAL == "About an undisclosed member organisation."
    assert out["subject_id"] is None and out["beneficiary_id"] is None
    assert out["rounds"] == [{"number": 1, "proposal": UNDISCLOSED_PROPOSAL, "outcome": "BLOCKED"}]
    assert "Secret" not in repr(out)
    assert redacted(ALLOCATION)["title"] == "Allocation: Undisclosed member organisation"
    assert redacted({**ADMISSION, "kind": "MEMBER_SUSPENSION"})["title"].startswith("Suspension: ")
    assert ADMISSION["title"] == "Admission: Secret Org"  # the view itself is left as it was


def test_only_consultations_about_a_hidden_member_are_redacted():
    out = redact_hidden([ADMISSION, ALLOCATION, GENERAL], visible={"m1"})
    assert [c["title"] for c in out] == ["Admission: Undisclosed member organisation",
                                         "Allocation: Undisclosed member organisation",
                                         "Strategy"]
    assert redact_hidden([ADMISSION, GENERAL], visible={"m2"}) == [ADMISSION, GENERAL]


def test_who_reads_a_focal_point():
    assert reader(ADMIN) == "Ana Secretariat"
    assert reader(Viewer(role="ADMIN", sub="ops")) == "ops"
    assert reader(Viewer(role="ADMIN")) == disclosure.SECRETARIAT_READER == "secretariat"
    assert len(reader(Viewer(role="ADMIN", name="x" * 300))) == disclosure.READER_LENGTH


def test_a_focal_point_and_its_reads_are_for_admin_and_the_member_itself():
    assert sees_focal_point(ADMIN, "m2")
    assert sees_focal_point(MEMBER, "m1") and not sees_focal_point(MEMBER, "m2")
    assert not sees_focal_point(ANONYMOUS, "m1")
