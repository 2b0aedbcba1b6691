"""Proxies (DOMAIN.md section 9) end to end, through the gateway on the real
stack: offer, accept, decline, revoke, use, expire; every refusal with its
code and the rule it names; the stance cast by proxy is the granter's,
counts once and names its holder; the granter's own cast wins; proxies end
with their round; who sees which proxies; the audit trail and the CLI
export keep every change. Each test makes its own members and
consultations (the stack is shared)."""
import pytest

from tests.helpers.consultations import close, later, open_consultation
from tests.helpers.proxies import (
    NEXT_ROUND, SUSPEND, accept, accepted, cast_for, decline, export_rows, grant, offered,
    ok, proxy_audit, refused, revoke, seen, stance_audit, statuses, stored)
from tests.helpers.proxies import own_voters  # noqa: F401 (autouse: only its own voters)
from tests.support import founders, wait_for

LIVE = ("live", "one at a time", "already")
LIMIT = ("MAX_PROXIES_PER_HOLDER", "limit", "most")
SNAPSHOT = ("snapshot",)
USED = ("used",)


def members(stack, count):
    return [m["id"] for m in founders(stack, count)]


def stance_of(view, member_id):
    return [s for s in view["stances"] if s["member"]["id"] == member_id]


# ---- the life of a proxy ----------------------------------------------------------------

def test_a_proxy_is_offered_accepted_used_and_the_granters_own_cast_wins(stack):
    g, h = members(stack, 2)
    c = open_consultation(stack)["id"]
    p = offered(stack, c, g, h)
    assert p["holder"]["id"] == h and p["round"] == 1 and p["consultation"]["id"] == c
    assert statuses(stack, c) == {p["id"]: "OFFERED"}
    assert ok(accept(stack, p["id"], h), "acceptProxy")["status"] == "ACCEPTED"
    stance = ok(cast_for(stack, c, h, g, "RESERVATIONS", "cast by the holder"), "castStance")
    assert stance["member"]["id"] == g and stance["castBy"]["id"] == h, stance
    assert stance["value"] == "RESERVATIONS" and stance["reason"] == "cast by the holder"
    assert stored(stack, p["id"])["status"] == "USED" and statuses(stack, c)[p["id"]] == "USED"
    admin = seen(stack, c, stack.admin())
    assert admin["tally"]["responded"] == 1 and admin["tally"]["reservations"] == 1
    assert [(s["value"], s["castBy"]) for s in stance_of(admin, g)] == [("RESERVATIONS", {"id": h})]
    assert stance_of(admin, h) == [] and g not in {m["id"] for m in admin["awaiting"]}
    assert seen(stack, c, stack.member_token(g))["myStance"]["castBy"] == {"id": h}
    assert seen(stack, c, stack.member_token(h))["myStance"] is None  # the holder's own: none yet
    # the holder's own stance counts for the holder, beside the granter's
    ok(cast_for(stack, c, h, None, "AGREE"), "castStance")
    # the granter's own cast replaces the holder's and ends the proxy
    own = ok(cast_for(stack, c, g, None, "AGREE", "my own"), "castStance")
    assert own["member"]["id"] == g and own["castBy"] is None
    admin = seen(stack, c, stack.admin())
    assert (admin["tally"]["responded"], admin["tally"]["agree"],
            admin["tally"]["reservations"]) == (2, 2, 0)
    assert [(s["value"], s["castBy"]) for s in stance_of(admin, g)] == [("AGREE", None)]
    assert stored(stack, p["id"])["status"] == "REVOKED"
    assert [(a["member_id"], a["value"], a["cast_by"]) for a in stance_audit(stack, c)
            if a["member_id"] == g] == [(g, "RESERVATIONS", h), (g, "AGREE", None)]
    assert [(a["status"], a["actor"]) for a in proxy_audit(stack, c)] == [
        ("OFFERED", g), ("ACCEPTED", h), ("USED", h), ("REVOKED", g)]


@pytest.mark.parametrize("accept_first", [False, True])
def test_the_granters_own_cast_revokes_an_unused_proxy(stack, accept_first):
    g, h = members(stack, 2)
    c = open_consultation(stack)["id"]
    p = accepted(stack, c, g, h) if accept_first else offered(stack, c, g, h)
    ok(cast_for(stack, c, g, None, "STAND_ASIDE"), "castStance")
    assert stored(stack, p["id"])["status"] == "REVOKED"
    refused(cast_for(stack, c, h, g), "FORBIDDEN", "accepted proxy", "proxy")
    assert seen(stack, c, stack.admin())["tally"]["responded"] == 1


