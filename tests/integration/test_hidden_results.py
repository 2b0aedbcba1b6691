"""A HIDDEN_UNTIL_CLOSED round (DOMAIN.md section 9) on the real stack:
while it is open no value leaves the consultations service, and after the
close everything is shown as for OPEN.

How each path is checked: every reason is a marker string of its own, and
the values are the four StanceValue words. While the round is open:
- GraphQL, for ADMIN, a member that responded, a granter, a holder, a member
  outside the snapshot and ANONYMOUS: the whole answer (consultation and
  list) holds no marker and no value word but the viewer's own;
- the RPC answers of the consultations service itself (get, list,
  stances_many, stance_audit);
- the bus: a queue of the test's own bound to every service's events
  exchange; stance_cast has value None, no proxy event has a value;
- the CSV exports, of the CLI and of the secretariat's page, refuse (CONFLICT, 409);
- the stack's logs written meanwhile: no marker, and no line naming the
  consultation holds a value word;
- the mails (queued and received over SMTP) of the members: no marker,
  no value word; and no other service's database (read models) holds one.
"""
import json
import math
import re
import uuid

import pytest

from tests.helpers.consultations import GET, close, later, open_consultation
from tests.helpers.notifications import founders_with_addresses, mails
from tests.helpers.web import get, web_session
from tests.helpers.proxies import (
    NEXT_ROUND, STANCE_VALUES, SUSPEND, accepted, cast_for, event_tap, export, export_rows,
    log_marks, logs_since, ok, seen)
from tests.support import StackHandle, founders, isolate_voters, wait_for

HIDDEN = "HIDDEN_UNTIL_CLOSED"
VALUE_WORD = re.compile(r"\b(" + "|".join(STANCE_VALUES) + r")\b")
MAIL_WORD = re.compile(r"\b(agree|reservations|stand[ _]aside|block)\b", re.IGNORECASE)
LIST = """query($after: String) { consultations(status: OPEN, first: 50, after: $after) {
  edges { node { id resultsVisibility
    tally { eligible responded agree reservations standAside block quorumReached } } }
  pageInfo { hasNextPage endCursor } } }"""


def marker(name):
    return f"hidden-{name}-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def hidden(stack):
    """A hidden round with three responses: a AGREE, b STAND_ASIDE then BLOCK,
    and d's RESERVATIONS cast by its holder c. Events, logs and mails are
    watched from before it opened."""
    isolate_voters(stack)  # its mails are those of its own members only
    people = founders_with_addresses(stack, 4)
    a, b, c, d = (member_id for member_id, _ in people)
    reasons = {k: marker(k) for k in ("a", "b0", "b", "d", "title")}
    marks = log_marks(stack)
    with event_tap(stack) as tap:
        opened = open_consultation(stack, title=f"Hidden ballot {reasons['title']}",
                                   proposal="Adopt the budget", resultsVisibility=HIDDEN)
        cid = opened["id"]
        ok(cast_for(stack, cid, a, None, "AGREE", reasons["a"]), "castStance")
        ok(cast_for(stack, cid, b, None, "STAND_ASIDE", reasons["b0"]), "castStance")
        ok(cast_for(stack, cid, b, None, "BLOCK", reasons["b"]), "castStance")
        proxy = accepted(stack, cid, d, c)
        by_proxy = ok(cast_for(stack, cid, c, d, "RESERVATIONS", reasons["d"]), "castStance")
        assert by_proxy["member"]["id"] == d and by_proxy["castBy"]["id"] == c
        yield {"id": cid, "opened": opened, "a": a, "b": b, "c": c, "d": d, "people": people,
               "reasons": reasons, "marks": marks, "tap": tap, "proxy": proxy,
               "late": founders(stack, 1)[0]["id"]}


def listed(stack, consultation_id, token):
    """The consultation as the list `consultations(status: OPEN)` shows it (paged through)."""
    after = None
    while True:
        page = stack.gql(LIST, {"after": after}, token)["consultations"]
        found = [e["node"] for e in page["edges"] if e["node"]["id"] == consultation_id]
        if found or not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def rpc_listed(rpc, consultation_id):
    after = None
    while True:
        page = rpc.consultations.list({"status": "OPEN"}, 100, after, False)
        found = [e["node"] for e in page["edges"] if e["node"]["id"] == consultation_id]
        if found or not page["has_next_page"]:
            return found
        after = page["end_cursor"]


def markers_in(text, reasons, own=()):
    return [k for k, v in reasons.items() if k not in (*own, "title") and v in text]


def test_it_opened_hidden_and_says_so(stack, hidden):
    assert hidden["opened"]["tally"]["agree"] is None
    assert seen(stack, hidden["id"])["resultsVisibility"] == HIDDEN


@pytest.mark.parametrize("viewer,own,value", [
    ("admin", (), None), ("anonymous", (), None), ("late", (), None), ("c", (), None),
    ("a", ("a",), "AGREE"), ("b", ("b",), "BLOCK"), ("d", ("d",), "RESERVATIONS")])
