"""RabbitMQ nodes of our own, from Debian's rabbitmq-server, clustered, with
a local HAProxy in front (tests/cluster/haproxy.py says why a proxy and not
failover URLs).

Each node has its own name (`coalc<i>-<run>@localhost`), AMQP and
distribution ports, configuration, data and log folders in a temporary
folder, and no plugins. The machine's own node (rabbit@<host> on 5672) is
never addressed: every rabbitmqctl call here names its node with `-n`.

The nodes run as the current user (root, as `make test`'s rabbitmqctl
needs) from /usr/lib/rabbitmq/bin, the scripts Debian's /usr/sbin wrappers
call. Debian's `rabbitmqctl` runs as the rabbitmq user, so it presents
that user's Erlang cookie ($HOME/.erlang.cookie of rabbitmq): our nodes are
given the same cookie, in a home folder of their own, so that the kit's own
rabbitmqctl calls (broker.provision(node=...)) reach them as they are.

A node is killed with SIGKILL (its beam's OS pid, asked with `eval
'os:getpid().'` once it has started) and brought back with the same
environment; it rejoins the cluster by itself (its data folder remembers
it). The caller stops everything with Cluster.stop() (a fixture's
finalizer), which also deletes the folder.
"""
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from services.common import broker as broker_kit
from services.stack import free_port
from tests.cluster import haproxy
from tests.cluster.haproxy import HAProxy

SCRIPTS = Path("/usr/lib/rabbitmq/bin")  # what Debian's /usr/sbin/rabbitmq* wrappers run
INSTALL = ("the cluster tests and the bench's cluster phase need Debian's rabbitmq-server and "
           "haproxy: sudo apt-get install -y rabbitmq-server haproxy")
ADMIN = "coalition-admin"


def missing_tools():
    """The Debian packages this harness needs that are not installed."""
    missing = []
    if not (SCRIPTS / "rabbitmq-server").exists() or shutil.which("rabbitmqctl") is None:
        missing.append("rabbitmq-server")
    if haproxy.executable() is None:
        missing.append("haproxy")
    return missing


def require_tools():
    missing = missing_tools()
    if missing:
        raise RuntimeError(f"missing: {', '.join(missing)}; {INSTALL}")


def ctl(node, *args, timeout=60, stdin=None, check=True, tool="rabbitmqctl"):
    """`rabbitmqctl -n node args...` (or another of RabbitMQ's CLI tools)."""
    result = subprocess.run([tool, "-n", node, *args], capture_output=True, text=True,
                            timeout=timeout, input=stdin)
    if check and result.returncode != 0:
        raise RuntimeError(f"{tool} -n {node} {' '.join(args[:2])} failed: "
                           f"{(result.stderr or result.stdout).strip()[-800:]}")
    return result


def cli_cookie():
    """The Erlang cookie Debian's rabbitmqctl presents (the rabbitmq user's)."""
    path = Path(pwd.getpwnam("rabbitmq").pw_dir) / ".erlang.cookie"
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise RuntimeError(f"cannot read {path} ({exc}): run as root; the file appears when "
                           "Debian's rabbitmq-server first starts") from None


