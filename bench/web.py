"""Server time of two web pages at 1,000 members (issue 17, "Performance").

    .venv/bin/python -m bench.web [--members 1000] [--requests 200] [--warmup 20] [--stances 300]

GET /members and GET /consultations/<id>, each as three viewers: an
anonymous visitor, a signed-in member (a focal point who has not answered
the round yet) and a secretariat person. Goal (the issue): under 50 ms at
p50. Server time here is what one client sees on the loopback: from sending
the request to the whole answer read (requests, keep-alive, sequential, one
request at a time, gzip asked for as a browser does), `--warmup` requests
not counted, then `--requests` counted (at most 60 s once 20 are), per path
and viewer. Reported: p50,
p90, p99 and the answer's size (compressed as sent, and the HTML). Beside
them (`api_alone`), the GraphQL query each page runs, timed alone over POST
/graphql as the same viewer: the API's share of the page's time.
Compared with the goal in the printout; nothing is asserted.

The sessions are real ones (DOMAIN.md section 7): requestSignIn for the
address, the code read from the mail the stack's SMTP sink received,
completeSignIn; its token is sent as the `coalition_session` cookie, as a
browser would after the web app's sign-in. The secretariat person is added
first as `coalition admin add` does (accounts.add_secretariat by RPC).

The consultation is what a page would show in a busy round: GENERAL,
quorum 0.5, every voter eligible (1,000), a first round with `stances // 6`
stances (one a BLOCK with a reason) closed (without quorum), a second round
with an amended proposal (so the page has an earlier round and a diff) and
`stances` stances of every kind, reasons on some. Stances are cast by RPC,
serially. Each round makes the notifications service send a mail to every
eligible member; the measure starts once it has nothing left to send.

Alone, it starts its own stack and registers the members by RPC (bench/load.py,
as every bench loads its members: 24 threads, waiting for the read models).
`make bench` runs it as the phase `web` of bench/run.py after `fanout_small`,
on the members the run loaded (topped up to cfg["web_members"] voters).
"""
import argparse
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import requests

from bench import fanout, load, measure as gql_measure
from bench.harness import finish, log, machine, run_on_own_stack
from bench.stats import summary
from tests.helpers.sign_in import COOKIE, add_secretariat, sign_in

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_P50_MS = 50
VIEWERS = ("anonymous", "member", "secretariat")
NEXT_ROUND = """mutation($id: ID!, $p: String!, $c: DateTime!) {
  startNextRound(id: $id, proposal: $p, closesAt: $c) { id round status } }"""
PROPOSAL = ("The coalition adopts its workplan for 2026 and 2027.\n\n"
            "1. Community-led monitoring of HIV services in {n} countries.\n"
            "2. A shadow report to the treaty bodies every year.\n"
            "3. A budget of 1,455,000.00 USD, of which 20% for national networks.")
AMENDED = ("The coalition adopts its amended workplan for 2026 and 2027.\n\n"
           "1. Community-led monitoring of HIV and TB services in {n} countries.\n"
           "2. A shadow report to the treaty bodies every second year, with the national networks.\n"
           "3. A budget of 1,515,000.00 USD, of which 25% for national networks.")
MIX = [("AGREE", None)] * 12 + [("RESERVATIONS", "The TB part needs its own budget line.")] * 4 \
    + [("STAND_ASIDE", None)] * 3 + [("BLOCK", "Our network was not consulted on point 2.")]


def now():
    return datetime.now(timezone.utc)


# ---- the consultation ----------------------------------------------------------------------

def cast(bench, consultation_id, member_ids, mix):
    """Serial RPC casts, the values taken in turn from `mix`."""
    consultations = bench.rpc().consultations
    for i, member_id in enumerate(member_ids):
        value, reason = mix[i % len(mix)]
        consultations.cast_stance({"role": "MEMBER", "member_id": member_id}, consultation_id,
                                  value, reason)