def test_no_value_in_any_graphql_answer(stack, hidden, viewer, own, value):
    tokens = {"admin": stack.admin(), "anonymous": None}
    token = tokens[viewer] if viewer in tokens else stack.member_token(hidden[viewer])
    view = seen(stack, hidden["id"], token)
    tally = view["tally"]
    assert (tally["agree"], tally["reservations"], tally["standAside"], tally["block"]) == \
        (None, None, None, None), tally
    assert tally["responded"] == 3
    assert tally["quorumReached"] is (3 >= math.ceil(0.5 * tally["eligible"]))
    assert view["rounds"] == [] and view["outcome"] is None
    assert [(s["member"]["id"], s["value"]) for s in view["stances"]] == \
        ([(hidden[viewer], value)] if value else [])
    assert (view["myStance"] or {}).get("value") == value
    in_list = listed(stack, hidden["id"], token)
    assert in_list and in_list[0]["tally"] == tally
    text = json.dumps([view, in_list, stack.gql(GET, {"id": hidden["id"]}, token)])
    assert markers_in(text, hidden["reasons"], own) == []
    assert set(VALUE_WORD.findall(text)) <= ({value} if value else set()), text


def test_no_value_in_the_services_rpc_answers(stack, hidden):
    cid, a = hidden["id"], hidden["a"]
    with stack.rpc() as rpc:
        answers = [rpc.consultations.get(cid), rpc.consultations.get_many([cid]),
                   rpc_listed(rpc, cid),
                   rpc.consultations.stances_many([cid]),
                   rpc.consultations.responded_many([cid]),
                   rpc.consultations.proxies_many([cid], None, True)]
        mine = rpc.consultations.stances_many([cid], a)
        with pytest.raises(Exception) as refused:
            rpc.consultations.stance_audit(cid)
    assert getattr(refused.value, "code", None) == "CONFLICT", refused.value
    assert answers[0]["tally"]["agree"] is None and answers[2][0]["tally"]["block"] is None
    assert answers[3] == {cid: []}
    assert sorted(answers[4][cid]) == sorted([a, hidden["b"], hidden["d"]])
    assert [(s["member_id"], s["value"]) for s in mine[cid]] == [(a, "AGREE")]
    text = json.dumps(answers, default=str)
    assert markers_in(text, hidden["reasons"]) == [] and not VALUE_WORD.findall(text)


def test_no_value_in_the_events_on_the_bus(stack, hidden):
    tap, cid = hidden["tap"], hidden["id"]
    kinds = ("stance_cast", "proxy_offered", "proxy_accepted", "proxy_used")

    def arrived():
        types = [e["event_type"] for e in tap.about(cid)]
        return all(k in types for k in kinds) and types.count("stance_cast") >= 4
    wait_for(arrived, 30, 0.2, "the round's events on the bus")
    about = tap.about(cid)
    opened = [e for e in about if e["event_type"] == "consultation_opened"]
    assert opened and opened[0]["data"]["results_visibility"] == HIDDEN
    casts = [e["data"] for e in about if e["event_type"] == "stance_cast"]
    assert [c["value"] for c in casts] == [None] * 4
    assert [(c["member_id"], c["cast_by"]) for c in casts][-1] == (hidden["d"], hidden["c"])
    for e in about:
        if e["event_type"].startswith("proxy_"):
            assert "value" not in e["data"] and "reason" not in e["data"], e
    everything = json.dumps(tap.envelopes)
    assert markers_in(everything, hidden["reasons"]) == []
    assert not VALUE_WORD.findall(json.dumps(about)), about


def web_csv(stack, consultation_id):
    return get(web_session(stack, stack.admin()),
               f"/secretariat/consultations/{consultation_id}/export.csv")


def test_the_csv_exports_refuse_until_close(stack, hidden):
    result = export(stack, hidden["id"])
    assert result.exit_code != 0
    assert "hidden" in result.output.lower() or "hidden" in (result.stderr or "").lower()
    assert markers_in(result.output, hidden["reasons"]) == []
    page = web_csv(stack, hidden["id"])
    assert page.status_code == 409 and "hidden" in page.text.lower()
    assert markers_in(page.text, hidden["reasons"]) == []


def test_no_value_in_logs_mails_or_read_models(stack, hidden):
    cid, reasons = hidden["id"], hidden["reasons"]
    stack.mail.settle(quiet=0.5)
    for name, text in logs_since(stack, hidden["marks"]).items():
        assert markers_in(text, reasons) == [], name
        leaks = [line for line in text.splitlines() if cid in line and VALUE_WORD.search(line)]
        assert leaks == [], (name, leaks)
    for member_id, address in hidden["people"]:
        for m in mails(stack, recipient=member_id):
            text = f"{m.get('subject')}\n{m.get('text')}\n{m.get('html')}"
            assert markers_in(text, reasons) == [], m["kind"]
            assert not MAIL_WORD.findall(f"{m.get('subject')}\n{m.get('text')}"), m["text"]
        for message in stack.mail.messages_to(address):
            assert markers_in(message.text or "", reasons) == [], message.subject
    for service in ("members", "grants", "notifications", "accounts", "gateway"):
        db = stack.db(service)
        for name in db.list_collection_names():
            for doc in db[name].find():
                text = json.dumps(doc, default=str)
                assert markers_in(text, reasons) == [], (service, name)
                assert not (cid in text and VALUE_WORD.search(text)), (service, name, doc)


