"""Benchmark of the whole stack (issue 8): `python -m bench.run [--quick]`.

Starts its own stack (tests.support.StackHandle: free ports, own RabbitMQ
vhost, own database prefix, temporary folder), loads a coalition, measures,
cleans up, prints ONE JSON document to stdout (progress goes to stderr) and
writes it to bench/results/latest.json. See bench/README.md.
"""
import argparse
import operator
import os
import signal
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench import cluster, data, fanout, load, measure, opcount, signin, web
from bench.harness import (Bench, Budget, CpuMeter, OutOfTime, log, machine, proc_status,
                           stop_and_clean, write_result)
from bench.stats import ratio, summary
from services.consultations.dependencies import eligible_many, tallies

RESULTS = Path(__file__).resolve().parent / "results"

SIZES = {
    "full": dict(small=100, large=10_000, page=50, query_samples=200, warmup=10, saga_samples=20,
                 open_reps=3, clients=32, cast_window_s=30, cast_max=3000, small_cast_window_s=60,
                 serial_casts=20, opcount_casts=50, idle_s=5, raw_count=3000, raw_serial=1000,
                 stance_rpc_budget_s=90,
                 replay_samples=40, rpc_members=1000, fanout_small=1000, signin_requests=60,
                 signin_warmup=10, signin_rpc_samples=20, web_members=1000, web_requests=200,
                 web_warmup=20, web_stances=300, budget_s=25 * 60, cluster_members=400,
                 cluster_clients=16, cluster_window_s=30),
    "quick": dict(small=100, large=1000, page=50, query_samples=50, warmup=5, saga_samples=3,
                  open_reps=2, clients=32, cast_window_s=10, cast_max=1000, small_cast_window_s=20,
                  serial_casts=10, opcount_casts=30, idle_s=3, raw_count=1000, raw_serial=500,
                  stance_rpc_budget_s=10,
                  replay_samples=20, rpc_members=200, fanout_small=100, signin_requests=40,
                  signin_warmup=5, signin_rpc_samples=10, web_members=100, web_requests=30,
                  web_warmup=3, web_stances=30, budget_s=7 * 60, cluster_members=100,
                  cluster_clients=16, cluster_window_s=10),
}

MEMBER_STATUS = "query($id: ID!) { member(id: $id) { id status } }"
MEMBER_ALLOCATIONS = "query($id: ID!) { member(id: $id) { id allocations { id status } } }"

# issue 21: registration at least twice the 27.7/s of the run of 2026-12-03
GOALS = {"stack_efficiency": (">=", 0.25), "store_round_trips_per_cast": ("<=", 4),
         "serial_overhead_ratio": ("<=", 2.0), "open_large_consultation_ms": ("<", 1000),
         "member_registration_end_to_end_per_s": (">=", 55.4),
         "flatness_tally": ("<=", 1.3),
         "flatness_members_nested": ("<=", 1.3),
         "fanout_mails_per_s": (">=", fanout.GOAL_MAILS_PER_S),
         "signin_p50_spread": ("<=", signin.GOAL_SPREAD),
         "web_p50_max_ms": ("<=", web.GOAL_P50_MS)}


# ---- phases ---------------------------------------------------------------------------

def load_small(bench, cfg, st):
    st["load"]["small"] = load.load_founders(bench, cfg["small"], st["tag"])
    st["page_ids"] = load.first_member_ids(bench, cfg["page"])
    st["grant_id"] = load.create_grant(bench, st["tag"])
    started = time.monotonic()
    allocations = load.propose_allocations(bench, st["grant_id"], st["page_ids"])
    allocations += load.propose_allocations(bench, st["grant_id"], st["page_ids"][:10])
    st["load"]["allocations"] = {"count": len(allocations), "members": len(st["page_ids"]),
                                 "s": round(time.monotonic() - started, 1)}
    log(f"  {len(allocations)} allocations on the first {len(st['page_ids'])} members "
        f"(and their consultations) in {st['load']['allocations']['s']}s")


