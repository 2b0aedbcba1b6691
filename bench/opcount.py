"""Store operations per castStance (issue 21), counted by the store itself.

Two of SecantusDB's own counters are read around a window of casts:
- serverStatus `opcounters` (insert, query, update, delete, getmore,
  command): every client's operations on the whole store, so everything a
  cast causes (the gateway's fresh can-vote check on members, the cast's
  transaction, the outbox relay publishing its event, the notifications
  consumer of stance_cast) and everything else the stack does meanwhile;
- the consultations database's profiler (`profile` level 2 during the
  window only, entries read then dropped): every statement on that database
  with its command, so the statements inside transactions (`autocommit:
  false`) and the transactions started (`startTransaction: true`, each
  ended by one commitTransaction or abortTransaction round trip, sent to
  `admin` and so not in the profile) are counted exactly. Those are the
  cast's own round trips: `round_trips` = transactional statements +
  transactions.

Idle traffic (outbox relay polls every 0.2 s, timers, drivers' heartbeats,
the bench's own reads of the counters) is measured over a window of the
same length just before, with the same reads, and subtracted in proportion
to the windows' lengths: `net = raw - idle * run_s / idle_s`.
"""
import collections
import time

from bench.harness import log

PROFILED = "consultations"


def snapshot(bench):
    """The store's serverStatus opcounters now. (Its `top` is not used: its
    per-collection counts did not match the profiler's in a check.)"""
    ops = bench.handle.mongo().admin.command("serverStatus").get("opcounters") or {}
    return {k: v for k, v in ops.items() if isinstance(v, int)}


def subtract(a, b, k=1.0):
    """a - k * b, key by key, over nested dicts of numbers (zeros dropped
    below the first level; missing keys count 0)."""
    out = {}
    for key in set(a) | set(b):
        x, y = a.get(key, 0), b.get(key, 0)
        if isinstance(x, dict) or isinstance(y, dict):
            sub = subtract(x or {}, y or {}, k)
            if sub:
                out[key] = sub
        else:
            value = round(x - k * y, 2)
            if value:
                out[key] = value
    return out


def divide(d, n):
    """d / n over nested dicts of numbers."""
    return {k: divide(v, n) if isinstance(v, dict) else round(v / n, 2) for k, v in d.items()}


def profile_summary(db):
    """The profiler's entries of the window, counted: the statements inside
    transactions by `collection.command`, the transactions started, the
    statements outside transactions (the relay's, the timers')."""
    tx, other = collections.Counter(), collections.Counter()
    started = 0
    for e in db.system.profile.find({}, {"ns": 1, "command": 1}):
        command = e.get("command") or {}
        label = f"{e.get('ns', '').split('.', 1)[-1]}.{next(iter(command), '?')}"
        if command.get("autocommit") is False:
            tx[label] += 1
            started += 1 if command.get("startTransaction") else 0
        else:
            other[label] += 1
    db.system.profile.drop()
    return {"round_trips": sum(tx.values()) + started, "transactions": started,
            "tx_statements": sum(tx.values()), "tx_by_statement": dict(tx),
            "other_statements": sum(other.values()), "other_by_statement": dict(other)}


def window(bench, seconds=None, action=None, settle_s=1.0, profile=True):
    """The counters' change over one window: `action()` then `settle_s` of
    waiting (for the relay and the consumers to finish with it), or, without
    an action, `seconds` of idle. Returns (counts, action's result)."""
    db = bench.db(PROFILED)
    if profile:
        db.system.profile.drop()
        db.command("profile", 2, slowms=0)
    try:
        before = snapshot(bench)
        started = time.monotonic()
        result = None
        if action is None:
            time.sleep(seconds)
        else:
            result = action()
            time.sleep(settle_s)
        elapsed = time.monotonic() - started
        after = snapshot(bench)
    finally:
        if profile:
            db.command("profile", 0)
    counts = {"s": round(elapsed, 2), "opcounters": subtract(after, before)}
    if profile:
        counts["profile"] = profile_summary(db)
    return counts, result


def net_of(run, idle):
    """`run`'s counts less `idle`'s, scaled to `run`'s length."""
    k = run["s"] / idle["s"] if idle.get("s") else 0.0
    return {key: subtract(run[key], idle.get(key, {}), k) for key in run if key != "s"}


def per_cast(counts, ok):
    """Per successful cast: the cast's own round trips (profiler), and every
    store operation by opcounters bucket, with their total."""
    if not ok:
        return {}
    ops = counts.get("opcounters", {})
    out = {"opcounters": divide(ops, ok), "all_ops": round(sum(ops.values()) / ok, 2)}
    prof = counts.get("profile")
    if prof:
        out["round_trips"] = round(prof.get("round_trips", 0) / ok, 2)
        out["profile"] = divide({k: v for k, v in prof.items() if k != "round_trips"}, ok)
    return out


def serial_round_trips(bench, consultation_id, member_ids, expected_s, settle_s=1.0):
    """Serial castStance through the gateway by distinct members, counted by
    the store (see the module's docstring); the idle window before it lasts
    `expected_s` + `settle_s` (the run's expected length)."""
    from bench.measure import CAST
    tokens = [bench.handle.member_token(m) for m in member_ids]
    idle, _ = window(bench, seconds=expected_s + settle_s)

    def casts():
        ok, errors = 0, collections.Counter()
        for token in tokens:
            body, _, _ = bench.post(CAST, {"c": consultation_id, "v": "AGREE"}, token)
            if body.get("errors"):
                errors[body["errors"][0].get("extensions", {}).get("code", "?")] += 1
            else:
                ok += 1
        return ok, dict(errors)

    raw, (ok, errors) = window(bench, action=casts, settle_s=settle_s)
    net = net_of(raw, idle)
    out = {"casts": len(tokens), "ok": ok, "errors": errors, "settle_s": settle_s,
           "idle": idle, "raw": raw, "net": net,
           "per_cast_raw": per_cast(raw, ok), "per_cast": per_cast(net, ok)}
    log(f"  store per serial castStance ({ok} ok): {out['per_cast'].get('round_trips')} round trips "
        f"of its own (raw {out['per_cast_raw'].get('round_trips')}), "
        f"{out['per_cast'].get('all_ops')} operations on the whole store net of idle "
        f"(raw {out['per_cast_raw'].get('all_ops')}): {out['per_cast'].get('opcounters')}")
    return out


def idle_rate(bench, seconds):
    """Operations per second of the idle stack (opcounters only)."""
    idle, _ = window(bench, seconds=seconds, profile=False)
    return {"s": idle["s"], "opcounters_per_s": divide(idle["opcounters"], idle["s"])}


def net_concurrent(ops_delta, elapsed_s, ok, idle):
    """A concurrent load's opcounters (measure.opcounters_delta) net of the
    idle rate over its length, per successful cast."""
    raw = {k: v for k, v in ops_delta.items() if isinstance(v, (int, float))}
    net = subtract(raw, idle.get("opcounters_per_s", {}), elapsed_s)
    out = {"idle_rate_per_s": idle.get("opcounters_per_s"), "idle_window_s": idle.get("s"),
           "net": net}
    if ok:
        out["net_per_ok_cast"] = divide(net, ok)
        out["net_all_ops_per_ok_cast"] = round(sum(net.values()) / ok, 2)
        out["raw_all_ops_per_ok_cast"] = round(sum(raw.values()) / ok, 2)
    return out
