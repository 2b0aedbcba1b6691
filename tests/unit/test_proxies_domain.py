"""The pure rules of DOMAIN.md section 9 (services/consultations/proxies.py
and the hidden-results part of services/consultations/domain.py), each on
its own: who may offer, accept, decline, revoke and use a proxy, what each
change writes and announces, and what a hidden round lets out."""
from datetime import datetime, timezone

import pytest
from marshmallow import ValidationError

from services.common import config
from services.common.errors import BadUserInput, Conflict, Forbidden
from services.common.events import PROXY_EVENTS, PROXY_NOTICES, make_envelope
from services.common.vocabulary import (
    HELD_PROXY, LIVE_PROXY, ConsultationKind, ConsultationStatus, ProxyStatus, ResultsVisibility)
from services.consultations import domain, proxies

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
G, H, S, X = "granter", "holder", "subject", "outsider"
ALL_STATUSES = list(ProxyStatus)


def consultation(**overrides):
    return {"_id": "c1", "round": 2, "title": "Strategy", "status": ConsultationStatus.OPEN,
            "results_visibility": ResultsVisibility.OPEN, **overrides}


def proxy(status=ProxyStatus.OFFERED, **overrides):
    return {**proxies.new_proxy("p1", consultation(), G, H, NOW), "status": status, **overrides}


# ---- who acts ------------------------------------------------------------------------

def test_only_a_member_token_acts_on_a_proxy():
    assert proxies.acting_member({"role": "MEMBER", "member_id": G}) == G
    for actor in ({"role": "ADMIN"}, {"role": "ADMIN", "member_id": G}, {"role": "MEMBER"},
                  {"role": "ANONYMOUS"}, None, "MEMBER", {}):
        with pytest.raises(Forbidden):
            proxies.acting_member(actor)


# ---- offering --------------------------------------------------------------------------

def test_two_members_of_the_snapshot_may_make_a_proxy():
    proxies.check_parties(G, H, None, True, True)
    proxies.check_parties(G, H, S, True, True)


def test_a_proxy_to_oneself_is_bad_input():
    with pytest.raises(BadUserInput) as refused:
        proxies.check_parties(G, G, None, True, True)
    assert "yourself" in str(refused.value).lower() and "holderId" in refused.value.fields


@pytest.mark.parametrize("granter,holder", [(S, H), (G, S)])
def test_the_subject_member_neither_gives_nor_holds(granter, holder):
    # the subject is never in the snapshot; the refusal names it all the same
    with pytest.raises(BadUserInput) as refused:
        proxies.check_parties(granter, holder, S, granter != S, holder != S)
    assert "about" in str(refused.value).lower()


@pytest.mark.parametrize("granter_in,holder_in", [(False, True), (True, False), (False, False)])
def test_both_must_be_in_the_snapshot(granter_in, holder_in):
    with pytest.raises(BadUserInput) as refused:
        proxies.check_parties(G, H, None, granter_in, holder_in)
    assert "snapshot" in str(refused.value).lower()
    if granter_in and not holder_in:
        assert "holderId" in refused.value.fields


def test_a_granter_offers_one_live_proxy_and_none_once_it_responded():
    proxies.check_can_offer(None, responded=False)
    for status in LIVE_PROXY:
        with pytest.raises(Conflict) as refused:
            proxies.check_can_offer(proxy(status), responded=False)
        assert "live proxy" in str(refused.value) and status in str(refused.value)
    with pytest.raises(Conflict) as refused:
        proxies.check_can_offer(None, responded=True)
    assert "responded" in str(refused.value)


def test_a_new_proxy_is_offered_in_the_current_round():
    made = proxies.new_proxy("p9", consultation(), G, H, NOW)
    assert made == {"_id": "p9", "consultation_id": "c1", "round": 2, "granter_id": G,
                    "holder_id": H, "status": ProxyStatus.OFFERED, "offered_at": NOW,
                    "changed_at": NOW}


# ---- acting on one ------------------------------------------------------------------------

def test_only_the_holder_answers_and_only_the_granter_revokes():
    proxies.check_is_holder(proxy(), H)
    proxies.check_is_granter(proxy(), G)
    for who in (G, X):
        with pytest.raises(Forbidden):
            proxies.check_is_holder(proxy(), who)
    for who in (H, X):
        with pytest.raises(Forbidden):
            proxies.check_is_granter(proxy(), who)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_only_an_offered_proxy_is_accepted_or_declined(status):
    if status == ProxyStatus.OFFERED:
        proxies.check_offered(proxy(status))
        return
    with pytest.raises(Conflict) as refused:
        proxies.check_offered(proxy(status))
    assert status in str(refused.value)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_only_a_live_proxy_is_revoked_and_a_used_one_says_so(status):
    if status in LIVE_PROXY:
        proxies.check_revocable(proxy(status))
        return
    with pytest.raises(Conflict) as refused:
        proxies.check_revocable(proxy(status))
    if status == ProxyStatus.USED:
        assert "used" in str(refused.value)