def test_after_close_everything_is_shown(stack, hidden):
    cid, reasons, a, b, c, d = (hidden[k] for k in ("id", "reasons", "a", "b", "c", "d"))
    closed = close(stack, cid)
    counts = {"agree": 1, "reservations": 1, "block": 1}
    assert {k: closed["tally"][k] for k in counts} == counts
    for token in (stack.admin(), stack.member_token(a), stack.member_token(c)):
        view = seen(stack, cid, token)
        assert (view["tally"]["standAside"], view["tally"]["block"]) == (0, 1)
        assert view["rounds"][0]["tally"]["agree"] == 1
        shown = {s["member"]["id"]: (s["value"], s["reason"], s["castBy"]) for s in view["stances"]}
        assert shown == {a: ("AGREE", reasons["a"], None), b: ("BLOCK", reasons["b"], None),
                         d: ("RESERVATIONS", reasons["d"], {"id": c})}
    anonymous = seen(stack, cid)
    assert anonymous["tally"]["agree"] == 1 and anonymous["stances"] == []
    rows = export_rows(stack, cid)
    stances = [(r["member_id"], r["stance"], r["reason"], r["cast_by"], r["superseded"])
               for r in rows if r["record"] == "stance"]
    assert stances == [(a, "AGREE", reasons["a"], "", "no"),
                       (b, "STAND_ASIDE", reasons["b0"], "", "yes"),
                       (b, "BLOCK", reasons["b"], "", "no"),
                       (d, "RESERVATIONS", reasons["d"], c, "no")]
    assert [r["proxy_status"] for r in rows if r["record"] == "proxy"] == [
        "OFFERED", "ACCEPTED", "USED"]
    page = web_csv(stack, cid)
    assert page.status_code == 200 and reasons["d"] in page.content.decode("utf-8-sig")
    tap = hidden["tap"]
    closing = wait_for(lambda: [e for e in tap.about(cid) if e["event_type"] == "round_closed"],
                       30, 0.2, "round_closed on the bus")
    assert closing[0]["data"]["tally"]["block"] == 1
    # the visibility never changes: the next round is hidden too, the closed one shown
    if closed["outcome"] != "ADOPTED":
        stack.gql(NEXT_ROUND, {"id": cid, "p": "Amended budget", "at": later()}, stack.admin())
        ok(cast_for(stack, cid, a, None, "AGREE"), "castStance")
        view = seen(stack, cid, stack.admin())
        assert view["resultsVisibility"] == HIDDEN and view["tally"]["agree"] is None
        assert view["tally"]["responded"] == 1 and view["rounds"][0]["tally"]["block"] == 1
        assert view["stances"] == []


# ---- HIDDEN_KINDS ---------------------------------------------------------------------------

def test_suspensions_open_as_chosen_without_hidden_kinds(stack):
    a, subject = (m["id"] for m in founders(stack, 2))
    opened = stack.gql(SUSPEND, {"m": subject, "r": "default visibility"},
                       stack.admin())["proposeSuspension"]
    assert opened["resultsVisibility"] == "OPEN"
    close(stack, opened["id"])  # no one responded: NO_QUORUM
    general = open_consultation(stack)  # OPEN unless asked
    assert general["tally"]["agree"] == 0
    assert seen(stack, general["id"])["resultsVisibility"] == "OPEN"


@pytest.fixture(scope="module")
def hiding_stack(tmp_path_factory):
    """A stack of its own whose suspensions open hidden."""
    handle = StackHandle(tmp_path_factory.mktemp("hidden-kinds"),
                         extra_env={"HIDDEN_KINDS": "MEMBER_SUSPENSION"})
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()


def test_hidden_kinds_open_those_consultations_hidden(hiding_stack):
    stack = hiding_stack
    a, b, subject = (m["id"] for m in founders(stack, 3))
    opened = stack.gql(SUSPEND, {"m": subject, "r": "hidden by setting"},
                       stack.admin())["proposeSuspension"]
    assert (opened["kind"], opened["resultsVisibility"]) == ("MEMBER_SUSPENSION", HIDDEN)
    ok(cast_for(stack, opened["id"], a, None, "BLOCK", "no"), "castStance")
    view = seen(stack, opened["id"], stack.member_token(b))
    assert view["tally"]["responded"] == 1 and view["tally"]["block"] is None
    assert view["stances"] == []
    general = open_consultation(stack)  # a GENERAL one chooses, OPEN by default
    assert seen(stack, general["id"])["resultsVisibility"] == "OPEN"