def test_declined_or_revoked_the_granter_may_offer_again(stack):
    g, h, k = members(stack, 3)
    c = open_consultation(stack)["id"]
    first = offered(stack, c, g, h)
    assert ok(decline(stack, first["id"], h), "declineProxy")["status"] == "DECLINED"
    second = offered(stack, c, g, k)
    assert ok(revoke(stack, second["id"], g), "revokeProxy")["status"] == "REVOKED"
    third = accepted(stack, c, g, h)
    assert ok(revoke(stack, third["id"], g), "revokeProxy")["status"] == "REVOKED"
    refused(cast_for(stack, c, h, g), "FORBIDDEN", "accepted proxy", "proxy")
    assert statuses(stack, c) == {first["id"]: "DECLINED", second["id"]: "REVOKED",
                                  third["id"]: "REVOKED"}
    assert [(a["proxy_id"], a["status"], a["actor"]) for a in proxy_audit(stack, c)] == [
        (first["id"], "OFFERED", g), (first["id"], "DECLINED", h),
        (second["id"], "OFFERED", g), (second["id"], "REVOKED", g),
        (third["id"], "OFFERED", g), (third["id"], "ACCEPTED", h), (third["id"], "REVOKED", g)]


def test_block_by_proxy_needs_a_reason(stack):
    g, h = members(stack, 2)
    c = open_consultation(stack)["id"]
    p = accepted(stack, c, g, h)
    for reason in (None, "   "):
        body = cast_for(stack, c, h, g, "BLOCK", reason)
        refused(body, "BAD_USER_INPUT")
        assert "reason" in body["errors"][0]["extensions"]["fields"], body
    # nothing half-done: the proxy is still unused, no stance counted
    assert stored(stack, p["id"])["status"] == "ACCEPTED"
    assert seen(stack, c, stack.admin())["tally"]["responded"] == 0
    stance = ok(cast_for(stack, c, h, g, "BLOCK", "a principled objection"), "castStance")
    assert (stance["value"], stance["castBy"]) == ("BLOCK", {"id": h})


# ---- refusals -----------------------------------------------------------------------------

def test_bad_user_input_self_outside_the_snapshot_or_the_subject(stack):
    g, h, subject = members(stack, 3)
    c = open_consultation(stack)["id"]
    late = members(stack, 1)[0]  # joined after the round opened: not in its snapshot
    refused(grant(stack, c, g, g), "BAD_USER_INPUT", "yourself", "oneself", "own")
    refused(grant(stack, c, g, late), "BAD_USER_INPUT", *SNAPSHOT)
    refused(grant(stack, c, late, g), "BAD_USER_INPUT", *SNAPSHOT)
    suspension = stack.gql(SUSPEND, {"m": subject, "r": "test of proxies"},
                           stack.admin())["proposeSuspension"]["id"]
    try:
        refused(grant(stack, suspension, g, subject), "BAD_USER_INPUT", "about", "subject")
        refused(grant(stack, suspension, subject, g), "BAD_USER_INPUT", "about", "subject",
                *SNAPSHOT)
        assert stack.db("consultations").proxies.count_documents(
            {"consultation_id": {"$in": [c, suspension]}}) == 0
        ok(grant(stack, suspension, g, h), "grantProxy")  # the others may
    finally:
        close(stack, suspension)  # no one responded: NO_QUORUM, the member stays ACTIVE


def test_forbidden_not_yours_to_act_on(stack):
    g, h, k, other = members(stack, 4)
    c = open_consultation(stack)["id"]
    p = offered(stack, c, g, h)
    for who in (g, k):
        refused(accept(stack, p["id"], who), "FORBIDDEN", "only", "offered to")
        refused(decline(stack, p["id"], who), "FORBIDDEN", "only", "offered to")
    refused(accept(stack, p["id"], None, stack.admin()), "FORBIDDEN")
    refused(grant(stack, c, None, h, stack.admin()), "FORBIDDEN")
    refused(stack.post(ACCEPT_ANONYMOUS, {"id": p["id"]}).json(), "UNAUTHENTICATED")
    # cast for a member without an accepted proxy from it: offered only, none, someone else's
    refused(cast_for(stack, c, h, g), "FORBIDDEN", "accepted proxy", "proxy")
    refused(cast_for(stack, c, k, g), "FORBIDDEN", "accepted proxy", "proxy")
    ok(accept(stack, p["id"], h), "acceptProxy")
    for who in (h, k):
        refused(revoke(stack, p["id"], who), "FORBIDDEN", "only", "gave")
    refused(cast_for(stack, c, k, g), "FORBIDDEN", "accepted proxy", "proxy")
    refused(cast_for(stack, c, g, h), "FORBIDDEN", "accepted proxy", "proxy")  # the other way
    refused(cast_for(stack, c, other, g, "BLOCK", "not mine"), "FORBIDDEN")
    assert stored(stack, p["id"])["status"] == "ACCEPTED"
    assert seen(stack, c, stack.admin())["tally"]["responded"] == 0
    refused(accept(stack, "no-such-proxy", h), "NOT_FOUND")
    refused(revoke(stack, "no-such-proxy", g), "NOT_FOUND")