def test_a_proxy_acts_only_in_its_own_open_round():
    proxies.check_of_current_round(proxy(), consultation(), round_open=True)
    with pytest.raises(Conflict):
        proxies.check_of_current_round(proxy(), consultation(), round_open=False)
    with pytest.raises(Conflict):
        proxies.check_of_current_round(proxy(round=1), consultation(round=2), round_open=True)


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_the_holder_limit_counts_the_one_being_accepted(limit):
    for held in range(1, limit + 1):
        proxies.check_holder_room(held, limit)
    with pytest.raises(Conflict) as refused:
        proxies.check_holder_room(limit + 1, limit)
    assert "MAX_PROXIES_PER_HOLDER" in str(refused.value) and str(limit) in str(refused.value)


@pytest.mark.parametrize("status", [None, *ALL_STATUSES])
def test_a_holder_casts_once_with_an_accepted_proxy(status):
    if status == ProxyStatus.ACCEPTED:
        proxies.proxy_to_use(proxy(status))
    elif status == ProxyStatus.USED:
        with pytest.raises(Conflict) as refused:
            proxies.proxy_to_use(proxy(status))
        assert "used" in str(refused.value)
    else:
        with pytest.raises(Forbidden) as refused:
            proxies.proxy_to_use(None if status is None else proxy(status))
        assert "accepted proxy" in str(refused.value)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_held_proxies_are_accepted_or_used(status):
    assert proxies.frees_a_slot(status) is (status in HELD_PROXY)
    assert set(HELD_PROXY) == {ProxyStatus.ACCEPTED, ProxyStatus.USED}
    assert set(LIVE_PROXY) == {ProxyStatus.OFFERED, ProxyStatus.ACCEPTED}


def test_the_granters_own_cast_ends_every_proxy_not_over_yet():
    given = [proxy(s, _id=f"p-{s}") for s in ALL_STATUSES]
    ended = {p["status"] for p in proxies.ended_by_own_cast(given)}
    assert ended == {ProxyStatus.OFFERED, ProxyStatus.ACCEPTED, ProxyStatus.USED}
    assert proxies.ended_by_own_cast([]) == []


# ---- what a change writes and announces -------------------------------------------------------

def test_each_change_is_kept_with_its_actor():
    entry = proxies.audit_entry("a1", proxy(), ProxyStatus.ACCEPTED, H, NOW)
    assert entry == {"_id": "a1", "proxy_id": "p1", "consultation_id": "c1", "round": 2,
                     "granter_id": G, "holder_id": H, "status": ProxyStatus.ACCEPTED,
                     "actor": H, "at": NOW}
    assert proxies.changing(ProxyStatus.REVOKED, NOW) == {"status": ProxyStatus.REVOKED,
                                                          "changed_at": NOW}


@pytest.mark.parametrize("status,event", sorted(proxies.EVENT_OF.items()))
def test_each_change_is_an_event_of_the_catalogue_without_a_value(status, event):
    data = proxies.changed_data(proxy(), status, G, "Strategy")
    envelope = make_envelope(event, data, source="consultations")  # the catalogue accepts it
    assert "value" not in envelope["data"] and "reason" not in envelope["data"]
    assert data["status"] == status and data["actor"] == G and data["title"] == "Strategy"


def test_every_proxy_event_has_a_change_and_notices_are_a_subset():
    assert sorted(proxies.EVENT_OF.values()) == sorted(PROXY_EVENTS)
    assert ProxyStatus.EXPIRED not in proxies.EVENT_OF
    assert set(PROXY_NOTICES) <= set(PROXY_EVENTS) and "proxy_revoked" not in PROXY_NOTICES


# ---- hidden results -----------------------------------------------------------------------

