"""Every row of the lifecycle table of DOMAIN.md section 1, and every
illegal transition, as pure rules."""
from datetime import datetime, timezone

import pytest

from services.common.errors import BadUserInput, Conflict
from services.common.events import validate_data
from services.common.validation import load
from services.common.vocabulary import MemberStatus
from services.members import domain
from services.members.schemas import MemberInput, MemberView

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
DATA = {"name": "Asteria", "acronym": None, "org_type": "COMMUNITY_ORGANISATION",
        "countries": ["KG"], "region": "Central Asia", "constituencies": ["SEX_WORKERS"],
        "focal_point": {"name": "F", "email": "f@example.org", "phone": None}}

LEGAL = [
    ("CANDIDATE", "admit", "ACTIVE", "member_admitted"),
    ("CANDIDATE", "reject", "REJECTED", "member_rejected"),
    ("ACTIVE", "sign_mou", "ACTIVE", "mou_signed"),
    ("ACTIVE", "suspend", "SUSPENDED", "member_suspended"),
    ("SUSPENDED", "reinstate", "ACTIVE", "member_reinstated"),
    ("ACTIVE", "withdraw", "WITHDRAWN", "member_withdrawn"),
    ("SUSPENDED", "withdraw", "WITHDRAWN", "member_withdrawn"),
    ("CANDIDATE", "withdraw", "WITHDRAWN", "member_withdrawn"),
]
STATUSES = list(MemberStatus)


def member(status, mou=False):
    m = domain.new_member(DATA, NOW, founding=False)
    m.update(status=status, mou_signed_at=NOW if mou else None, _id="m1")
    return m


def test_founding_member_is_active_with_mou_and_can_vote():
    m = domain.new_member(DATA, NOW, founding=True)
    assert m["status"] == "ACTIVE" and m["mou_signed_at"] == NOW and domain.can_vote(m)
    assert m["history"][0]["status"] == "ACTIVE"


def test_applicant_is_candidate_and_cannot_vote():
    m = domain.new_member(DATA, NOW, founding=False)
    assert m["status"] == "CANDIDATE" and not domain.can_vote(m)


@pytest.mark.parametrize("start,action,end,event", LEGAL)
def test_legal_transitions(start, action, end, event):
    changes, entry, emitted = domain.transition(member(start), action, NOW, "note")
    assert changes["status"] == end and entry["status"] == end and emitted == event
    assert changes["revision"] == 2


ILLEGAL = [(s, a) for s in STATUSES for a in domain.MEMBER_LIFECYCLE.transitions
           if (s, a) not in {(row[0], row[1]) for row in LEGAL}]


@pytest.mark.parametrize("start,action", ILLEGAL)
def test_illegal_transitions_are_conflicts_naming_the_status(start, action):
    with pytest.raises(Conflict) as exc:
        domain.transition(member(start), action, NOW)
    assert start in str(exc.value)


def test_mou_twice_is_a_conflict():
    with pytest.raises(Conflict, match="already signed"):
        domain.transition(member("ACTIVE", mou=True), "sign_mou", NOW)


def test_can_vote_needs_active_and_mou():
    assert domain.can_vote(member("ACTIVE", mou=True))
    assert not domain.can_vote(member("ACTIVE"))
    assert not domain.can_vote(member("SUSPENDED", mou=True))


def test_rejection_frees_the_name():
    changes, _, _ = domain.transition(member("CANDIDATE"), "reject", NOW)
    assert changes["name_key"] is None


# ---- the focal point's address (DOMAIN.md section 1) -------------------------------------

def test_a_new_member_keeps_its_focal_point_address_stripped_and_casefolded():
    data = {**DATA, "focal_point": {**DATA["focal_point"], "email": " Fokal.Straße@Example.ORG "}}
    for founding in (True, False):
        m = domain.new_member(data, NOW, founding)
        assert m["focal_key"] == "fokal.strasse@example.org"
        assert m["focal_point"]["email"] == data["focal_point"]["email"]  # shown as given
        assert domain.focal_key_of(m) == m["focal_key"]


@pytest.mark.parametrize("start,action,end,event", LEGAL)
def test_only_a_member_that_stops_acting_frees_its_address(start, action, end, event):
    changes, _, _ = domain.transition(member(start), action, NOW)
    if end in domain.FOCAL_STATUSES:
        assert "focal_key" not in changes
    else:
        assert changes["focal_key"] is None


def test_no_transition_leads_back_to_an_acting_status_from_one_that_freed_its_address():
    """So only registration ever sets a focal_key."""
    for row in domain.MEMBER_LIFECYCLE.transitions.values():
        if row.target in domain.FOCAL_STATUSES:
            assert not (set(row.sources) - domain.FOCAL_STATUSES), row


@pytest.mark.parametrize("status,has_key", [(s, s in {"CANDIDATE", "ACTIVE", "SUSPENDED"})
                                            for s in STATUSES])
def test_the_key_a_stored_member_must_have_by_its_status(status, has_key):
    m = member(status)
    assert domain.focal_key_of(m) == ("f@example.org" if has_key else None)


@pytest.mark.parametrize("given,key", [
    ("A@Example.org", "a@example.org"), ("  a@example.org ", "a@example.org"),
    ("", None), ("   ", None), ("a" * 243 + "@example.org", None), (None, None), (42, None),
    ({"$gt": ""}, None), (["a@example.org"], None)])
def test_a_lookup_key_is_a_casefolded_text_or_none(given, key):
    assert domain.lookup_key(given) == key


def test_search_terms_are_casefolded_words():
    assert domain.search_terms("Tais Plus", "TP") == ["plus", "tais", "tp"]


# ---- its language (DOMAIN.md sections 1 and 7) ------------------------------------------

INPUT = {"name": "Asteria", "orgType": "COMMUNITY_ORGANISATION", "countries": ["kg"],
         "constituencies": ["SEX_WORKERS"], "focalPoint": {"name": "F", "email": "f@example.org"}}


@pytest.mark.parametrize("given,stored", [({}, "EN"), ({"language": None}, "EN"),
                                          ({"language": "RU"}, "RU")])
def test_a_member_is_stored_with_its_language_en_unless_chosen(given, stored):
    data = load(MemberInput(), {**INPUT, **given})
    m = domain.new_member(data, NOW, founding=False)
    assert m["language"] == stored
    assert domain.event_data({**m, "_id": "m1"})["language"] == stored


def test_a_language_that_is_not_offered_is_refused_naming_the_field():
    with pytest.raises(BadUserInput) as exc:
        load(MemberInput(), {**INPUT, "language": "FR"})
    assert "language" in exc.value.fields


def test_a_member_stored_before_languages_reads_en():
    old = member("ACTIVE")  # DATA has no language, as documents stored before
    assert "language" not in old
    assert domain.language_of(old) == "EN"
    assert MemberView().dump(old)["language"] == "EN"
    assert validate_data("mou_signed", domain.event_data(old))["language"] == "EN"
    assert domain.language_change(old, "EN") is None


@pytest.mark.parametrize("status", ["CANDIDATE", "ACTIVE", "SUSPENDED"])
def test_an_acting_member_changes_its_language_with_a_new_revision(status):
    m = member(status)
    assert domain.language_change(m, "RU") == {"language": "RU", "revision": m["revision"] + 1}
    assert domain.language_change(m, "EN") is None  # the language it has: nothing to change


@pytest.mark.parametrize("status", ["WITHDRAWN", "REJECTED"])
def test_a_member_that_left_cannot_change_its_language(status):
    with pytest.raises(Conflict) as exc:
        domain.language_change(member(status), "RU")
    assert status in str(exc.value)