ACCEPT_ANONYMOUS = "mutation($id: ID!) { acceptProxy(id: $id) { id } }"
WITHDRAW = "mutation($m: ID!) { withdrawMembership(memberId: $m, reason: \"gone\") { status } }"


def test_an_empty_or_malformed_on_behalf_of_is_never_the_casters_own_stance(stack):
    g, h = members(stack, 2)
    c = open_consultation(stack)["id"]
    accepted(stack, c, g, h)
    given = ok(grant(stack, c, h, g), "grantProxy")  # a proxy the holder gave: must stay
    for wrong in ("", "x" * 200):
        refused(cast_for(stack, c, h, wrong), "FORBIDDEN", "accepted proxy", "cannot vote")
    assert seen(stack, c, stack.admin())["tally"]["responded"] == 0
    assert stored(stack, given["id"])["status"] == "OFFERED"


def test_a_holder_cannot_respond_for_a_member_withdrawn_since(stack):
    """A member withdrawn mid-round casts no more (DOMAIN.md section 5), by proxy either."""
    g, h = members(stack, 2)
    c = open_consultation(stack)["id"]
    p = accepted(stack, c, g, h)
    assert stack.gql(WITHDRAW, {"m": g}, stack.admin())["withdrawMembership"]["status"] \
        == "WITHDRAWN"
    refused(cast_for(stack, c, h, g), "FORBIDDEN", "cannot vote", "WITHDRAWN")
    assert stored(stack, p["id"])["status"] == "ACCEPTED"
    assert seen(stack, c, stack.admin())["tally"]["responded"] == 0


def test_conflicts_a_second_live_proxy_answered_or_used(stack):
    g, h, k, voter = members(stack, 4)
    c = open_consultation(stack)["id"]
    p = offered(stack, c, g, h)
    refused(grant(stack, c, g, k), "CONFLICT", *LIVE)
    ok(accept(stack, p["id"], h), "acceptProxy")
    refused(grant(stack, c, g, k), "CONFLICT", *LIVE)
    refused(accept(stack, p["id"], h), "CONFLICT", "ACCEPTED", "offered")
    refused(decline(stack, p["id"], h), "CONFLICT", "ACCEPTED", "offered")
    ok(cast_for(stack, c, h, g, "AGREE"), "castStance")
    refused(revoke(stack, p["id"], g), "CONFLICT", *USED)
    refused(cast_for(stack, c, h, g, "STAND_ASIDE"), "CONFLICT", *USED)
    assert stance_of(seen(stack, c, stack.admin()), g)[0]["value"] == "AGREE"
    refused(grant(stack, c, g, k), "CONFLICT", "responded", *LIVE)
    # a member that responded itself offers no proxy
    ok(cast_for(stack, c, voter, None, "AGREE"), "castStance")
    refused(grant(stack, c, voter, k), "CONFLICT", "responded")
    # a declined proxy is answered
    q = offered(stack, c, k, h)
    ok(decline(stack, q["id"], h), "declineProxy")
    refused(accept(stack, q["id"], h), "CONFLICT", "DECLINED", "offered")
    refused(revoke(stack, q["id"], k), "CONFLICT", "DECLINED", "revoke")
    # the round over: nothing more
    r = offered(stack, c, k, voter)
    close(stack, c)
    refused(accept(stack, r["id"], voter), "CONFLICT")
    refused(grant(stack, c, h, voter), "CONFLICT", "closed", "round")


def test_the_holder_limit(stack):
    h, g1, g2, g3 = members(stack, 4)
    c = open_consultation(stack)["id"]
    p1, p2 = accepted(stack, c, g1, h), accepted(stack, c, g2, h)
    p3 = offered(stack, c, g3, h)  # offering is free; accepting is limited
    refused(accept(stack, p3["id"], h), "CONFLICT", *LIMIT)
    assert stored(stack, p3["id"])["status"] == "OFFERED"
    ok(cast_for(stack, c, h, g1, "AGREE"), "castStance")  # a used proxy still counts
    refused(accept(stack, p3["id"], h), "CONFLICT", *LIMIT)
    ok(revoke(stack, p2["id"], g2), "revokeProxy")  # a slot freed
    assert ok(accept(stack, p3["id"], h), "acceptProxy")["status"] == "ACCEPTED"
    assert statuses(stack, c) == {p1["id"]: "USED", p2["id"]: "REVOKED", p3["id"]: "ACCEPTED"}


# ---- rounds ---------------------------------------------------------------------------------