def casts_small(bench, cfg, st):
    """The 100-stance consultation: most stances by concurrent castStance,
    a few serial (latency), the rest (if any) by RPC."""
    c = load.open_consultation(bench, f"Workplan vote {st['tag']} (small)")
    st["c_small"] = c["id"]
    eligible = load.voter_ids(bench)
    serial_n = cfg["serial_casts"]
    log(f"castStance at {len(eligible)} eligible: {cfg['clients']} concurrent clients")
    idle = opcount.idle_rate(bench, cfg["idle_s"])
    ops = measure.store_opcounters(bench)
    st["cast"]["small"] = measure.concurrent_casts(
        bench, c["id"], eligible[:-serial_n], cfg["clients"], cfg["small_cast_window_s"],
        len(eligible) - serial_n)
    store_opcounters(bench, st["cast"]["small"], ops, idle)
    load.rpc_queues_idle(bench)
    cast = load.stances_of(bench, c["id"])
    remaining = [m for m in eligible if m not in cast]
    st["serial"].setdefault("small", {})["gateway_castStance"] = measure.serial_gateway_casts(
        bench, c["id"], remaining[:serial_n])
    rest = remaining[serial_n:]
    if rest:
        load.cast_rpc(bench, c["id"], rest)
    st["serial"]["small"]["store_tx_replay"] = measure.replay_cast_transaction(
        bench, c["id"], cfg["replay_samples"])


def store_opcounters(bench, cast, before, idle):
    """The store's operations during a concurrent load (`before` its
    opcounters just before), raw and net of the `idle` rate, per ok cast."""
    cast["store_opcounters"] = measure.opcounters_delta(
        before, measure.store_opcounters(bench), cast["ok"] or None)
    cast["store_opcounters"].update(opcount.net_concurrent(
        cast["store_opcounters"], cast["elapsed_s"], cast["ok"], idle))


def queries(bench, cfg, st, size_key, n_label):
    first = cfg["page"]
    st["queries"].setdefault("members_nested", {})[n_label] = {
        **measure.sample_query(bench, measure.MEMBERS_NESTED, {"first": first},
                               cfg["query_samples"], cfg["warmup"]),
        "members": load.member_count(bench)}
    st["rpc_calls"][n_label] = {
        "members(first: 5)": measure.rpc_calls(bench, measure.MEMBERS_NESTED, {"first": 5}),
        f"members(first: {first})": measure.rpc_calls(bench, measure.MEMBERS_NESTED, {"first": first})}
    st["serial"].setdefault(size_key, {})["members_page_store_replay"] = \
        measure.replay_members_page(bench, first)
    q = st["queries"]["members_nested"][n_label]
    log(f"  members(first: {first}) nested at {q['members']} members: p50 {q['p50_ms']} ms, "
        f"p99 {q['p99_ms']} ms; X-RPC-Calls {st['rpc_calls'][n_label]}")


def tally_queries(bench, cfg, st, consultation_id, n_label):
    db = bench.db("consultations")
    tally = tallies(db, [db.consultations.find_one({"_id": consultation_id})])[consultation_id]
    st["queries"].setdefault("tally", {})[n_label] = {
        **measure.sample_query(bench, measure.TALLY, {"id": consultation_id},
                               cfg["query_samples"], cfg["warmup"]),
        "stances": tally.responded, "eligible": tally.eligible}
    q = st["queries"]["tally"][n_label]
    log(f"  tally with {q['stances']} stances: p50 {q['p50_ms']} ms, p99 {q['p99_ms']} ms")