def prepare_consultation(bench, tag, stances):
    """The two-round consultation (see the module's docstring): its id, its
    eligible members and who cast a stance in its second round."""
    c = bench.gql(load.OPEN, {"i": {"title": f"Workplan 2026-2027 ({tag}, web)",
                                    "proposal": PROPOSAL.format(n=10), "closesAt": load.later(),
                                    "rule": "CONSENSUS", "quorum": 0.5}}, bench.admin)["openConsultation"]
    cid = c["id"]
    voters = load.voter_ids(bench)
    first = max(1, stances // 6)
    log(f"consultation {cid}: {c['tally']['eligible']} eligible; round 1: {first} stances by RPC")
    cast(bench, cid, voters[:first - 1], MIX[:-1])
    cast(bench, cid, voters[first - 1:first], [MIX[-1]])          # a BLOCK: the round is BLOCKED
    closed = bench.gql(load.CLOSE, {"id": cid}, bench.admin)["closeConsultation"]
    bench.gql(NEXT_ROUND, {"id": cid, "p": AMENDED.format(n=12), "c": load.later()}, bench.admin)
    log(f"  round 1 closed {closed['outcome']}; round 2 (amended): {stances} stances by RPC")
    cast(bench, cid, voters[:stances], MIX)
    return {"id": cid, "eligible": c["tally"]["eligible"], "round_1_outcome": closed["outcome"],
            "stances_round_1": first, "stances_round_2": min(stances, len(voters)),
            "not_responded": voters[stances:] or voters[-1:]}


# ---- the viewers -------------------------------------------------------------------------

def focal_point_of(bench, member_id):
    return bench.db("members").members.find_one({"_id": member_id}, {"focal_point": 1})["focal_point"]["email"]


def session_token(bench, address):
    """A real session's token: requestSignIn, the code from the sink, completeSignIn."""
    done, _ = sign_in(bench.handle, address)
    return done["token"]


def secretariat_address(bench, tag):
    """A secretariat person's address, added as `coalition admin add` does."""
    address = f"bench-web-{tag}@example.org"
    add_secretariat(bench.handle, address, "Bench Secretariat")
    return address


def viewers(bench, tag, member_id):
    """({viewer: session token or None}, {viewer: why it could not sign in})."""
    out, errors = {"anonymous": None}, {}
    addresses = {"member": lambda: focal_point_of(bench, member_id),
                 "secretariat": lambda: secretariat_address(bench, tag)}
    for name, address_of in addresses.items():
        try:
            out[name] = session_token(bench, address_of())
        except Exception as exc:
            errors[name] = f"sign-in failed: {type(exc).__name__}: {exc}"[:300]
            log(f"  {name}: {errors[name]}")
    return out, errors


# ---- the measure -------------------------------------------------------------------------

def get(session, url, cookie):
    """(seconds, response) of one GET, the whole answer read."""
    headers = {"Accept": "text/html", "Accept-Encoding": "gzip"}
    if cookie:
        headers["Cookie"] = f"{COOKIE}={cookie}"
    started = time.perf_counter()
    r = session.get(url, headers=headers, timeout=60, allow_redirects=False)
    return time.perf_counter() - started, r


def sample_page(bench, path, cookie, n, warmup, max_s=60, min_samples=20):
    """Latency of one page for one viewer, or {"error": ...} when it does not
    answer 200. At most `max_s` seconds once `min_samples` are taken (the
    warm-up too: at most `max_s` / 4)."""
    session = requests.Session()
    url = bench.handle.url + path
    seconds, r = get(session, url, cookie)
    if r.status_code != 200:
        return {"error": f"HTTP {r.status_code}", "location": r.headers.get("Location"),
                "body": r.text[:200]}
    stop_at = time.monotonic() + max_s / 4
    for _ in range(max(0, warmup - 1)):
        if time.monotonic() > stop_at:
            break
        get(session, url, cookie)
    latencies, statuses = [], {}
    stop_at = time.monotonic() + max_s
    for i in range(n):
        if i >= min_samples and time.monotonic() > stop_at:
            break
        seconds, r = get(session, url, cookie)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        latencies.append(seconds)
    out = summary(latencies)
    out.update(statuses={str(k): v for k, v in statuses.items()},
               sent_bytes=int(r.headers.get("Content-Length") or 0) or None,
               encoding=r.headers.get("Content-Encoding"), html_bytes=len(r.content))
    return out


def measure(bench, paths, cookies, n, warmup):
    """{path label: {viewer: latency}} for each path and viewer."""
    out = {}
    for label, path in paths.items():
        for viewer, cookie in cookies.items():
            bench.budget.check(10, f"GET {label} as {viewer}")
            found = out.setdefault(label, {})[viewer] = sample_page(bench, path, cookie, n, warmup)
            log(f"  GET {label} as {viewer}: " + (found["error"] if "error" in found else
                f"p50 {found['p50_ms']} ms, p99 {found['p99_ms']} ms ({found['n']} requests, "
                f"{found['sent_bytes'] or found['html_bytes']} bytes sent)"))
    return out


def page_documents(consultation_id):
    """{path label: (document, variables)}: the GraphQL query each page runs
    (services/web/views/documents.py), timed alone over POST /graphql to tell
    the API's share of a page's time from the page's own; {} without that module."""
    try:
        from services.web.views import documents
    except Exception as exc:
        log(f"  no page documents to time alone: {type(exc).__name__}: {exc}")
        return {}
    return {"/members": (documents.MEMBERS, {}),
            "/consultations/<id>": (documents.CONSULTATION, {"id": consultation_id,
                                                             "find": False})}


def measure_api(bench, documents, tokens, n, warmup):
    """{path label: {viewer: latency of the page's query alone}} (a session token as a Bearer)."""
    out = {}
    for label, (document, variables) in documents.items():
        for viewer, token in tokens.items():
            try:
                q = gql_measure.sample_query(bench, document, variables, n, warmup, token)
            except Exception as exc:
                q = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            out.setdefault(label, {})[viewer] = q
            log(f"  its query alone ({label}, {viewer}): " + (q["error"] if "error" in q else
                f"p50 {q['p50_ms']} ms, p99 {q['p99_ms']} ms, X-RPC-Calls {q.get('rpc_calls')}"))
    return out


def eligible_members_parts(bench, consultation_id, samples=5):
    """What `consultation(id) { eligibleMembers }` costs, by part (median ms):
    the two RPCs its resolver makes (consultations.eligible_many, then
    members.get_many of those ids), and the store reads behind them, sent
    from here (the round's counter shards with their `eligible` arrays; the
    members by `_id: {$in: ids}`)."""
    rpc, cdb, mdb = bench.rpc(), bench.db("consultations"), bench.db("members")
    doc = cdb.consultations.find_one({"_id": consultation_id}, {"round": 1})
    ids = rpc.consultations.eligible_many([consultation_id])[consultation_id]
    parts = {
        "rpc consultations.eligible_many": lambda: rpc.consultations.eligible_many([consultation_id]),
        f"rpc members.get_many({len(ids)} ids)": lambda: rpc.members.get_many(ids),
        "store tally_shards.find(consultation, round) eligible": lambda: list(cdb.tally_shards.find(
            {"consultation_id": consultation_id, "round": doc["round"]}, {"eligible": 1})),
        f"store members.find(_id $in {len(ids)})": lambda: list(mdb.members.find({"_id": {"$in": ids}})),
    }
    out = {}
    for name, call in parts.items():
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        out[name] = summary(times)["p50_ms"]
    log("  eligibleMembers by part (p50 ms): " + ", ".join(f"{k} {v}" for k, v in out.items()))
    return out


def run(bench, cfg, tag):
    """The whole bench on a stack with the members loaded."""
    c = prepare_consultation(bench, tag, cfg["web_stances"])
    quiet = fanout.quiet(bench)
    log(f"  the notifications service is quiet after {quiet['waited_s']}s")
    cookies, errors = viewers(bench, tag, c["not_responded"][0])
    paths = {"/members": "/members", "/consultations/<id>": f"/consultations/{c['id']}"}
    out = {"members": load.member_count(bench), "voters": load.voters(bench),
           "consultation": {k: v for k, v in c.items() if k != "not_responded"},
           "quiet_before": quiet, "requests": cfg["web_requests"], "warmup": cfg["web_warmup"],
           "pages": measure(bench, paths, cookies, cfg["web_requests"], cfg["web_warmup"])}
    out["api_alone"] = measure_api(bench, page_documents(c["id"]), cookies, min(cfg["web_requests"], 50),
                                   min(cfg["web_warmup"], 5))
    out["eligible_members_parts_ms"] = eligible_members_parts(bench, c["id"])
    errors.update({f"GET {label} as {viewer}": q["error"] for label, by_viewer in out["pages"].items()
                   for viewer, q in by_viewer.items() if "error" in q})
    if errors:
        out["errors"] = errors
    return out


# ---- as a phase of bench/run.py, and the figures -------------------------------------------

def phase(bench, cfg, st):
    """After fanout_small: voters topped up to cfg["web_members"], then run()."""
    st["load"]["web"] = load.load_founders(bench, cfg["web_members"], st["tag"])
    st["web"] = run(bench, cfg, st["tag"])
    if st["web"].get("errors"):  # a page that did not answer 200, a viewer that could not sign in
        st["errors"]["web"] = "; ".join(f"{k}: {v}" for k, v in st["web"]["errors"].items())[:500]


def figures(found):
    """{web_p50_ms, web_p99_ms: {"<path> <viewer>": ms}, web_p50_max_ms, ...} from st["web"]."""
    found = found or {}
    p50, p99, sizes = {}, {}, {}
    for label, by_viewer in (found.get("pages") or {}).items():
        for viewer, q in by_viewer.items():
            key = f"{label} {viewer}"
            p50[key], p99[key] = q.get("p50_ms"), q.get("p99_ms")
            sizes[key] = q.get("sent_bytes") or q.get("html_bytes")
    api = {f"{label} {viewer}": q.get("p50_ms") for label, by_viewer in (found.get("api_alone") or {}).items()
           for viewer, q in by_viewer.items()}
    measured = [v for v in p50.values() if v is not None]
    return {"web_p50_ms": p50, "web_p99_ms": p99, "web_sent_bytes": sizes, "web_query_alone_p50_ms": api,
            "web_p50_max_ms": max(measured) if measured else None,
            "web_members": found.get("members"), "web_requests_each": found.get("requests")}


def report(fig):
    """The figures as lines for a reader (stderr)."""
    lines = [f"web pages at {fig['web_members']} members, {fig['web_requests_each']} requests each "
             f"(goal: p50 under {GOAL_P50_MS} ms):"]
    for key, p50 in fig["web_p50_ms"].items():
        verdict = "no answer" if p50 is None else "met" if p50 < GOAL_P50_MS else "NOT met"
        lines.append(f"  GET {key:<34} p50 {p50} ms  p99 {fig['web_p99_ms'][key]} ms  "
                     f"{fig['web_sent_bytes'][key]} bytes   {verdict}   (its query alone: p50 "
                     f"{fig['web_query_alone_p50_ms'].get(key)} ms)")
    return lines


# ---- alone: python -m bench.web -------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000, help="voters (founding members)")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per page and viewer")
    parser.add_argument("--warmup", type=int, default=20, help="requests before measuring, per page and viewer")
    parser.add_argument("--stances", type=int, default=300, help="stances in the second round")
    args = parser.parse_args(argv)
    cfg = {"web_members": args.members, "web_requests": args.requests, "web_warmup": args.warmup,
           "web_stances": args.stances}
    tag = uuid.uuid4().hex[:6]
    result = {"bench": "web", "issue": 17, "started_at": now().isoformat(timespec="seconds"),
              "machine": machine(), "sizes": cfg}
    errors = {}

    def work(bench):
        loaded = load.load_founders(bench, args.members, tag)
        return {"load": loaded, **run(bench, cfg, tag)}
    started = time.monotonic()
    found = run_on_own_stack("web", 30 * 60, errors, work)
    return finish(result, figures(found), found, {**errors, **((found or {}).get("errors") or {})},
                  started, RESULTS, "web", report)


if __name__ == "__main__":
    sys.exit(main())
