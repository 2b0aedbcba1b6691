"""Fan-out of a round's CONSULTATION_OPENED mails (issue 15, "Benchmark").

    .venv/bin/python -m bench.fanout [--members 10000] [--small 1000] [--load fast|rpc] [--profile]

One round is measured from the openConsultation answer (the round and its
consultation_opened event are committed) to the last CONSULTATION_OPENED
mail of that round accepted by the stack's SMTP sink: tests/helpers/mail.py's
MailServer, which tests.support.StackHandle starts in this process and points
SMTP_URL at. mails/s = the round's eligible members / that time. Memory: the
notifications process's VmRSS just before the open, and its peak until the
last mail (VmHWM, reset through /proc/<pid>/clear_refs just before the open,
and VmRSS sampled every 50 ms besides). The same is measured at a smaller
round in the same run, so that "memory does not grow with the number of
members" can be judged: the peak's increase over the RSS before, at both
sizes, and their ratio (growth in proportion would be the ratio of the sizes).

Also reported, to say where the time goes:
- the sink's own ceiling: a plain smtplib loop in another process sends one
  real mail of the round again and again over one connection (as the sender
  does), so a slow sink is not taken for a slow service;
- the round's time line: the event published (consultations' outbox), the
  handler's transaction begun (its processed_events marker, after the
  `prepare` RPC for the snapshot), its notifications and mails committed
  (that marker seen, polled every 50 ms by its `_id`: a range of `_id`s, or
  any query that is not one index range, costs the store O(collection) and
  slows the very transaction measured), the first and the last mail
  accepted by the sink;
- CPU of the processes during the round; with --profile, py-spy of the
  notifications service and the store (bench/results/profile/fanout/).

Before each round the bench waits until the notifications service has
nothing left to send and no event waiting, so the round is measured alone.
Nothing is written into the stores by this module; `--load fast` fills the
read models as bench/load.py's load_founders_direct does.

`make bench` runs it as phases of bench/run.py: `fanout_small` once the
coalition has cfg["fanout_small"] voters (phase `load_mid`), `fanout_large`
after `load_large`, on the members that run loads. Alone, it starts its own
stack (tests.support.StackHandle) and loads its own members.
"""
import argparse
import collections
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench import load
from bench.harness import CpuMeter, cpu_seconds, log, machine, run_on_own_stack, write_result
from bench.stats import ratio

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_MAILS_PER_S = 200
SINK_CEILING_MAILS = 2000
POLL_S = 0.05
NOTIFICATIONS_QUEUE = "notifications"  # in the names of the service's event and RPC queues
HANDLER = "notifications.on_consultation_opened"  # its processed_events marker: "<HANDLER>:<event id>"

# the sink's ceiling: one connection, one raw message sent `n` times (stdin: the message)
SINK_CLIENT = """
import smtplib, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
raw = sys.stdin.buffer.read()
with smtplib.SMTP(host, port, timeout=60) as smtp:
    started = time.perf_counter()
    for i in range(n):
        smtp.sendmail("bench@coalition.test", [f"sink{i}@network.example.org"], raw)
    print(time.perf_counter() - started)
"""


def now():
    return datetime.now(timezone.utc)


def since(t0, t):
    return None if t is None else round((t - t0).total_seconds(), 3)


# ---- the notifications process -------------------------------------------------------

