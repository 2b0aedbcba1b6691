"""Opening a round (DOMAIN.md sections 2, 5 and 6): the snapshot, and a
consultation whose deadline passed before it could open."""
from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from services.common.events import validate_data
from services.common.explanations import sentence
from services.common.vocabulary import ConsultationKind, ConsultationStatus, Outcome
from services.consultations.domain import (
    Case, Tally, check_can_cancel, check_can_start_next_round, closed_round, closing,
    consultation_opened_data, deadline_passed, late_outcome, new_consultation, round_closed_data,
    snapshot)

ADOPTED, NO_QUORUM = Outcome.ADOPTED, Outcome.NO_QUORUM
CLOSED, OPEN = ConsultationStatus.CLOSED, ConsultationStatus.OPEN

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)


def test_snapshot_leaves_out_the_subject_and_sorts():
    assert snapshot(["c", "a", "b"], "b") == ["a", "c"]
    assert snapshot(["c", "a", "b"], None) == ["a", "b", "c"]
    assert snapshot(["a"], "a") == []
    assert snapshot([], "a") == []


@given(st.lists(st.sampled_from("abcdefgh")), st.one_of(st.none(), st.sampled_from("abcdefgh")))
def test_snapshot_is_every_voter_but_the_subject_once(voters, subject):
    result = snapshot(voters, subject)
    assert set(result) == set(voters) - {subject}
    assert len(result) == len(set(result)) and result == sorted(result)


def test_a_deadline_at_or_before_the_opening_has_passed():
    assert deadline_passed({"closes_at": NOW - timedelta(seconds=1)}, NOW)
    assert deadline_passed({"closes_at": NOW}, NOW)
    assert not deadline_passed({"closes_at": NOW + timedelta(milliseconds=1)}, NOW)


def test_a_late_round_is_no_quorum_and_says_why():
    result, (key, params) = late_outcome()
    assert result == NO_QUORUM
    assert (key, params) == ("late", {})
    assert sentence(key, params) == ("The deadline had passed before the round opened; no one "
                                     "could respond.")


def test_a_late_round_is_kept_with_its_sentence_and_its_reason():
    doc = {"round": 1, "proposal": "P", "rule": "CONSENSUS", "quorum": 0.5, "threshold": None,
           "round_opened_at": NOW}
    closed = closed_round(doc, Tally(eligible=3), NOW, late=True)
    assert closed["outcome"] == NO_QUORUM and closed["reason"] == {"key": "late", "params": {}}
    assert "deadline" in closed["explanation"]


def test_after_a_late_round_the_facilitator_can_go_on_or_cancel():
    closed = {"status": CLOSED, "outcome": late_outcome()[0]}
    check_can_start_next_round(closed)  # no Conflict
    check_can_cancel(closed)
    assert late_outcome()[0] not in (ADOPTED, OPEN)


# ---- what the round's events tell their readers ------------------------------------------

def consultation(**over):
    case = Case(ConsultationKind.GENERAL, "Budget 2027", "Adopt the budget.")
    doc = new_consultation("c1", case, NOW + timedelta(days=3), NOW, eligible=4)
    doc.update(over)
    return doc


def test_an_opened_round_is_announced_with_its_title_and_proposal():
    data = consultation_opened_data(consultation())
    assert (data["title"], data["proposal"], data["round"]) == ("Budget 2027", "Adopt the budget.", 1)
    validate_data("consultation_opened", data)


def test_a_closed_round_is_announced_with_its_title_and_why_it_closed_so():
    doc = consultation()
    tally = Tally(eligible=4, agree=2, block=1)
    closed = closed_round(doc, tally, NOW)
    doc.update(closing(closed, tally), rounds=[closed])
    data = round_closed_data(doc)
    assert data["title"] == "Budget 2027" and data["outcome"] == Outcome.BLOCKED
    assert data["explanation"] == {"key": "blocked", "params": {"block": 1}}
    assert closed["explanation"] == "Blocks: 1."
    assert validate_data("round_closed", data)["explanation"] == data["explanation"]


def test_a_round_closed_before_reasons_were_kept_is_announced_without_one():
    doc = consultation()
    closed = closed_round(doc, Tally(eligible=4), NOW)
    del closed["reason"]
    doc.update(closing(closed, Tally(eligible=4)), rounds=[closed])
    assert validate_data("round_closed", round_closed_data(doc))["explanation"] is None