def poll_until(bench, query, variables, done, t0, timeout=30.0, interval=0.010):
    """Seconds from t0 until `done(data)` is seen through the gateway, polling every 10 ms."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        body, _, _ = bench.post(query, variables)
        seen = time.perf_counter()
        if not body.get("errors") and done(body["data"]):
            return seen - t0
        time.sleep(interval)
    raise TimeoutError(f"saga: subject not updated within {timeout}s")


def close_adopted(bench, consultation_id):
    body, r, _ = bench.post(load.CLOSE, {"id": consultation_id}, bench.admin)
    t0 = time.perf_counter()
    closed = body.get("data") and body["data"]["closeConsultation"]
    if not closed or closed["outcome"] != "ADOPTED":
        raise RuntimeError(f"closeConsultation did not adopt: {body}")
    return t0


def adopt(bench, kind, subject_id, latencies):
    """Wait for the case's consultation, cast a quorum of AGREE by RPC, close
    it through the gateway; the time the close returned."""
    db = bench.db("consultations")
    c = load.wait_until(lambda: db.consultations.find_one(
        {"kind": kind, "subject_id": subject_id}, {"round": 1}), 30, 0.02, f"{kind} consultation")
    eligible = eligible_many(db, [c])[c["_id"]]
    load.cast_rpc(bench, c["_id"], eligible[:load.quorum_casts(len(eligible))], latencies=latencies)
    return close_adopted(bench, c["_id"])


def sagas(bench, cfg, st):
    beneficiaries = load.first_member_ids(bench, 2 * cfg["page"])[cfg["page"]:]  # off page 1
    admission, allocation, cast_lat = [], [], []
    for i in range(cfg["saga_samples"]):
        bench.budget.check(10, "saga sample")
        # admission: applyForMembership -> consultation -> quorum AGREE -> close -> ACTIVE
        member = bench.rpc().members.apply_for_membership(data.member_input(st["tag"] + "c", i))
        t0 = adopt(bench, "MEMBERSHIP_ADMISSION", member["id"], cast_lat)
        admission.append(poll_until(bench, MEMBER_STATUS, {"id": member["id"]},
                                    lambda d: d["member"]["status"] == "ACTIVE", t0))
        # allocation: proposeAllocation -> consultation -> quorum AGREE -> close -> APPROVED
        b = beneficiaries[i % len(beneficiaries)]
        a = bench.rpc().grants.propose_allocation({
            "grantId": st["grant_id"], "memberId": b, "amount": "2000.00",
            "purpose": f"Shadow report {i}", "closesAt": None})
        t0 = adopt(bench, "GRANT_ALLOCATION", a["id"], cast_lat)
        allocation.append(poll_until(
            bench, MEMBER_ALLOCATIONS, {"id": b},
            lambda d: any(x["id"] == a["id"] and x["status"] == "APPROVED"
                          for x in d["member"]["allocations"]), t0))
        log(f"  saga {i + 1}/{cfg['saga_samples']}: admission {admission[-1] * 1000:.0f} ms, "
            f"allocation {allocation[-1] * 1000:.0f} ms")
    st["saga"] = {"admission": summary(admission), "allocation": summary(allocation),
                  "eligible": cfg["small"], "poll_interval_ms": 10}
    st["serial"]["small"]["rpc_cast_stance"] = summary(cast_lat)


def load_mid(bench, cfg, st):
    """Members by RPC up to the smaller fan-out round (cfg["fanout_small"] voters)."""
    st["load"]["mid"] = load.load_founders(bench, cfg["fanout_small"], st["tag"])


def load_large(bench, cfg, st, args):
    if args.load != "fast":
        st["load"]["large"] = load.load_founders(bench, cfg["large"], st["tag"])
        return
    # the first rpc_members voters by RPC (load_mid registered most of them)
    target = min(cfg["large"], max(load.voters(bench), cfg["rpc_members"]))
    st["load"]["large_rpc"] = load.load_founders(bench, target, st["tag"])
    st["load"]["large_direct"] = load.load_founders_direct(bench, cfg["large"], st["tag"])


def open_large(bench, cfg, st):
    reps = []
    for i in range(cfg["open_reps"]):
        bench.budget.check(30, "open/close large consultation")
        t = time.perf_counter()
        c = load.open_consultation(bench, f"Large consultation {st['tag']} #{i}")
        opened = time.perf_counter() - t
        t = time.perf_counter()
        closed = bench.gql(load.CLOSE, {"id": c["id"]}, bench.admin)["closeConsultation"]
        closing = time.perf_counter() - t
        reps.append({"eligible": c["tally"]["eligible"], "open_ms": round(opened * 1000, 1),
                     "close_ms": round(closing * 1000, 1), "total_ms": round((opened + closing) * 1000, 1),
                     "outcome": closed["outcome"]})
        log(f"  open+close at {c['tally']['eligible']} eligible: {reps[-1]['open_ms']} + "
            f"{reps[-1]['close_ms']} ms")
    totals = sorted(r["total_ms"] for r in reps)
    st["open_large"] = {"median_total_ms": totals[len(totals) // 2], "reps": reps}


def casts_large(bench, cfg, st, args):
    c = load.open_consultation(bench, f"Workplan vote {st['tag']} (large)")
    st["c_large"] = c["id"]
    eligible = load.voter_ids(bench)
    log(f"large consultation: {c['tally']['eligible']} eligible")
    serial_n = cfg["serial_casts"]
    st["serial"].setdefault("large", {})["gateway_castStance"] = serial = \
        measure.serial_gateway_casts(bench, c["id"], eligible[:serial_n])
    st["serial"]["large"]["store_tx_replay"] = measure.replay_cast_transaction(
        bench, c["id"], cfg["replay_samples"])
    counted = eligible[serial_n:serial_n + cfg["opcount_casts"]]
    log(f"store round trips of {len(counted)} serial castStance (and an idle window as long)")
    st["serial"]["large"]["store_round_trips"] = trips = opcount.serial_round_trips(
        bench, c["id"], counted, len(counted) * (serial.get("mean_ms") or 20) / 1000)
    idle = {"s": trips["idle"]["s"],
            "opcounters_per_s": opcount.divide(trips["idle"]["opcounters"], trips["idle"]["s"])}
    serial_n += len(counted)
    log(f"castStance at {len(eligible)} eligible: {cfg['clients']} concurrent clients, "
        f"{cfg['cast_window_s']}s window")
    pids = bench.pids()
    meter = CpuMeter({k: v for k, v in pids.items() if k != "supervisord"}).start()
    profiler = None
    if args.profile:
        from bench.profile import Profiler
        wanted = {k: v for k, v in pids.items()
                  if k in ("store", "consultations") or k.startswith("gateway-worker")}
        profiler = Profiler(wanted, cfg["cast_window_s"] + 5, RESULTS / "profile").start()
    ops = measure.store_opcounters(bench)
    st["cast"]["large"] = measure.concurrent_casts(
        bench, c["id"], eligible[serial_n:], cfg["clients"], cfg["cast_window_s"], cfg["cast_max"])
    st["cast"]["large"]["cpu_cores_busy"] = meter.stop()
    store_opcounters(bench, st["cast"]["large"], ops, idle)
    if profiler:
        st["profile"] = profiler.finish()
    load.rpc_queues_idle(bench, timeout=180)
    st["raw"] = measure.raw_inserts(bench, cfg["clients"], cfg["raw_count"], cfg["raw_serial"])
    # the rest of the 10,000 stances: RPC (serial) within a budget, then straight into the store
    cast = load.stances_of(bench, c["id"])
    remaining = [m for m in eligible if m not in cast]
    lat = []
    budget = max(0.0, bench.budget.left() - 120) if args.load == "all-rpc" else cfg["stance_rpc_budget_s"]
    log(f"loading {len(remaining)} more stances by RPC (serial, up to {budget:.0f}s)")
    by_rpc = load.cast_rpc(bench, c["id"], remaining, budget_s=budget, latencies=lat)
    st["serial"]["large"]["rpc_cast_stance"] = summary(lat)
    rest = remaining[by_rpc:]
    by_store = 0
    if rest and args.load != "all-rpc":
        load.rpc_queues_idle(bench)
        log(f"  {by_rpc} by RPC ({by_rpc / budget if budget else 0:.1f}/s); writing the other "
            f"{len(rest)} stances straight into the consultations store")
        by_store = load.fill_stances_direct(bench, c["id"], rest)
    st["load"]["large_stances"] = {"concurrent_gateway": st["cast"]["large"]["ok"],
                                   "serial_gateway": serial_n, "rpc": by_rpc, "direct_to_store": by_store}


def peak_rss(bench, st):
    st["processes"] = {name: {"pid": pid, **(proc_status(pid) or {})} for name, pid in bench.pids().items()}
    st["processes"]["bench-client"] = {"pid": os.getpid(), **(proc_status(os.getpid()) or {})}


# ---- the JSON ---------------------------------------------------------------------------------

def figures(st, cfg):
    g = lambda *path: _get(st, *path)  # noqa: E731
    small, large = str(cfg["small"]), str(cfg["large"])
    out = {
        "raw_insert_per_s": g("raw", "raw_insert_per_s"),
        "raw_insert_serial_per_s": g("raw", "raw_insert_serial_per_s"),
        "raw_insert_per_s_retrywrites_false": g("raw", "raw_insert_per_s_retrywrites_false"),
        "cast_stance_per_s": g("cast", "large", "per_s"),
        "cast_stance_eligible": cfg["large"],
        "cast_stance_per_s_at_small": g("cast", "small", "per_s"),
    }
    out["stack_efficiency"] = ratio(out["cast_stance_per_s"], out["raw_insert_per_s"], 4)
    trips = g("serial", "large", "store_round_trips", "per_cast") or {}
    out["store_round_trips_per_cast"] = trips.get("round_trips")
    out["store_ops_per_cast_whole_store"] = trips.get("all_ops")
    for key, size in (("serial_overhead_ratio", "large"), ("serial_overhead_ratio_at_small", "small")):
        out[key] = ratio(g("serial", size, "gateway_castStance", "p50_ms"),
                         g("serial", size, "store_tx_replay", "total", "p50_ms"))
    p50, p99, flat = {}, {}, {}
    for name in ("tally", "members_nested"):
        for n in (small, large):
            q = g("queries", name, n)
            if q:
                p50[f"{name}@{n}"], p99[f"{name}@{n}"] = q["p50_ms"], q["p99_ms"]
        flat[name] = ratio(p50.get(f"{name}@{large}"), p50.get(f"{name}@{small}"))
    out.update(query_p50_ms=p50, query_p99_ms=p99, flatness=flat)
    calls = {}
    for n in (small, large):
        if g("rpc_calls", n):
            calls[f"@{n} members"] = g("rpc_calls", n)
    values = {v for d in calls.values() for v in d.values()}
    out["rpc_calls_per_query"] = {**calls, "equal": len(values) == 1 if values else None}
    out["saga_latency_p50_ms"] = {k: g("saga", k, "p50_ms") for k in ("admission", "allocation")}
    out["saga_latency_p99_ms"] = {k: g("saga", k, "p99_ms") for k in ("admission", "allocation")}
    out["saga_samples"] = {k: g("saga", k, "n") for k in ("admission", "allocation")}
    out["open_large_consultation_ms"] = g("open_large", "median_total_ms")
    out["member_registration_end_to_end_per_s"] = registration_per_s(
        [g("load", k) for k in ("mid", "large", "large_rpc")])
    out["peak_rss_mb"] = {k: v.get("peak_rss_mb") for k, v in (st.get("processes") or {}).items()}
    out.update(fanout.figures(st.get("fanout")))
    out.update(signin.figures(st.get("signin")))
    out.update(web.figures(st.get("web")))
    out.update(cluster.figures(st.get("cluster")))
    values = {**{k: out.get(k) for k in GOALS}, "flatness_tally": flat.get("tally"),
              "flatness_members_nested": flat.get("members_nested")}
    compare = {">=": operator.ge, "<=": operator.le, "<": operator.lt}
    goals = {}
    for key, (op, limit) in GOALS.items():
        value = values[key]
        goals[key] = None if value is None else {"value": value, "goal": f"{op} {limit}",
                                                 "met": compare[op](value, limit)}
    goals["rpc_calls_equal"] = out["rpc_calls_per_query"]["equal"]
    out["goals"] = goals
    return out


def registration_per_s(loads):
    """Members registered by RPC per second until the read models had them,
    over the loading steps that registered some (load_mid and load_large)."""
    loads = [x for x in loads if x and x.get("registered")]
    seconds = sum(x["read_models_caught_up_s"] for x in loads)
    return round(sum(x["registered"] for x in loads) / seconds, 1) if seconds else None


def _get(d, *path):
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def write(result):
    write_result(result, RESULTS, "latest.json", result["mode"])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in < 3 minutes")
    parser.add_argument("--large", type=int, help="override the large size (members, stances)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy profiles of store, consultations and gateway workers during the "
                             "large castStance load (bench/results/profile/; perturbs that figure), and "
                             "of notifications and the store during the large fan-out (profile/fanout/)")
    parser.add_argument("--load", choices=["default", "fast", "all-rpc"], default="default",
                        help="default: every member by RPC, the large tally's stances by RPC for "
                             "stance_rpc_budget_s, the rest straight into the store; fast: also "
                             "members beyond the first rpc_members straight into the stores; "
                             "all-rpc: every stance by RPC too (~10 more minutes at 10,000)")
    parser.add_argument("--cluster", action="store_true",
                        default=os.environ.get("BENCH_CLUSTER", "") not in ("", "0"),
                        help="also the cluster phase after the others (bench/cluster.py: "
                             "castStance on three RabbitMQ nodes of its own against one, and the "
                             "recovery from a node killed; needs rabbitmq-server and haproxy); "
                             "BENCH_CLUSTER=1 sets it")
    args = parser.parse_args(argv)
    mode = "quick" if args.quick else "full"
    cfg = dict(SIZES[mode])
    if args.large:
        cfg["large"] = max(args.large, cfg["small"] * 2)
    if args.load == "all-rpc":
        cfg["budget_s"] *= 3
    cfg["load"] = args.load
    started_wall = time.monotonic()
    st = {"tag": uuid.uuid4().hex[:6], "load": {}, "cast": {}, "serial": {}, "queries": {},
          "rpc_calls": {}, "errors": {}, "skipped": []}
    result = {"bench": "coalition", "issue": 8, "mode": mode,
              "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "sizes": cfg}

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, terminate)

    tmp = Path(tempfile.mkdtemp(prefix="coalition-bench-"))
    bench = Bench(tmp, Budget(cfg["budget_s"]))
    try:
        bench.start()
        result["stack"] = {"gateway_workers": bench.handle.stack.gateway_workers,
                           "gateway_threads": int(os.environ.get("GATEWAY_THREADS", "8")),
                           "env": {k: v for k, v in bench.handle.env.items()
                                   if k not in ("COALITION_JWT_SECRET",)}}
        phases = [
            ("load_small", lambda: load_small(bench, cfg, st)),
            ("casts_small", lambda: casts_small(bench, cfg, st)),
            ("queries_small", lambda: (queries(bench, cfg, st, "small", str(cfg["small"])),
                                       tally_queries(bench, cfg, st, st["c_small"], str(cfg["small"])))),
            ("sagas", lambda: sagas(bench, cfg, st)),
            ("signin", lambda: signin.phase(bench, cfg, st)),
            ("load_mid", lambda: load_mid(bench, cfg, st)),
            ("fanout_small", lambda: fanout.phase(bench, st, "small")),
            ("web", lambda: web.phase(bench, cfg, st)),
            ("load_large", lambda: load_large(bench, cfg, st, args)),
            ("fanout_large", lambda: fanout.phase(
                bench, st, "large", with_sink=True,
                profile_dir=RESULTS / "profile" / "fanout" if args.profile else None)),
            ("queries_large", lambda: queries(bench, cfg, st, "large", str(cfg["large"]))),
            ("open_large", lambda: open_large(bench, cfg, st)),
            ("casts_large", lambda: casts_large(bench, cfg, st, args)),
            ("tally_large", lambda: tally_queries(bench, cfg, st, st["c_large"], str(cfg["large"]))),
        ]
        needs = {"casts_small": "load_small", "queries_small": "casts_small", "sagas": "load_small",
                 "signin": "load_small",
                 "load_mid": "load_small", "fanout_small": "load_mid", "web": "load_small",
                 "load_large": "load_small", "fanout_large": "load_large", "queries_large": "load_large",
                 "open_large": "load_large", "casts_large": "load_large", "tally_large": "casts_large"}
        done = set()
        st["phase_s"] = {}
        for name, fn in phases:
            if needs.get(name) and needs[name] not in done:
                st["skipped"].append(f"{name}: {needs[name]} did not complete")
                continue
            log(f"== {name} ({bench.budget.left():.0f}s of budget left)")
            t = time.monotonic()
            try:
                bench.budget.check(5, name)
                fn()
                done.add(name)
            except OutOfTime as exc:
                st["skipped"].append(str(exc))
                log(f"  skipped: {exc}")
            except Exception as exc:
                st["errors"][name] = f"{type(exc).__name__}: {exc}"[:500]
                log(f"  FAILED: {st['errors'][name]}")
            st["phase_s"][name] = round(time.monotonic() - t, 1)
        if st.get("c_small"):
            stance = bench.db("consultations").stances.find_one({"consultation_id": st["c_small"]})
            st["serial"]["gateway_cpu_in_process_ms"] = measure.gateway_cpu(
                {**{k: stance[k] for k in ("consultation_id", "round", "member_id", "value", "reason")},
                 "cast_at": stance["cast_at"].isoformat()})
        peak_rss(bench, st)
    except KeyboardInterrupt as exc:
        st["errors"]["interrupted"] = str(exc) or "KeyboardInterrupt"
        log("interrupted: cleaning up")
    except Exception as exc:
        st["errors"]["stack"] = f"{type(exc).__name__}: {exc}"[:500]
        log(f"FAILED: {st['errors']['stack']}")
    finally:
        stop_and_clean(bench, tmp)
    if args.cluster and "interrupted" not in st["errors"]:
        cluster.after_run(cfg, st)
    result["figures"] = figures(st, cfg)
    result["details"] = {k: st.get(k) for k in ("load", "cast", "serial", "queries", "rpc_calls",
                                                "saga", "open_large", "raw", "fanout", "signin", "web",
                                                "cluster",
                                                "processes",
                                                "phase_s", "profile") if st.get(k)}
    result["errors"], result["skipped"] = st["errors"], st["skipped"]
    result["wall_time_s"] = round(time.monotonic() - started_wall, 1)
    write(result)
    if st.get("fanout"):
        for line in fanout.report(result["figures"]):
            log(line)
    if st.get("signin"):
        for line in signin.report(result["figures"]):
            log(line)
    if st.get("web"):
        for line in web.report(result["figures"]):
            log(line)
    if st.get("cluster"):
        for line in cluster.report(result["figures"]):
            log(line)
    return 1 if st["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
