"""requestSignIn for a known and an unknown address (issue 16, "Benchmark").

    .venv/bin/python -m bench.signin [--requests 200] [--warmup 20] [--rpc-samples 50]

DOMAIN.md section 7: requestSignIn answers `true` in about the same time for
a known and an unknown address, so that its time tells no one which it was.
The gateway answers before anything is looked up: it counts the client's
request, hands accounts.request_sign_in to a thread pool of its worker and
answers (docs/accounts.md). This measures what a client sees: one client,
sequential requests over HTTP, anonymous, N for a known address (a member's
focal point: the longest path, with a members RPC) and N for unknown ones (a
new address each time), interleaved (known then unknown, then unknown then
known, ...) so that the background work of one falls on both. Reported: the
median and p95 of each, and their ratio (known / unknown; about 1 is the goal).

Also reported, to show what answering first hides: accounts.request_sign_in
called by RPC and waited for (what the gateway would take if it waited),
for the same two kinds, after the HTTP phase's background work is done; and
how many sign-in mails for the known addresses the stack's SMTP sink accepted.

Alone, it starts its own stack with the limits raised (per address and per
client: every request is then answered with a mail), registers one member
and asks for its focal point's address every time. `make bench` runs it as
the phase `signin` of bench/run.py after `load_small`, on the stack's default
limits: each known request then names another member's focal point (at most
two requests per address, under SIGN_IN_PER_ADDRESS_PER_HOUR's 5).
"""
import argparse
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench import data
from bench.harness import finish, log, machine, run_on_own_stack
from bench.stats import ms, percentile, ratio

RESULTS = Path(__file__).resolve().parent / "results"
REQUEST = "mutation($e: String!) { requestSignIn(email: $e) }"
CLIENT = "127.0.0.1"  # what the gateway passes on for the bench's requests
# alone: every request answered with a mail (the limits are the subject of the tests, not this)
RAISED_LIMITS = {"SIGN_IN_PER_ADDRESS_PER_HOUR": "1000000", "SIGN_IN_PER_CLIENT_PER_HOUR": "1000000"}
GOAL_SPREAD = 1.25  # the slower median over the faster one


def now():
    return datetime.now(timezone.utc)


def latency(samples):
    """{n, p50_ms, p95_ms, max_ms, mean_ms} of latencies in seconds."""
    if not samples:
        return {"n": 0}
    return {"n": len(samples), "p50_ms": ms(percentile(samples, 50)),
            "p95_ms": ms(percentile(samples, 95)), "max_ms": ms(max(samples)),
            "mean_ms": ms(sum(samples) / len(samples))}


def unknown_address(tag, i):
    return f"nobody-{tag}-{i}@unknown.example.org"


def ask(bench, address):
    """Seconds of one requestSignIn, which must answer true."""
    body, r, seconds = bench.post(REQUEST, {"e": address})
    answer = (body.get("data") or {}).get("requestSignIn")
    if r.status_code != 200 or body.get("errors") or answer is not True:
        raise RuntimeError(f"requestSignIn did not answer true: HTTP {r.status_code} {body}")
    return seconds


def over_http(bench, known, tag, n, warmup):
    """(known seconds, unknown seconds): `warmup` pairs not counted, then n
    pairs, known addresses taken in turn from `known`."""
    times = {"known": [], "unknown": []}
    for i in range(warmup + n):
        pair = [("known", known[i % len(known)]), ("unknown", unknown_address(tag, i))]
        if i % 2:
            pair.reverse()  # neither kind always follows the other
        for kind, address in pair:
            seconds = ask(bench, address)
            if i >= warmup:
                times[kind].append(seconds)
    return times["known"], times["unknown"]


def by_rpc(bench, known, tag, samples):
    """(known seconds, unknown seconds) of accounts.request_sign_in called and waited for."""
    accounts = bench.rpc().accounts
    times = {"known": [], "unknown": []}
    for i in range(samples):
        for kind, address in (("known", known[i % len(known)]), ("unknown", unknown_address(tag + "r", i))):
            started = time.perf_counter()
            accounts.request_sign_in(address, CLIENT)
            times[kind].append(time.perf_counter() - started)
    return times["known"], times["unknown"]


def mails_to(bench, addresses):
    wanted = {a.casefold() for a in addresses}
    return sum(1 for m in bench.handle.mail.messages if any(t.casefold() in wanted for t in m.to))


def wait_for_mails(bench, addresses, expected, timeout=60.0):
    """Until the sink accepted `expected` mails to `addresses`, or `timeout`
    (no new one for 10 s ends it too); (mails, seconds waited)."""
    started = last_change = time.monotonic()
    seen = mails_to(bench, addresses)
    while seen < expected and time.monotonic() - started < timeout \
            and time.monotonic() - last_change < 10:
        time.sleep(0.2)
        count = mails_to(bench, addresses)
        if count != seen:
            seen, last_change = count, time.monotonic()
    return seen, round(time.monotonic() - started, 1)


