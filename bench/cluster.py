"""castStance on a three-node RabbitMQ cluster against one node, and the time
to recover from a node killed (issue 20, "Benchmark").

    .venv/bin/python -m bench.cluster [--members 400] [--clients 16] [--window 30]
    BENCH_CLUSTER=1 make bench      # or python -m bench.run --cluster: after the other phases

Optional: it needs Debian's rabbitmq-server and haproxy (sudo apt-get install
-y rabbitmq-server haproxy); `make bench` does not run it unless asked.

Two brokers of the bench's own, one after the other, started the same way
(tests/cluster/nodes.py: Debian's rabbitmq-server with their own node names,
ports and folders; the machine's node on 5672 is never touched) behind the
same kind of local HAProxy: one node, then three nodes clustered. On each, a
stack of its own with QUEUE_TYPE=quorum, `members` founding members by RPC,
one GENERAL consultation, and castStance through the gateway by `clients`
concurrent clients, each stance by a distinct member, for at most `window`
seconds (bench/measure.concurrent_casts): successful casts per second and
their p99. A one-node quorum queue has no one to replicate to, so the
difference is the price of replication (and of three nodes sharing this
machine's cores with the stack).

Then, on the cluster: the busiest node (home to most of the stack's queues)
is killed with -9 while a probe asks the gateway for its readiness, a read
and a write (tests/cluster/load.Probe); measured are the seconds from the
kill until five probes in a row succeed, and until the node, started
again, is back in the cluster. Figures are printed, never asserted.
"""
import argparse
import shutil
import signal
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench import load, measure
from bench.harness import Bench, Budget, finish, log, machine, stop_and_clean
from bench.stats import ratio
from tests.cluster.load import Probe
from tests.cluster.nodes import Cluster, require_tools

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULTS = {"cluster_members": 400, "cluster_clients": 16, "cluster_window_s": 30}
SERVING_BOUND_S = 120


def recovery(bench, brokers, consultation_id, member_id):
    """kill -9 the busiest node; seconds until the stack serves, and until the node is back."""
    probe = Probe(bench.handle, consultation_id, member_id)
    index = brokers.busiest(bench.handle.vhost)
    killed_at = time.monotonic()
    pid = brokers.kill(index)
    served = probe.time_to_serve(killed_at, SERVING_BOUND_S)
    log(f"  kill -9 {brokers.nodes[index].name} (pid {pid}): serving again after "
        f"{served['serving_s']} s")
    started = time.monotonic()
    brokers.restart(index)
    rejoined_s = round(time.monotonic() - started, 2)
    log(f"  node back in the cluster after {rejoined_s} s")
    return {"node": brokers.nodes[index].name, **served, "rejoined_s": rejoined_s}


def on_broker(nodes, sizes, tag):
    """The castStance figures on a broker of `nodes` nodes (and, for a
    cluster, the recovery from a node killed)."""
    root = Path(tempfile.mkdtemp(prefix=f"coalition-bench-cluster{nodes}-"))
    brokers = Cluster(root / "broker", nodes)
    bench = None
    try:
        log(f"== {nodes} RabbitMQ node(s) of our own behind HAProxy")
        brokers.start()
        bench = Bench(root / "stack", Budget(20 * 60), broker=brokers,
                      extra_env={"QUEUE_TYPE": "quorum"})
        bench.start()
        load.load_founders(bench, sizes["cluster_members"], tag)
        c = load.open_consultation(bench, f"Cluster vote {tag} ({nodes} nodes)")
        eligible = load.voter_ids(bench)
        out = {"nodes": nodes, "cast": measure.concurrent_casts(
            bench, c["id"], eligible, sizes["cluster_clients"], sizes["cluster_window_s"],
            len(eligible))}
        if nodes > 1:
            out["recovery"] = recovery(bench, brokers, c["id"], eligible[0])
        return out
    finally:
        if bench is not None:
            stop_and_clean(bench, root / "stack")
        brokers.stop()
        shutil.rmtree(root, ignore_errors=True)


