"""Opening a round (DOMAIN.md sections 2, 5 and 6): the snapshot, and a
consultation whose deadline passed before it could open."""
from datetime import datetime, timedelta, timezone

from hypothesis import given, strategies as st

from services.common.vocabulary import ConsultationStatus, Outcome
from services.consultations.domain import (
    check_can_cancel, check_can_start_next_round, deadline_passed, late_outcome, snapshot)

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
    result, explanation = late_outcome()
    assert result == NO_QUORUM
    assert "deadline" in explanation


def test_after_a_late_round_the_facilitator_can_go_on_or_cancel():
    closed = {"status": CLOSED, "outcome": late_outcome()[0]}
    check_can_start_next_round(closed)  # no Conflict
    check_can_cancel(closed)
    assert late_outcome()[0] not in (ADOPTED, OPEN)