def memory(pid):
    """{rss_mb, hwm_mb} of the process (VmRSS, VmHWM), or {}."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return {}
    mib = lambda key: round(int(fields[key].split()[0]) / 1024, 1) if key in fields else None  # noqa: E731
    return {"rss_mb": mib("VmRSS"), "hwm_mb": mib("VmHWM")}


def reset_peak(pid):
    """VmHWM := VmRSS (Linux >= 4.0, same user); False when refused."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def quiet(bench, timeout=300.0):
    """Wait until no mail is QUEUED or SENDING and no message waits in the
    notifications service's queues; the seconds waited, and what was left
    if it never got there."""
    mails = bench.db("notifications").mails
    started = time.monotonic()
    left = {}
    while time.monotonic() - started < timeout:
        pending = mails.count_documents({"status": {"$in": ["QUEUED", "SENDING"]}})
        queued = {q: n for q, n in bench.queue_depths().items() if NOTIFICATIONS_QUEUE in q and n}
        left = {"mails_pending": pending, "queues": queued}
        if not pending and not queued:
            return {"waited_s": round(time.monotonic() - started, 1)}
        time.sleep(1.0)
    log(f"  the notifications service was still busy after {timeout:.0f}s: {left}")
    return {"waited_s": round(time.monotonic() - started, 1), "still_busy": left}


# ---- watching one round --------------------------------------------------------------

class SinkWatch:
    """The sink's messages of one round (its token in the raw message),
    scanned incrementally from the moment the watch is made."""

    def __init__(self, server, token):
        self.server = server
        self.token = token.encode()
        self.start = len(server.messages)
        self.index = self.start
        self.count = 0
        self.first = self.last = self.last_raw = None
        self.ids = collections.Counter()

    def scan(self):
        messages = self.server.messages
        for m in messages[self.index:]:
            if self.token in m.raw:
                self.count += 1
                self.ids[m.message_id] += 1
                self.first = self.first or m.received_at
                self.last, self.last_raw = m.received_at, m.raw
        self.index = len(messages)
        return self.count


