"""Optional sampling profiles (py-spy, if installed: it is not a project
dependency) of the stack's processes during the castStance load."""
import collections
import shutil
import subprocess
from pathlib import Path

from bench.harness import log


def py_spy():
    here = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Profiler:
    def __init__(self, pids, seconds, outdir, rate=67):
        self.exe = py_spy()
        self.pids, self.seconds, self.outdir, self.rate = pids, seconds, Path(outdir), rate
        self.procs = {}

    def start(self):
        if not self.exe:
            log("profile: py-spy not found (pip install py-spy); no profile taken")
            return self
        self.outdir.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            out = self.outdir / f"{name}.folded"
            self.procs[name] = subprocess.Popen(
                [self.exe, "record", "--nonblocking", "--idle", "-r", str(self.rate),
                 "-d", str(int(self.seconds)), "-f", "raw", "-o", str(out), "--pid", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def finish(self, top=15):
        report = {}
        for name, proc in self.procs.items():
            try:
                proc.wait(self.seconds + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
            path = self.outdir / f"{name}.folded"
            if path.exists():
                report[name] = aggregate(path, top)
                (self.outdir / f"{name}.txt").write_text(render(report[name]))
        if report:
            log(f"profile: folded stacks and summaries in {self.outdir}")
        return report


IDLE = ("_recv_exactly", "do_poll", "Hub.wait", "select", "Condition.wait", "Event.wait",
        "accept", "_readable", "sleep", "epoll", "recv_into", "Queue.get", "wait (threading")


def aggregate(path, top=15):
    """Self and inclusive shares of each frame; `busy` leaves out frames waiting on I/O or locks."""
    inclusive, self_, busy_self = collections.Counter(), collections.Counter(), collections.Counter()
    total = busy = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        n = int(n)
        frames = [f.split(" (")[0] + (" " + f.split(" (")[1].split("/")[-1].rstrip(")")
                                      if " (" in f else "") for f in stack.split(";")]
        total += n
        for f in set(frames):
            inclusive[f] += n
        self_[frames[-1]] += n
        if not any(word in frames[-1] for word in IDLE):
            busy += n
            busy_self[frames[-1]] += n
    pct = lambda c, d: [(k, round(100 * v / d, 1)) for k, v in c.most_common(top)] if d else []
    return {"samples": total, "busy_share": round(busy / total, 3) if total else None,
            "top_self": pct(self_, total), "top_busy_self": pct(busy_self, busy),
            "top_inclusive": pct(inclusive, total)}


def render(summary):
    lines = [f"samples {summary['samples']}, busy share {summary['busy_share']}"]
    for key in ("top_busy_self", "top_self", "top_inclusive"):
        lines.append(f"--- {key} (%)")
        lines += [f"{p:6.1f}  {frame}" for frame, p in summary[key]]
    return "\n".join(lines) + "\n"