def test_proxies_end_with_the_round_and_a_next_round_starts_without(stack):
    g1, g2, g3, g4, h, h2 = members(stack, 6)
    c = open_consultation(stack)["id"]
    pending, unused = offered(stack, c, g1, h), accepted(stack, c, g2, h)
    used, declined = accepted(stack, c, g3, h2), offered(stack, c, g4, h2)
    ok(cast_for(stack, c, h2, g3, "BLOCK", "blocked by proxy"), "castStance")
    ok(decline(stack, declined["id"], h2), "declineProxy")
    late = members(stack, 1)[0]
    closed = close(stack, c)
    assert closed["outcome"] != "ADOPTED"
    expected = {pending["id"]: "EXPIRED", unused["id"]: "EXPIRED", used["id"]: "USED",
                declined["id"]: "DECLINED"}
    # the closed round is still the current one: its proxies show, as they ended
    assert statuses(stack, c) == expected
    assert {p["id"] for p in seen(stack, c, stack.member_token(h))["proxies"]} == {
        pending["id"], unused["id"]}
    assert sorted(a["proxy_id"] for a in proxy_audit(stack, c) if a["status"] == "EXPIRED") == \
        sorted([pending["id"], unused["id"]])
    refused(cast_for(stack, c, h, g2), "CONFLICT", "closed")
    stack.gql(NEXT_ROUND, {"id": c, "p": "Amended", "at": later()}, stack.admin())
    now = seen(stack, c, stack.admin())
    assert now["round"] == 2 and now["proxies"] == []
    refused(cast_for(stack, c, h, g2), "FORBIDDEN", "accepted proxy", "proxy")
    # a new round, new proxies: the member that joined since may give one now
    again = accepted(stack, c, late, h)
    assert again["round"] == 2 and statuses(stack, c) == {again["id"]: "ACCEPTED"}
    assert ok(accept(stack, offered(stack, c, g2, h)["id"], h), "acceptProxy")["round"] == 2


def test_proxies_expire_when_the_round_closes_at_its_deadline(stack):
    g1, g2, h = members(stack, 3)
    c = open_consultation(stack, closesAt=later(4))["id"]
    pending, unused = offered(stack, c, g1, h), accepted(stack, c, g2, h)
    wait_for(lambda: seen(stack, c, stack.admin())["status"] == "CLOSED", 30, 0.2,
             "the deadline's close")
    assert statuses(stack, c) == {pending["id"]: "EXPIRED", unused["id"]: "EXPIRED"}
    refused(accept(stack, pending["id"], h), "CONFLICT", "EXPIRED")
    refused(revoke(stack, unused["id"], g2), "CONFLICT", "EXPIRED")


def test_who_sees_which_proxies(stack):
    g, h, k, other = members(stack, 4)
    c = open_consultation(stack)["id"]
    gives, holds = offered(stack, c, g, h)["id"], offered(stack, c, k, g)["id"]
    assert set(statuses(stack, c)) == {gives, holds}
    assert set(statuses(stack, c, stack.member_token(g))) == {gives, holds}
    assert set(statuses(stack, c, stack.member_token(h))) == {gives}
    assert set(statuses(stack, c, stack.member_token(k))) == {holds}
    assert statuses(stack, c, stack.member_token(other)) == {}
    assert stack.gql("query($id: ID!) { consultation(id: $id) { proxies { id } } }",
                     {"id": c})["consultation"]["proxies"] == []


# ---- audit and export -----------------------------------------------------------------------

def test_the_export_keeps_every_proxy_change_and_who_cast(stack):
    g, h = members(stack, 2)
    c = open_consultation(stack)["id"]
    p = accepted(stack, c, g, h)
    ok(cast_for(stack, c, h, g, "RESERVATIONS", "by proxy"), "castStance")
    ok(cast_for(stack, c, g, None, "AGREE", "my own"), "castStance")
    rows = export_rows(stack, c)
    assert {"cast_by", "holder_id", "proxy_status", "actor"} <= set(rows[0])
    changes = [(r["round"], r["member_id"], r["holder_id"], r["proxy_status"], r["actor"])
               for r in rows if r["record"] == "proxy"]
    assert changes == [("1", g, h, "OFFERED", g), ("1", g, h, "ACCEPTED", h),
                       ("1", g, h, "USED", h), ("1", g, h, "REVOKED", g)]
    stances = [(r["member_id"], r["stance"], r["reason"], r["cast_by"], r["superseded"])
               for r in rows if r["record"] == "stance"]
    assert stances == [(g, "RESERVATIONS", "by proxy", h, "yes"), (g, "AGREE", "my own", "", "no")]
    assert p["id"] in {a["proxy_id"] for a in proxy_audit(stack, c)}