class Round:
    """One measured round: open it, watch the sink, the store and the
    notifications process until its last mail is accepted."""

    def __init__(self, bench, tag, label):
        self.bench, self.label = bench, label
        self.token = f"fanout-{tag}-{label}"
        self.pid = bench.handle.stack.pid("notifications")
        self.peak_sampled = 0.0
        self.committed = self.opened_at = None

    def run(self, timeout, profile_dir=None):
        bench = self.bench
        sink = SinkWatch(bench.handle.mail, self.token)
        pids = {k: v for k, v in bench.pids().items()
                if k in ("store", "notifications", "members", "consultations")}
        meter = CpuMeter({**pids, "bench-client (sink)": os.getpid()}).start()
        profiler = self._profiler(pids, timeout, profile_dir)
        peak_reset = reset_peak(self.pid)
        before = memory(self.pid)
        t_call = now()
        c = load.open_consultation(bench, f"Fan-out {self.token}")
        t0 = now()
        n = c["tally"]["eligible"]
        event = bench.db("consultations").outbox.find_one(
            {"event_type": "consultation_opened", "envelope.data.consultation_id": c["id"]})
        log(f"  round of {n} eligible opened ({(t0 - t_call).total_seconds() * 1000:.0f} ms); "
            f"waiting for {n} mails")
        self.opened_at = t_call
        self._watch(sink, event["_id"], n, time.monotonic() + timeout)
        out = {"eligible": n, "consultation_id": c["id"], "event_id": event["_id"],
               "open_ms": round((t0 - t_call).total_seconds() * 1000, 1),
               "accepted": sink.count, "distinct_message_ids": len(sink.ids),
               "repeats": sum(v - 1 for v in sink.ids.values() if v > 1),
               "cpu_cores_busy": meter.stop()}
        out["memory"] = self._memory(before, peak_reset)
        out["timeline_s"] = self._timeline(t0, event["_id"], n, sink)
        elapsed = since(t0, sink.last)
        out["seconds"] = elapsed  # the openConsultation answer -> the last mail accepted
        out["mails_per_s"] = round(sink.count / elapsed, 1) if elapsed else None
        sending = since(sink.first, sink.last)
        out["sending_mails_per_s"] = round((sink.count - 1) / sending, 1) if sending else None
        out["complete"] = sink.count >= n
        if profiler:
            out["profile"] = profiler.finish()
        self.last_raw = sink.last_raw
        return out

    def _profiler(self, pids, timeout, outdir):
        if outdir is None:
            return None
        from bench.profile import Profiler
        wanted = {k: v for k, v in pids.items() if k in ("notifications", "store")}
        expected = self.bench.db("consultations").voters.count_documents({"can_vote": True})
        return Profiler(wanted, min(timeout, 15 + expected / 150), outdir).start()

    def _watch(self, sink, event_id, n, deadline):
        markers = self.bench.db("notifications").processed_events
        # written in the transaction that writes the round's notifications and mails
        marker = {"_id": f"{HANDLER}:{event_id}"}
        last_note = time.monotonic()
        while sink.scan() < n:
            if self.committed is None and markers.find_one(marker, {"_id": 1}):
                self.committed = now()
            self.peak_sampled = max(self.peak_sampled, memory(self.pid).get("rss_mb") or 0.0)
            if time.monotonic() > deadline:
                log(f"  timed out: {sink.count} of {n} mails accepted")
                return
            if time.monotonic() - last_note > 10:
                last_note = time.monotonic()
                log(f"  {sink.count}/{n} mails accepted; notifications RSS "
                    f"{memory(self.pid).get('rss_mb')} MB")
            time.sleep(POLL_S)

    def _memory(self, before, peak_reset):
        after = memory(self.pid)
        rss_before = before.get("rss_mb")
        # VmHWM is the true peak once reset; without the reset it may be an older one
        peak = max(self.peak_sampled, after.get("rss_mb") or 0,
                   (after.get("hwm_mb") or 0) if peak_reset else 0)
        return {"rss_before_mb": rss_before, "peak_rss_mb": peak,
                "peak_sampled_rss_mb": self.peak_sampled, "rss_after_mb": after.get("rss_mb"),
                "peak_increase_mb": round(peak - rss_before, 1) if peak and rss_before else None,
                "peak_is_vmhwm_since_open": peak_reset,
                "hwm_since_start_mb_before": before.get("hwm_mb")}

    def _timeline(self, t0, event_id, n, sink):
        """Seconds from the openConsultation answer to each step (wall clocks
        of one machine; the store's are to the millisecond)."""
        db = self.bench.db("notifications")
        marker = db.processed_events.find_one({"_id": f"{HANDLER}:{event_id}"}, {"at": 1})
        event = self.bench.db("consultations").outbox.find_one({"_id": event_id}, {"sent_at": 1})
        # the last SENT record follows the sink's answer by a store write
        sent = []
        for _ in range(20):
            sent = self._sent_at(event_id)
            if len(sent) >= n:
                break
            time.sleep(0.5)
        return {"event_published": since(t0, event.get("sent_at")),
                "handler_began (after prepare)": since(t0, marker and marker["at"]),
                "mails_committed (seen)": since(t0, self.committed),
                "first_accepted": since(t0, sink.first),
                "last_accepted": since(t0, sink.last),
                "first_recorded_sent": since(t0, min(sent, default=None)),
                "last_recorded_sent": since(t0, max(sent, default=None)),
                "recorded_sent": len(sent)}

    def _sent_at(self, event_id):
        """sent_at of the round's SENT mails: one range of the (status,
        created_at) index, the round's picked by key prefix here."""
        found = self.bench.db("notifications").mails.find(
            {"status": "SENT", "created_at": {"$gte": self.opened_at, "$lte": now()}},
            {"sent_at": 1})
        return [d["sent_at"] for d in found if d["_id"].startswith(f"{event_id}:")]