def measure(bench, known, tag, n, warmup, rpc_samples, rpc_known=None):
    """The whole measure: over HTTP, the mails, then by RPC (on `rpc_known`,
    default `known`)."""
    log(f"requestSignIn over HTTP: {warmup} + {n} pairs (known, unknown), "
        f"{len(known)} known address(es)")
    mails_before = mails_to(bench, known)
    known_s, unknown_s = over_http(bench, known, tag, n, warmup)
    out = {"http": {"known": latency(known_s), "unknown": latency(unknown_s),
                    "known_addresses": len(known), "warmup_pairs": warmup}}
    expected = mails_before + warmup + n
    mails, waited = wait_for_mails(bench, known, expected)
    out["mails"] = {"known_requests": warmup + n, "accepted": mails - mails_before,
                    "waited_s": waited}
    log(f"  known p50 {out['http']['known'].get('p50_ms')} ms, unknown p50 "
        f"{out['http']['unknown'].get('p50_ms')} ms; {mails - mails_before}/{warmup + n} "
        f"mails for the known addresses after {waited}s")
    if rpc_samples:
        known_r, unknown_r = by_rpc(bench, rpc_known or known, tag, rpc_samples)
        out["rpc"] = {"known": latency(known_r), "unknown": latency(unknown_r)}
        log(f"  accounts.request_sign_in waited for: known p50 {out['rpc']['known'].get('p50_ms')} "
            f"ms, unknown p50 {out['rpc']['unknown'].get('p50_ms')} ms")
    return out


# ---- as a phase of bench/run.py ----------------------------------------------------------

def phase(bench, cfg, st):
    """After load_small: the known addresses are the focal points of the
    members it registered (indexes 0.. of st["tag"]), each asked for at most
    twice (once over HTTP, once by RPC)."""
    n, warmup, rpc_samples = cfg["signin_requests"], cfg["signin_warmup"], cfg["signin_rpc_samples"]
    members = cfg["small"]
    if warmup + n + rpc_samples > members:
        n = max(1, members - warmup - rpc_samples)
    addresses = [data.member_input(st["tag"], i)["focalPoint"]["email"] for i in range(members)]
    st["signin"] = measure(bench, addresses[:warmup + n], st["tag"] + "s", n, warmup,
                           rpc_samples, rpc_known=addresses[warmup + n:warmup + n + rpc_samples])
    bench.handle.mail.clear()


def figures(found):
    """The figures of issue 16's benchmark from st["signin"]."""
    found = found or {}
    g = lambda where, kind, key: ((found.get(where) or {}).get(kind) or {}).get(key)  # noqa: E731
    p50 = ratio(g("http", "known", "p50_ms"), g("http", "unknown", "p50_ms"), 3)
    return {
        "signin_known_p50_ms": g("http", "known", "p50_ms"),
        "signin_known_p95_ms": g("http", "known", "p95_ms"),
        "signin_unknown_p50_ms": g("http", "unknown", "p50_ms"),
        "signin_unknown_p95_ms": g("http", "unknown", "p95_ms"),
        "signin_p50_ratio": p50,
        "signin_p95_ratio": ratio(g("http", "known", "p95_ms"), g("http", "unknown", "p95_ms"), 3),
        "signin_p50_spread": None if not p50 else round(max(p50, 1 / p50), 3),
        "signin_requests_per_kind": g("http", "known", "n"),
        "signin_rpc_known_p50_ms": g("rpc", "known", "p50_ms"),
        "signin_rpc_unknown_p50_ms": g("rpc", "unknown", "p50_ms"),
        "signin_rpc_p50_ratio": ratio(g("rpc", "known", "p50_ms"), g("rpc", "unknown", "p50_ms"), 3),
    }


def report(fig):
    """The figures as lines for a reader (stderr)."""
    spread = fig["signin_p50_spread"]
    met = spread is not None and spread <= GOAL_SPREAD
    return [
        f"requestSignIn, {fig['signin_requests_per_kind']} of each: known p50 "
        f"{fig['signin_known_p50_ms']} ms p95 {fig['signin_known_p95_ms']} ms; unknown p50 "
        f"{fig['signin_unknown_p50_ms']} ms p95 {fig['signin_unknown_p95_ms']} ms",
        f"  known / unknown: p50 x{fig['signin_p50_ratio']}, p95 x{fig['signin_p95_ratio']}   "
        f"goal: within x{GOAL_SPREAD}: {'met' if met else 'NOT met'}",
        f"  accounts.request_sign_in waited for (what answering first hides): known p50 "
        f"{fig['signin_rpc_known_p50_ms']} ms, unknown p50 {fig['signin_rpc_unknown_p50_ms']} ms "
        f"(x{fig['signin_rpc_p50_ratio']})",
    ]


# ---- alone: python -m bench.signin -------------------------------------------------------

def raise_limits(bench):
    """The stack's settings before it starts: no sign-in limit in the way."""
    bench.handle.env.update(RAISED_LIMITS)
    bench.handle.stack.env.update(RAISED_LIMITS)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.signin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="measured requests of each kind")
    parser.add_argument("--warmup", type=int, default=20, help="pairs before measuring")
    parser.add_argument("--rpc-samples", type=int, default=50,
                        help="accounts.request_sign_in calls of each kind, waited for (0: none)")
    args = parser.parse_args(argv)
    tag = uuid.uuid4().hex[:6]
    result = {"bench": "signin", "issue": 16, "started_at": now().isoformat(timespec="seconds"),
              "machine": machine(), "sizes": vars(args), "limits": RAISED_LIMITS}
    errors = {}

    def work(bench):
        member = bench.rpc().members.register_founding_member(data.member_input(tag, 0))
        log(f"known address: the focal point of member {member['id']}")
        address = data.member_input(tag, 0)["focalPoint"]["email"]
        return measure(bench, [address], tag, args.requests, args.warmup, args.rpc_samples)
    started = time.monotonic()
    found = run_on_own_stack("signin", 20 * 60, errors, work, before_start=raise_limits)
    return finish(result, figures(found), found, errors, started, RESULTS, "signin", report)


if __name__ == "__main__":
    sys.exit(main())
