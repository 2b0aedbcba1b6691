"""The outcome rules of DOMAIN.md section 2, exhaustively and by property."""
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

from services.common.events import Explanation
from services.common.explanations import sentence
from services.common.vocabulary import DecisionRule, Outcome
from services.consultations.domain import (
    Tally, apply_stance, explain, explanation, outcome, quorum_reached, required_responses)

ADOPTED, BLOCKED, NO_QUORUM, NOT_ADOPTED = (Outcome.ADOPTED, Outcome.BLOCKED, Outcome.NO_QUORUM,
                                            Outcome.NOT_ADOPTED)
CONSENSUS, MODIFIED_CONSENSUS = DecisionRule.CONSENSUS, DecisionRule.MODIFIED_CONSENSUS


def T(eligible, agree=0, reservations=0, stand_aside=0, block=0):
    return Tally(eligible, agree, reservations, stand_aside, block)


@pytest.mark.parametrize("tally,quorum,expected", [
    (T(10, agree=4), 0.5, NO_QUORUM),           # 4 < ceil(5)
    (T(10, agree=5), 0.5, ADOPTED),
    (T(3, agree=1), 0.5, NO_QUORUM),            # ceil(1.5) = 2
    (T(3, agree=2), 0.5, ADOPTED),
    (T(10, agree=7), 0.7, ADOPTED),             # exact: 0.7 * 10 is 7, not 7.000000000000001
    (T(10, agree=6), 0.7, NO_QUORUM),
    (T(3, agree=1), 0.34, NO_QUORUM),           # ceil(1.02) = 2
    (T(1, agree=1), 1.0, ADOPTED),
])
def test_quorum_uses_exact_ceiling(tally, quorum, expected):
    assert outcome(tally, CONSENSUS, quorum) == expected


def test_required_responses_exact():
    assert required_responses(0.7, 10) == 7
    assert required_responses(0.1, 30) == 3
    assert required_responses(0.5, 0) == 0


def test_any_block_blocks_under_consensus():
    assert outcome(T(10, agree=9, block=1)) == BLOCKED
    assert outcome(T(10, agree=5, reservations=4, block=1)) == BLOCKED


def test_reservations_count_as_consent():
    assert outcome(T(4, reservations=4)) == ADOPTED
    assert outcome(T(4, agree=1, stand_aside=3)) == ADOPTED


def test_everyone_stood_aside_is_not_adopted():
    assert outcome(T(4, stand_aside=4)) == NOT_ADOPTED
    assert outcome(T(4, stand_aside=4), MODIFIED_CONSENSUS, 0.5, 0.75) == NOT_ADOPTED


def test_zero_eligible_is_not_adopted():
    assert outcome(T(0)) == NOT_ADOPTED
    assert outcome(T(0), MODIFIED_CONSENSUS, 0.5, 0.75) == NOT_ADOPTED


def test_no_quorum_comes_before_block():
    assert outcome(T(10, block=1)) == NO_QUORUM


@pytest.mark.parametrize("tally,threshold,expected", [
    (T(10, agree=6, block=2), 0.75, ADOPTED),                   # 6/8 = 0.75 >= 0.75
    (T(10, agree=5, block=2), 0.75, BLOCKED),                   # 5/7 < 0.75
    (T(10, agree=3, reservations=3, stand_aside=2, block=2), 0.75, ADOPTED),  # 6/8
    (T(10, agree=2, stand_aside=2, block=1), 0.66, ADOPTED),    # 2/3 = 0.666.. >= 0.66
    (T(10, agree=2, stand_aside=2, block=1), 0.67, BLOCKED),
    (T(4, agree=2, block=1), 2 / 3, ADOPTED),                   # float threshold 0.666..67 vs 2/3
])
def test_modified_consensus_threshold_over_responded_minus_stand_aside(tally, threshold, expected):
    assert outcome(tally, MODIFIED_CONSENSUS, 0.5, threshold) == expected


def test_explanations_name_the_reason():
    assert "needed for quorum" in explain(T(10, agree=1), CONSENSUS, 0.5)
    assert "Blocks" in explain(T(2, agree=1, block=1), CONSENSUS, 0.5)
    assert "threshold" in explain(T(4, agree=1, block=3), MODIFIED_CONSENSUS, 0.5, 0.75)


@pytest.mark.parametrize("tally,rule,quorum,threshold,key,params,text", [
    (T(10, agree=1), CONSENSUS, 0.5, None, "no_quorum",
     {"responded": 1, "eligible": 10, "needed": 5},
     "1 of 10 responded; 5 were needed for quorum."),
    (T(3, agree=1, block=2), CONSENSUS, 0.5, None, "blocked", {"block": 2}, "Blocks: 2."),
    (T(4, agree=1, block=3), MODIFIED_CONSENSUS, 0.5, 0.75, "below_threshold",
     {"consenting": 1, "deciding": 4, "threshold": 0.75},
     "1 of 4 consented, below the threshold of 0.75."),
    (T(4, stand_aside=4), CONSENSUS, 0.5, None, "none_consented", {},
     "No one consented: every response was a stand-aside."),
    (T(4, agree=2, reservations=1), CONSENSUS, 0.5, None, "adopted",
     {"agree": 2, "reservations": 1}, "Adopted with 2 agree and 1 with reservations."),
])
def test_an_explanation_is_a_key_and_its_numbers_said_as_before(tally, rule, quorum, threshold,
                                                                 key, params, text):
    """The API's sentence is the explanation's English sentence: the same
    words as before keys existed, but the BLOCKED one ("Blocks: N.")."""
    assert explanation(tally, rule, quorum, threshold) == (key, params)
    assert sentence(key, params) == explain(tally, rule, quorum, threshold) == text