class Node:
    """One RabbitMQ node: its settings, its process, its OS pid."""

    def __init__(self, name, folder, home):
        self.name = name
        self.folder = Path(folder)
        self.home = home  # holds the shared .erlang.cookie
        self.port = free_port()
        self.dist_port = free_port()
        self.proc = None
        self.pid = None

    @property
    def short(self):
        return self.name.split("@")[0]

    def environment(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        f = self.folder
        env.update({
            "HOME": str(self.home), "RABBITMQ_NODENAME": self.name,
            # our own (empty) env file: not /etc/rabbitmq/rabbitmq-env.conf, the machine node's
            "RABBITMQ_CONF_ENV_FILE": str(f / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(f / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(f / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(f / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(f / "mnesia"), "RABBITMQ_LOG_BASE": str(f / "log"),
            "RABBITMQ_DIST_PORT": str(self.dist_port), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}"})
        return env

    def write_files(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "rabbitmq-env.conf").write_text("")
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq.conf").write_text("\n".join([
            f"listeners.tcp.default = 127.0.0.1:{self.port}",
            "loopback_users = none",
            # what RabbitMQ advises for three nodes: a node cut off from the
            # majority pauses instead of serving a split brain
            "cluster_partition_handling = pause_minority",
            "log.file.level = info", "log.console = false", ""]))

    def start(self):
        """Start the node's process (same settings each time); await_started() waits for it."""
        self.write_files()
        with open(self.folder / "console.log", "a") as log:
            self.proc = subprocess.Popen([str(SCRIPTS / "rabbitmq-server")], env=self.environment(),
                                         cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pid = None
        return self

    def await_started(self, timeout=90):
        """Until the node runs RabbitMQ; then learn its beam's OS pid."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): {self.log_tail()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self.name} did not start in {timeout}s: {self.log_tail()}")
            done = ctl(self.name, "await_startup", "--timeout", str(int(max(1, min(left, 10)))),
                       timeout=left + 15, check=False)
            if done.returncode == 0:
                break
            time.sleep(0.3)
        out = ctl(self.name, "eval", "os:getpid().").stdout
        self.pid = int(out.strip().strip('"'))
        return self

    def kill(self):
        """SIGKILL to the node's beam; returns once it is gone. Its pid as
        the node told it, or (a node that never finished starting) found
        by the node name in its environment."""
        pid, self.pid = self.pid, None
        targets = _beams_named(self.name) | ({pid} if pid else set())
        for each in targets:
            try:
                os.kill(each, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.kill()  # the rabbitmq-server script, beam's parent
            except ProcessLookupError:
                pass
            self.proc.wait(30)
        deadline = time.monotonic() + 30
        while any(_alive(p) for p in targets) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, chars=2000):
        logs = [self.folder / "log" / f"{self.name}.log", self.folder / "console.log"]
        return " | ".join(p.read_text(errors="replace")[-chars:] for p in logs if p.exists())


def _beams_named(name):
    """The pids of Erlang VMs started as RabbitMQ node `name` (from their environment)."""
    wanted = f"RABBITMQ_NODENAME={name}".encode()
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().startswith("beam") \
                    and wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.add(int(entry.name))
        except OSError:
            pass
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Cluster:
    """`size` nodes joined into one cluster, an administrator user of our own
    (guest deleted), HAProxy in front. Duck-types the broker a StackHandle
    takes (tests/support.py): `amqp_uri`, `node`, `admin`."""

    def __init__(self, folder, size=3):
        self.folder = Path(folder)
        run = uuid.uuid4().hex[:6]
        self.home = self.folder / "home"
        self.nodes = [Node(f"coalc{i + 1}-{run}@localhost", self.folder / f"node{i + 1}", self.home)
                      for i in range(size)]
        self.admin = ADMIN
        self.password = secrets.token_urlsafe(24)
        self.proxy = HAProxy(self.folder / "haproxy", {n.short: n.port for n in self.nodes})

    @property
    def amqp_uri(self):
        """The administrator's URI of the default vhost, through HAProxy."""
        return f"amqp://{self.admin}:{self.password}@127.0.0.1:{self.proxy.port}/"

    @property
    def node(self):
        """A node that runs, for rabbitmqctl (vhosts, users, policies)."""
        for n in self.nodes:
            if n.running and n.pid:
                return n.name
        raise RuntimeError("no node of the cluster runs")

    def start(self):
        require_tools()
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(cli_cookie())
        cookie.chmod(0o400)
        for n in self.nodes:
            n.start()
        _each(lambda n: n.await_started(), self.nodes)
        self._add_admin(self.nodes[0].name)
        for n in self.nodes[1:]:
            ctl(n.name, "stop_app")
            ctl(n.name, "join_cluster", self.nodes[0].name)
            ctl(n.name, "start_app")
        self.wait_running(self.nodes)
        self.proxy.start()
        for n in self.nodes:
            self.proxy.wait_state(n.short, "UP")
        self._wait_login()
        return self

    def _wait_login(self, timeout=30):
        """Until the administrator logs in through HAProxy (definitions are imported apart)."""
        from kombu import Connection
        deadline = time.monotonic() + timeout
        while True:
            try:
                with Connection(self.amqp_uri, connect_timeout=5) as conn:
                    conn.connect()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _add_admin(self, node):
        """Our administrator (password as a salted hash, on standard input), guest gone."""
        admin = broker_kit.definitions({}, "/", admin=(self.admin, self.password))
        ctl(node, "import_definitions", "--format", "json",
            stdin=json.dumps({k: admin[k] for k in ("users", "permissions")}))
        ctl(node, "delete_user", "guest", check=False)

    def running_names(self, via=None):
        """The cluster's running nodes, as `via` (a running node) sees them."""
        out = ctl(via or self.node, "cluster_status", "--formatter", "json").stdout
        return set(json.loads(out).get("running_nodes", []))

    def wait_running(self, nodes, timeout=90):
        """Until every node of `nodes` runs in the cluster, seen from each of them."""
        wanted = {n.name for n in nodes}
        deadline = time.monotonic() + timeout
        while True:
            try:
                seen = [self.running_names(n.name) >= wanted for n in self.nodes if n.running]
            except RuntimeError:  # a node between its start and its CLI answering
                seen = [False]
            if all(seen):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster: {wanted} not all running after {timeout}s")
            time.sleep(0.3)

    def kill(self, index):
        """kill -9 node `index` (0-based); returns its pid once HAProxy has marked it down."""
        node = self.nodes[index]
        pid = node.kill()
        self.proxy.wait_state(node.short, "DOWN")
        return pid

    def restart(self, index, timeout=120):
        """Start node `index` again and wait until it has rejoined and HAProxy sends to it."""
        node = self.nodes[index]
        node.start()
        node.await_started(timeout)
        self.wait_running(self.nodes, timeout)
        self.proxy.wait_state(node.short, "UP")
        return node

    def node_uri(self, index, vhost="/"):
        """The administrator's URI of `vhost` on node `index` itself, past HAProxy."""
        path = "" if vhost == "/" else quote(vhost, safe="")
        return (f"amqp://{self.admin}:{self.password}@127.0.0.1:{self.nodes[index].port}/"
                f"{path}")

    def queue_homes(self, vhost):
        """{node index: queues of `vhost` it is home to}: the quorum queues it
        leads and the classic ones (reply queues) that live on it."""
        homes = {}
        for index, node in enumerate(self.nodes):
            if not node.running:
                continue
            out = ctl(node.name, "list_queues", "-p", vhost, "--local", "name", "type", "leader",
                      "--formatter", "json").stdout
            homes[index] = sum(1 for q in json.loads(out or "[]")
                               if q["type"] == "classic" or q.get("leader") == node.name)
        return homes

    def busiest(self, vhost, avoid=None, homes=None):
        """The index of the node home to most of `vhost`'s queues (never
        `avoid`), from `homes` if given (as queue_homes answers)."""
        homes = {i: n for i, n in (homes or self.queue_homes(vhost)).items() if i != avoid}
        return max(sorted(homes), key=lambda i: homes[i])

    def quorum_critical(self, index):
        """Whether stopping node `index` would leave some quorum queue without its majority."""
        return ctl(self.nodes[index].name, "check_if_node_is_quorum_critical",
                   tool="rabbitmq-queues", check=False).returncode != 0

    def stop(self):
        """HAProxy and every node stopped, the folder deleted (never raises)."""
        for stop in [self.proxy.stop, *(n.kill for n in self.nodes)]:
            try:
                stop()
            except Exception:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)


def _each(fn, items):
    """fn(item) for every item at once (threads); the first error is raised."""
    errors = []

    def run(item):
        try:
            fn(item)
        except Exception as exc:
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