def phase(sizes, st):
    """st["cluster"]: one node, then three. Raises if the tools are missing."""
    require_tools()
    sizes = {**DEFAULTS, **{k: v for k, v in sizes.items() if k in DEFAULTS}}
    tag = st.get("tag", uuid.uuid4().hex[:6]) + "k"
    st["cluster"] = {"sizes": sizes}
    st["cluster"]["single"] = on_broker(1, sizes, tag + "1")
    st["cluster"]["cluster"] = on_broker(3, sizes, tag + "3")
    return st["cluster"]


def after_run(cfg, st):
    """The phase `cluster` of bench/run.py (--cluster, BENCH_CLUSTER=1), once its
    stack is gone (that stack's background work would weigh on one broker's
    figures only); a failure goes into st["errors"], never raised."""
    log("== cluster (one RabbitMQ node, then three, of the bench's own)")
    started = time.monotonic()
    try:
        phase(cfg, st)
    except KeyboardInterrupt as exc:
        st["errors"]["interrupted"] = str(exc) or "KeyboardInterrupt"
    except Exception as exc:
        st["errors"]["cluster"] = f"{type(exc).__name__}: {exc}"[:500]
        log(f"  FAILED: {st['errors']['cluster']}")
    st.setdefault("phase_s", {})["cluster"] = round(time.monotonic() - started, 1)


def figures(found):
    """The figures of issue 20's benchmark from st["cluster"] (None where not measured)."""
    found = found or {}
    cast = lambda kind, key: (((found.get(kind) or {}).get("cast") or {}).get(key))  # noqa: E731
    p99 = lambda kind: (cast(kind, "latency") or {}).get("p99_ms")  # noqa: E731
    rec = (found.get("cluster") or {}).get("recovery") or {}
    return {
        "cluster_cast_stance_per_s": cast("cluster", "per_s"),
        "single_node_cast_stance_per_s": cast("single", "per_s"),
        "cluster_cast_stance_p99_ms": p99("cluster"),
        "single_node_cast_stance_p99_ms": p99("single"),
        "cluster_over_single_node_per_s": ratio(cast("cluster", "per_s"), cast("single", "per_s")),
        "cluster_recovery_s": rec.get("serving_s"),
        "cluster_node_rejoined_s": rec.get("rejoined_s"),
    }


def report(fig):
    """The figures as lines for a reader (stderr)."""
    return [
        f"castStance on quorum queues: 3 nodes {fig['cluster_cast_stance_per_s']}/s "
        f"(p99 {fig['cluster_cast_stance_p99_ms']} ms), 1 node "
        f"{fig['single_node_cast_stance_per_s']}/s (p99 {fig['single_node_cast_stance_p99_ms']} "
        f"ms): x{fig['cluster_over_single_node_per_s']}",
        f"  a node killed -9: serving again after {fig['cluster_recovery_s']} s; the node back "
        f"in the cluster after {fig['cluster_node_rejoined_s']} s",
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.cluster",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=DEFAULTS["cluster_members"],
                        help="founding members, each casting one stance in the window")
    parser.add_argument("--clients", type=int, default=DEFAULTS["cluster_clients"])
    parser.add_argument("--window", type=int, default=DEFAULTS["cluster_window_s"],
                        help="at most this many seconds of castStance")
    args = parser.parse_args(argv)
    sizes = {"cluster_members": args.members, "cluster_clients": args.clients,
             "cluster_window_s": args.window}
    result = {"bench": "cluster", "issue": 20, "machine": machine(), "sizes": sizes,
              "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    st, errors, started = {}, {}, time.monotonic()

    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, terminate)
    try:
        phase(sizes, st)
    except KeyboardInterrupt as exc:
        errors["interrupted"] = str(exc) or "KeyboardInterrupt"
    except Exception as exc:
        errors["run"] = f"{type(exc).__name__}: {exc}"[:500]
        log(f"FAILED: {errors['run']}")
    return finish(result, figures(st.get("cluster")), st.get("cluster"), errors, started,
                  RESULTS, "cluster", report)


if __name__ == "__main__":
    sys.exit(main())
