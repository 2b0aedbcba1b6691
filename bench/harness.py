"""The bench's handle on a running stack: RPC proxies per thread, GraphQL
over HTTP, progress on stderr, a time budget, process facts from /proc."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from tests.support import StackHandle, rabbitmqctl

T0 = time.monotonic()


def log(message):
    sys.stderr.write(f"[bench {time.monotonic() - T0:7.1f}s] {message}\n")
    sys.stderr.flush()


class OutOfTime(Exception):
    """The run's time budget is spent: remaining phases are skipped."""


class Budget:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def check(self, need=0.0, what="next phase"):
        if self.left() < need:
            raise OutOfTime(f"{what}: needs ~{need:.0f}s, {max(0, self.left()):.0f}s left")


class Bench:
    """One stack (tests.support.StackHandle) and the clients of the bench;
    `broker` and `extra_env` as StackHandle takes them (bench/cluster.py
    runs the stack on brokers of its own)."""

    def __init__(self, tmp, budget, broker=None, extra_env=None):
        self.handle = StackHandle(tmp, extra_env, broker=broker)
        self.budget = budget
        self._local = threading.local()
        self._proxies = []
        self._lock = threading.Lock()
        self.http = requests.Session()
        self.admin = None

    # ---- lifecycle ---------------------------------------------------------------
    def start(self):
        log(f"starting the stack in {self.handle.tmp} (vhost {self.handle.vhost}, "
            f"db prefix {self.handle.prefix})")
        self.handle.start()
        self.admin = self.handle.admin()
        return self

    def stop(self):
        """Stop our RPC clients, then StackHandle.stop(): drops the run's
        databases while the store still runs, stops the stack, deletes the vhost."""
        with self._lock:
            proxies, self._proxies = self._proxies, []
        for proxy in proxies:
            try:
                proxy.stop()
            except Exception:
                pass
        self.handle.stop()

    # ---- clients ---------------------------------------------------------------
    def rpc(self):
        """A started ClusterRpcProxy of this thread (nameko clients are not thread-safe)."""
        proxy = getattr(self._local, "rpc", None)
        if proxy is None:
            cm = self.handle.rpc(timeout=60)
            proxy = cm.start()
            with self._lock:
                self._proxies.append(cm)
            self._local.rpc = proxy
        return proxy

    def session(self):
        s = getattr(self._local, "http", None)
        if s is None:
            s = self._local.http = requests.Session()
        return s

    def post(self, query, variables=None, token=None, session=None, timeout=60):
        """(body, response, seconds) of one GraphQL POST."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        s = session or self.session()
        started = time.perf_counter()
        r = s.post(self.handle.url + "/graphql", json={"query": query, "variables": variables},
                   headers=headers, timeout=timeout)
        elapsed = time.perf_counter() - started
        try:
            body = r.json()
        except ValueError:
            body = {"errors": [{"message": r.text[:200], "extensions": {"code": f"HTTP_{r.status_code}"}}]}
        return body, r, elapsed

    def gql(self, query, variables=None, token=None):
        body, r, _ = self.post(query, variables, token)
        if r.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"GraphQL refused: {body}")
        return body["data"]

    def db(self, service):
        return self.handle.db(service)

    # ---- processes -------------------------------------------------------------
    def pids(self):
        """{program: pid} of the processes under the stack's supervisord,
        gunicorn's workers as gateway-worker-N."""
        out = {}
        supervisord = self.handle.stack.running_pid()
        if supervisord:
            out["supervisord"] = supervisord
        for name in ("store", "members", "consultations", "grants", "notifications", "gateway"):
            pid = self.handle.stack.pid(name)
            if pid:
                out["gateway-master" if name == "gateway" else name] = pid
        for i, child in enumerate(children(out.get("gateway-master"))):
            out[f"gateway-worker-{i + 1}"] = child
        return out

    def queue_depths(self):
        """{queue: messages ready + unacked} of our vhost (rabbitmqctl), or {}."""
        if not self.handle.vhost:
            return {}
        try:
            out = subprocess.run(rabbitmqctl(self.handle.broker, "-q", "list_queues", "-p",
                                             self.handle.vhost, "name", "messages"),
                                 capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
        depths = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                depths[parts[0]] = int(parts[1])
        return depths


def write_result(result, results, latest, name):
    """The result as JSON: to `results`/`latest`, to `results`/<name>-<time>.json
    and to stdout."""
    text = json.dumps(result, indent=2, default=str)
    results.mkdir(parents=True, exist_ok=True)
    (results / latest).write_text(text + "\n")
    stamp = result["started_at"].replace(":", "").replace("-", "")[:15]
    (results / f"{name}-{stamp}.json").write_text(text + "\n")
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def finish(result, figures, details, errors, started, results, name, report):
    """The end of every phase's main(): its figures, details, errors and wall
    time into `result`, written (results/<name>-latest.json and a dated copy,
    stdout), the report's lines logged; the exit status (1 if any error)."""
    result["figures"], result["details"], result["errors"] = figures, details, errors
    result["wall_time_s"] = round(time.monotonic() - started, 1)
    write_result(result, results, f"{name}-latest.json", name)
    for line in report(figures):
        log(line)
    return 1 if errors else 0


def stop_and_clean(bench, tmp):
    """Stop the bench's stack (its databases and vhost dropped) and delete its
    temporary folder; a problem is logged, never raised (this runs in `finally`)."""
    log("stopping the stack, dropping its databases and vhost")
    try:
        bench.stop()
    except Exception as exc:
        log(f"cleanup problem: {type(exc).__name__}: {exc}")
    shutil.rmtree(tmp, ignore_errors=True)


def run_on_own_stack(name, budget_seconds, errors, work, before_start=None):
    """Run `work(bench)` on a stack of its own (a one-off bench: `python -m
    bench.<name>`), started after `before_start(bench)` (settings to change).
    SIGTERM interrupts it; an interruption or a failure goes into `errors`
    ("interrupted", "run"), never raised; the stack is stopped and cleaned
    whatever happens. What `work` returns, or None if it did not finish."""
    def terminate(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, terminate)
    tmp = Path(tempfile.mkdtemp(prefix=f"coalition-bench-{name}-"))
    bench = Bench(tmp, Budget(budget_seconds))
    try:
        if before_start:
            before_start(bench)
        bench.start()
        return work(bench)
    except KeyboardInterrupt as exc:
        errors["interrupted"] = str(exc) or "KeyboardInterrupt"
    except Exception as exc:
        errors["run"] = f"{type(exc).__name__}: {exc}"[:500]
        log(f"FAILED: {errors['run']}")
    finally:
        stop_and_clean(bench, tmp)
    return None


def children(pid):
    if not pid:
        return []
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return sorted(set(found))


def proc_status(pid):
    """{VmHWM, VmRSS} in MiB from /proc/<pid>/status, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return None
    def mib(key):
        value = fields.get(key, "").strip().split()
        return round(int(value[0]) / 1024, 1) if value else None
    return {"peak_rss_mb": mib("VmHWM"), "rss_mb": mib("VmRSS")}


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """CPU seconds used by each process between start() and stop(), as cores busy."""

    def __init__(self, pids):
        self.pids = dict(pids)

    def start(self):
        self.t0 = time.monotonic()
        self.c0 = {n: cpu_seconds(p) for n, p in self.pids.items()}
        return self

    def stop(self):
        dt = time.monotonic() - self.t0
        out = {}
        for n, p in self.pids.items():
            c1 = cpu_seconds(p)
            if c1 is not None and self.c0.get(n) is not None and dt > 0:
                out[n] = round((c1 - self.c0[n]) / dt, 2)
        return out


def machine():
    import platform
    info = {"nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_total_mb"] = round(int(f.readline().split()[1]) / 1024)
    except OSError:
        pass
    return info