def measure_round(bench, tag, label, profile_dir=None):
    """One round at the coalition's current size, once the service is quiet."""
    waited = quiet(bench)
    n = load.voters(bench)
    timeout = 120 + n / 20  # gives up below 20 mails/s
    bench.budget.check(min(timeout, 60 + n / 100), f"fan-out of {n}")
    log(f"fan-out ({label}): {n} voters; quiet after {waited['waited_s']}s")
    r = Round(bench, tag, label)
    out = {"quiet_before": waited, **r.run(timeout, profile_dir)}
    m = out["memory"]
    log(f"  {out['accepted']}/{out['eligible']} mails in {out['timeline_s']['last_accepted']}s = "
        f"{out['mails_per_s']} mails/s (goal >= {GOAL_MAILS_PER_S}); notifications RSS "
        f"{m['rss_before_mb']} MB before, peak {m['peak_rss_mb']} MB (+{m['peak_increase_mb']})")
    out["_raw"] = r.last_raw
    return out


def sink_ceiling(bench, raw, count=SINK_CEILING_MAILS):
    """mails/s the sink accepts from a plain smtplib loop in another process
    (one connection, one real message of the round, its token blanked)."""
    if not raw:
        return {"error": "no message of the round to send"}
    server = bench.handle.mail
    before = len(server.messages)
    cpu0 = cpu_seconds(os.getpid())
    done = subprocess.run([sys.executable, "-c", SINK_CLIENT, server.host, str(server.port), str(count)],
                          input=raw, capture_output=True, timeout=600)
    if done.returncode:
        return {"error": done.stderr.decode(errors="replace")[-300:]}
    seconds = float(done.stdout.decode().strip())
    cpu = cpu_seconds(os.getpid()) - cpu0
    out = {"mails": count, "accepted": len(server.messages) - before, "s": round(seconds, 2),
           "mails_per_s": round(count / seconds, 1), "message_bytes": len(raw),
           "sink_cpu_ms_per_mail": round(cpu * 1000 / count, 2)}
    log(f"  sink ceiling: {out['mails_per_s']} mails/s ({count} over one connection, "
        f"{len(raw)} bytes each, {out['sink_cpu_ms_per_mail']} ms of the sink's CPU per mail)")
    return out


# ---- as phases of bench/run.py --------------------------------------------------------

def phase(bench, st, label, with_sink=False, profile_dir=None):
    """Measure a round into st["fanout"][label] (and the sink's ceiling after
    it, if asked), then let the sink forget what it kept (memory of the bench)."""
    fan = st.setdefault("fanout", {})
    fan[label] = measure_round(bench, st["tag"], label, profile_dir)
    raw = fan[label].pop("_raw", None)
    if with_sink:
        fan["sink"] = sink_ceiling(bench, raw.replace(f"fanout-{st['tag']}-{label}".encode(),
                                                      b"x" * len(f"fanout-{st['tag']}-{label}"))
                                   if raw else None)
    bench.handle.mail.clear()


def figures(fan):
    """The figures of issue 15's benchmark from st["fanout"]."""
    fan = fan or {}
    small, large = fan.get("small") or {}, fan.get("large") or {}
    inc = lambda r: (r.get("memory") or {}).get("peak_increase_mb")  # noqa: E731
    peak = lambda r: (r.get("memory") or {}).get("peak_rss_mb")  # noqa: E731
    return {
        "fanout_mails_per_s": large.get("mails_per_s"),
        "fanout_eligible": large.get("eligible"),
        "fanout_seconds": (large.get("timeline_s") or {}).get("last_accepted"),
        "fanout_mails_per_s_at_small": small.get("mails_per_s"),
        "fanout_eligible_at_small": small.get("eligible"),
        "fanout_notifications_rss_before_mb": {"small": (small.get("memory") or {}).get("rss_before_mb"),
                                               "large": (large.get("memory") or {}).get("rss_before_mb")},
        "fanout_notifications_peak_rss_mb": {"small": peak(small), "large": peak(large)},
        "fanout_peak_increase_mb": {"small": inc(small), "large": inc(large)},
        "fanout_peak_increase_ratio": ratio(inc(large), inc(small), 2),
        "fanout_size_ratio": ratio(large.get("eligible"), small.get("eligible"), 1),
        "fanout_sink_ceiling_mails_per_s": (fan.get("sink") or {}).get("mails_per_s"),
    }