@pytest.mark.parametrize("visibility,status,hidden", [
    (ResultsVisibility.HIDDEN_UNTIL_CLOSED, ConsultationStatus.OPEN, True),
    (ResultsVisibility.HIDDEN_UNTIL_CLOSED, ConsultationStatus.CLOSED, False),
    (ResultsVisibility.HIDDEN_UNTIL_CLOSED, ConsultationStatus.CANCELLED, False),
    (ResultsVisibility.OPEN, ConsultationStatus.OPEN, False),
    (None, ConsultationStatus.OPEN, False),  # stored before visibility existed
])
def test_results_are_hidden_only_while_a_hidden_round_is_open(visibility, status, hidden):
    doc = consultation(status=status, results_visibility=visibility)
    if visibility is None:
        del doc["results_visibility"]
    assert domain.results_hidden(doc) is hidden


def test_a_hidden_tally_keeps_only_who_responded():
    tally = domain.tally_view(domain.Tally(5, agree=1, reservations=1, stand_aside=0, block=1),
                              0.5)
    hidden = domain.shown_tally(tally, hidden=True)
    assert hidden == {"eligible": 5, "responded": 3, "quorum_reached": True, "agree": None,
                      "reservations": None, "stand_aside": None, "block": None}
    assert domain.shown_tally(tally, hidden=False) == tally
    assert tally["agree"] == 1  # not changed in place


def test_stance_cast_carries_no_value_while_hidden_and_names_the_holder():
    c = consultation()
    stance = domain.new_stance("s1", c, G, {"value": "BLOCK", "reason": "marker"}, NOW, H)
    assert stance["cast_by"] == H and stance["member_id"] == G
    hidden = domain.stance_cast_data(stance, replaced=False, hidden=True)
    assert hidden == {"consultation_id": "c1", "round": 2, "member_id": G, "value": None,
                      "replaced": False, "cast_by": H}
    assert "marker" not in repr(hidden)
    make_envelope("stance_cast", hidden, source="consultations")
    shown = domain.stance_cast_data(stance, replaced=True, hidden=False)
    assert shown["value"] == "BLOCK" and shown["replaced"] is True
    own = domain.new_stance("s1", c, G, {"value": "AGREE", "reason": None}, NOW)
    assert own["cast_by"] is None
    assert domain.stance_cast_data(own, False, False)["cast_by"] is None


def test_hidden_kinds_setting():
    assert config.hidden_kinds(None) == frozenset() == config.hidden_kinds("")
    assert config.hidden_kinds(" MEMBER_SUSPENSION , GRANT_ALLOCATION,") == {
        "MEMBER_SUSPENSION", "GRANT_ALLOCATION"}
    for wrong in ("GENERAL", "MEMBERSHIP_ADMISSION", "MEMBER_SUSPENSION,nonsense"):
        with pytest.raises(ValidationError):
            config.hidden_kinds(wrong)
    settings = config.load({"HIDDEN_KINDS": "MEMBER_SUSPENSION", "COALITION_JWT_SECRET": "s" * 40})
    assert settings["MAX_PROXIES_PER_HOLDER"] == 2
    with pytest.raises(config.SettingsError) as refused:
        config.load({"HIDDEN_KINDS": "GENERAL", "COALITION_JWT_SECRET": "s" * 40})
    assert "HIDDEN_KINDS" in str(refused.value)


def test_kinds_in_hidden_kinds_open_hidden_and_others_do_not():
    member = {"id": "m1", "name": "Network", "status": "ACTIVE"}
    suspension = domain.suspension_case(member, "reason")
    allocation = domain.allocation_case({"amount": "10", "currency": "USD", "grant_title": "G",
                                         "purpose": "p", "allocation_id": "a1",
                                         "member_id": "m1"})
    hidden = ResultsVisibility.HIDDEN_UNTIL_CLOSED
    assert suspension.results_visibility == ResultsVisibility.OPEN
    assert domain.hidden_by_default(suspension, {"MEMBER_SUSPENSION"}).results_visibility == hidden
    assert domain.hidden_by_default(allocation, {"MEMBER_SUSPENSION"}) == allocation
    assert domain.hidden_by_default(allocation, {"GRANT_ALLOCATION"}).results_visibility == hidden
    assert domain.hidden_by_default(suspension, frozenset()) == suspension
    assert suspension.kind == ConsultationKind.MEMBER_SUSPENSION


def test_a_proxy_never_replaces_the_granters_own_stance():
    proxies.check_not_own_stance(None)
    proxies.check_not_own_stance({"value": "AGREE", "cast_by": "holder"})  # cast by proxy
    with pytest.raises(Conflict, match="responded itself"):
        proxies.check_not_own_stance({"value": "AGREE", "cast_by": None})
    with pytest.raises(Conflict):
        proxies.check_not_own_stance({"value": "AGREE"})  # stored before cast_by existed