def test_apply_stance_counters():
    assert apply_stance(None, "AGREE") == {"agree": 1}
    assert apply_stance("AGREE", "BLOCK") == {"agree": -1, "block": 1}
    assert apply_stance("AGREE", "AGREE") == {}


def test_tally_from_counter_shards():
    shards = [apply_stance(None, "AGREE"), apply_stance(None, "BLOCK"), {},
              {"agree": 2, "stand_aside": 1}, apply_stance("AGREE", "RESERVATIONS")]
    tally = Tally.from_counters(10, shards)
    assert tally == Tally(eligible=10, agree=2, reservations=1, stand_aside=1, block=1)
    assert tally.responded == 5
    assert Tally.from_counters(3, []) == Tally(eligible=3)


# ---- properties over random tallies -------------------------------------------------

tallies = st.integers(min_value=0, max_value=400).flatmap(lambda eligible: st.tuples(
    st.just(eligible), st.lists(st.sampled_from(["a", "r", "s", "b"]), max_size=eligible)))
quorums = st.sampled_from([0.1, 0.25, 1 / 3, 0.5, 0.51, 2 / 3, 0.7, 0.75, 0.9, 1.0])
thresholds = st.sampled_from([0.51, 0.6, 2 / 3, 0.7, 0.75, 0.8, 0.9, 1.0])


def build(spec):
    eligible, stances = spec
    return T(eligible, stances.count("a"), stances.count("r"), stances.count("s"), stances.count("b"))


def reference(t, rule, quorum, threshold):
    """The rulebook, written out again independently with Fractions."""
    need = math.ceil(Fraction(str(quorum)) * t.eligible)
    if t.responded < need:
        return NO_QUORUM
    yes = t.agree + t.reservations
    if rule == CONSENSUS and t.block:
        return BLOCKED
    if rule == MODIFIED_CONSENSUS:
        if t.responded - t.stand_aside == 0:
            return NOT_ADOPTED
        if Fraction(yes, t.responded - t.stand_aside) < Fraction(str(threshold)):
            return BLOCKED
    return NOT_ADOPTED if yes == 0 else ADOPTED


@settings(max_examples=600, deadline=None)
@given(tallies, quorums, thresholds, st.sampled_from([CONSENSUS, MODIFIED_CONSENSUS]))
def test_outcome_matches_the_rulebook(spec, quorum, threshold, rule):
    t = build(spec)
    assert outcome(t, rule, quorum, threshold) == reference(t, rule, quorum, threshold)


@settings(max_examples=300, deadline=None)
@given(tallies, quorums)
def test_consensus_properties(spec, quorum):
    t = build(spec)
    result = outcome(t, CONSENSUS, quorum)
    if result == ADOPTED:
        assert t.block == 0 and t.agree + t.reservations > 0 and quorum_reached(t, quorum)
    if t.block and quorum_reached(t, quorum):
        assert result == BLOCKED
    # one more AGREE never turns an ADOPTED round into something else
    if result == ADOPTED and t.responded < t.eligible:
        more = T(t.eligible, t.agree + 1, t.reservations, t.stand_aside, t.block)
        assert outcome(more, CONSENSUS, quorum) == ADOPTED


@settings(max_examples=300, deadline=None)
@given(tallies, quorums, thresholds)
def test_modified_consensus_is_monotone_in_blocks(spec, quorum, threshold):
    t = build(spec)
    if t.block and outcome(t, MODIFIED_CONSENSUS, quorum, threshold) == ADOPTED:
        fewer = T(t.eligible, t.agree + 1, t.reservations, t.stand_aside, t.block - 1)
        assert outcome(fewer, MODIFIED_CONSENSUS, quorum, threshold) == ADOPTED


KEY_OF_OUTCOME = {ADOPTED: {"adopted"}, BLOCKED: {"blocked", "below_threshold"},
                  NO_QUORUM: {"no_quorum"}, NOT_ADOPTED: {"none_consented"}}


@settings(max_examples=300, deadline=None)
@given(tallies, quorums, thresholds, st.sampled_from([CONSENSUS, MODIFIED_CONSENSUS]))
def test_every_explanation_fits_its_outcome_and_its_sentence(spec, quorum, threshold, rule):
    """Each outcome is explained by a sentence of its own, whose every
    placeholder the params fill, and which the round_closed event accepts."""
    t = build(spec)
    key, params = explanation(t, rule, quorum, threshold)
    assert key in KEY_OF_OUTCOME[outcome(t, rule, quorum, threshold)]
    assert sentence(key, params)  # no placeholder left without its number
    Explanation().load({"key": key, "params": params})