def report(fig):
    """The figures as lines for a reader (stderr)."""
    met = fig["fanout_mails_per_s"] is not None and fig["fanout_mails_per_s"] >= GOAL_MAILS_PER_S
    inc, peak = fig["fanout_peak_increase_mb"], fig["fanout_notifications_peak_rss_mb"]
    before = fig["fanout_notifications_rss_before_mb"]
    return [
        f"fan-out of {fig['fanout_eligible']} CONSULTATION_OPENED mails: {fig['fanout_seconds']} s, "
        f"{fig['fanout_mails_per_s']} mails/s   goal >= {GOAL_MAILS_PER_S}: {'met' if met else 'NOT met'}",
        f"  at {fig['fanout_eligible_at_small']}: {fig['fanout_mails_per_s_at_small']} mails/s",
        f"  notifications RSS before / peak MB: {before['small']} / {peak['small']} at "
        f"{fig['fanout_eligible_at_small']}, {before['large']} / {peak['large']} at {fig['fanout_eligible']}",
        f"  peak increase MB: {inc['small']} -> {inc['large']}: x{fig['fanout_peak_increase_ratio']} "
        f"for x{fig['fanout_size_ratio']} the members (in proportion would be x{fig['fanout_size_ratio']})",
        f"  SMTP sink ceiling (plain smtplib loop): {fig['fanout_sink_ceiling_mails_per_s']} mails/s",
    ]


# ---- alone: python -m bench.fanout ------------------------------------------------------

def load_members(bench, target, args, tag):
    """Voters up to `target`: by RPC (--load rpc), or the first args.rpc_members
    by RPC and the rest straight into the stores (--load fast)."""
    if args.load == "rpc":
        return {"rpc": load.load_founders(bench, target, tag)}
    out = {"rpc": load.load_founders(bench, min(target, args.rpc_members), tag)}
    if load.voters(bench) < target:
        out["direct"] = load.load_founders_direct(bench, target, tag)
        load.wait_until(lambda: load.voters(bench) >= target, 60, 0.5, f"{target} voters")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000, help="the large round (default 10,000)")
    parser.add_argument("--small", type=int, help="the smaller round (default: members / 10)")
    parser.add_argument("--load", choices=["fast", "rpc"], default="fast",
                        help="fast (default): the first --rpc-members by RPC, the rest straight into "
                             "the stores; rpc: every member by RPC (~20 minutes at 10,000)")
    parser.add_argument("--rpc-members", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="py-spy of notifications and the store "
                        "during the large round (bench/results/profile/fanout/)")
    args = parser.parse_args(argv)
    small = args.small or max(10, args.members // 10)
    st = {"tag": uuid.uuid4().hex[:6], "load": {}, "errors": {}}
    result = {"bench": "fanout", "issue": 15, "started_at": now().isoformat(timespec="seconds"),
              "machine": machine(), "sizes": {"small": small, "large": args.members, "load": args.load}}

    def work(bench):
        st["load"]["small"] = load_members(bench, small, args, st["tag"])
        phase(bench, st, "warm-up")  # the first fan-out of a process also loads its templates
        phase(bench, st, "small")
        st["load"]["large"] = load_members(bench, args.members, args, st["tag"])
        phase(bench, st, "large", with_sink=True,
              profile_dir=RESULTS / "profile" / "fanout" if args.profile else None)
    started = time.monotonic()
    run_on_own_stack("fanout", 60 * 60, st["errors"], work)
    result["figures"] = figures(st.get("fanout"))
    result["details"] = {"fanout": st.get("fanout"), "load": st["load"]}
    result["errors"] = st["errors"]
    result["wall_time_s"] = round(time.monotonic() - started, 1)
    write(result)
    for line in report(result["figures"]):
        log(line)
    return 1 if st["errors"] else 0


def write(result):
    write_result(result, RESULTS, "fanout-latest.json", "fanout")


if __name__ == "__main__":
    sys.exit(main())
