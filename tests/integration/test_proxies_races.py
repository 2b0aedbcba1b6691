"""Proxies under concurrency, through the gateway on the real stack
(DOMAIN.md section 9): the granter's own cast always wins over its holder
casting for it at the same moment, and a holder's accepts racing for its
last slots never pass MAX_PROXIES_PER_HOLDER; an offer racing the granter's
own cast or the round's close never leaves a live proxy behind it."""
import threading
from concurrent.futures import ThreadPoolExecutor

from tests.helpers.consultations import close, open_consultation
from tests.helpers.proxies import (
    accept, accepted, cast_for, grant, offered, ok, proxy_audit, seen, stored)
from tests.helpers.proxies import own_voters  # noqa: F401 (autouse: only its own voters)
from tests.support import founders, refusal

ROUNDS = 20
LIMIT = 2  # MAX_PROXIES_PER_HOLDER's default: the session stack does not set it


def at_once(*calls):
    """Run the calls in threads released together; their results, in order."""
    gate = threading.Barrier(len(calls))

    def run(call):
        gate.wait()
        return call()
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_the_granters_own_cast_wins_over_its_holder_casting_at_once(stack):
    g, h = (m["id"] for m in founders(stack, 2))
    outcomes = []
    for _ in range(ROUNDS):
        c = open_consultation(stack, title="Race of a proxy")["id"]
        p = accepted(stack, c, g, h)
        own, by_proxy = at_once(lambda: cast_for(stack, c, g, None, "AGREE", "own"),
                                lambda: cast_for(stack, c, h, g, "BLOCK", "by proxy"))
        assert ok(own, "castStance")["castBy"] is None
        # the holder either came first (then replaced) or found its proxy gone
        outcomes.append("used first" if not by_proxy.get("errors") else refusal(by_proxy)[0])
        assert outcomes[-1] in ("used first", "FORBIDDEN", "CONFLICT"), by_proxy
        view = seen(stack, c, stack.admin())
        mine = [s for s in view["stances"] if s["member"]["id"] == g]
        assert [(s["value"], s["reason"], s["castBy"]) for s in mine] == [("AGREE", "own", None)]
        assert (view["tally"]["responded"], view["tally"]["agree"], view["tally"]["block"]) == \
            (1, 1, 0), view["tally"]
        assert stored(stack, p["id"])["status"] == "REVOKED"
        assert view["proxies"][0]["status"] == "REVOKED"
        changes = [a["status"] for a in proxy_audit(stack, c)]
        assert changes[-1] == "REVOKED" and changes.count("REVOKED") == 1, changes
        counted = stack.db("consultations").stances.count_documents(
            {"consultation_id": c, "member_id": g})
        assert counted == 1
    print("holder's casts:", {o: outcomes.count(o) for o in set(outcomes)})


def test_accepts_racing_for_the_last_slot_never_pass_the_limit(stack):
    for _ in range(5):
        h, first, *granters = (m["id"] for m in founders(stack, 5))
        c = open_consultation(stack, title="Race for a holder's slots")["id"]
        accepted(stack, c, first, h)  # one of LIMIT held already
        offers = [offered(stack, c, g, h)["id"] for g in granters]
        answers = at_once(*[lambda pid=pid: accept(stack, pid, h) for pid in offers])
        won = [pid for pid, body in zip(offers, answers) if not body.get("errors")]
        lost = [refusal(body)[0] for body in answers if body.get("errors")]
        assert len(won) == LIMIT - 1 and lost == ["CONFLICT"] * (len(offers) - len(won)), answers
        held = stack.db("consultations").proxies.count_documents(
            {"consultation_id": c, "holder_id": h, "status": {"$in": ["ACCEPTED", "USED"]}})
        assert held == LIMIT
        for pid in offers:
            assert stored(stack, pid)["status"] == ("ACCEPTED" if pid in won else "OFFERED")


def test_two_holders_racing_for_their_last_slots_each_keep_their_limit(stack):
    """Two holders, each at LIMIT - 1, each accepting two offers at once:
    the limits are per holder, so each ends with exactly LIMIT."""
    h1, h2, a, b, c1, c2, d1, d2 = (m["id"] for m in founders(stack, 8))
    c = open_consultation(stack, title="Race of two holders")["id"]
    accepted(stack, c, a, h1)
    accepted(stack, c, b, h2)
    offers = [(offered(stack, c, g, h)["id"], h) for g, h in
              ((c1, h1), (c2, h1), (d1, h2), (d2, h2))]
    answers = at_once(*[lambda pid=pid, h=h: accept(stack, pid, h) for pid, h in offers])
    for holder in (h1, h2):
        mine = [body for (pid, h), body in zip(offers, answers) if h == holder]
        assert sum(1 for body in mine if not body.get("errors")) == LIMIT - 1, mine
        held = stack.db("consultations").proxies.count_documents(
            {"consultation_id": c, "holder_id": holder, "status": "ACCEPTED"})
        assert held == LIMIT


def test_an_offer_racing_the_granters_own_cast_never_outlives_it(stack):
    """The offer and the granter's own cast write the same counter shard, so
    one sees the other: either the offer is refused (the granter responded)
    or the cast ends it (REVOKED). Never an OFFERED proxy beside the
    granter's own stance, which its holder could then replace."""
    g, h = (m["id"] for m in founders(stack, 2))
    outcomes = []
    for _ in range(ROUNDS // 2):
        c = open_consultation(stack, title="Offer racing a cast")["id"]
        own, offer = at_once(lambda: cast_for(stack, c, g, None, "AGREE", "own"),
                             lambda: grant(stack, c, g, h))
        assert ok(own, "castStance")["castBy"] is None
        outcomes.append("offered first" if not offer.get("errors") else refusal(offer)[0])
        assert outcomes[-1] in ("offered first", "CONFLICT"), offer
        live = stack.db("consultations").proxies.count_documents(
            {"consultation_id": c, "status": {"$in": ["OFFERED", "ACCEPTED"]}})
        assert live == 0
    print("offers:", {o: outcomes.count(o) for o in set(outcomes)})


def test_an_offer_racing_the_close_is_refused_or_expired(stack):
    g, h = (m["id"] for m in founders(stack, 2))
    for _ in range(ROUNDS // 2):
        c = open_consultation(stack, title="Offer racing the close")["id"]
        closed, offer = at_once(lambda: close(stack, c), lambda: grant(stack, c, g, h))
        assert offer.get("errors") is None or refusal(offer)[0] == "CONFLICT", offer
        left = stack.db("consultations").proxies.count_documents(
            {"consultation_id": c, "status": {"$in": ["OFFERED", "ACCEPTED"]}})
        assert left == 0, "a proxy outlived its round"
