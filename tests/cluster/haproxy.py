"""A local HAProxy (Debian's package, a configuration of our own, a free
port) in front of our RabbitMQ nodes, in TCP mode.

Why a proxy and not kombu's failover URLs (`amqp://a;amqp://b;...`): in
Kubernetes the RabbitMQ Cluster Operator's Service fronts the nodes exactly
this way (one address, the nodes behind it), so the stack keeps one AMQP_URI
code path everywhere. That URI is parsed by our kit (broker.process_uri,
which rewrites its user and password per process, and vhost_of) and by
nameko, neither of which knows the `;`-separated form; and a node that dies
is taken out of rotation by health checks, not by each client's own retries.

Health checks every 500 ms: two failures mark a node down, and
`on-marked-down shutdown-sessions` cuts at once every client still connected
through it (a killed node's sockets close by themselves on one machine; on a
network they would hang until a heartbeat timed out). Two good checks bring
it back. A RabbitMQ node opens its AMQP listener only once it has booted,
so a TCP check is a readiness check. The client and server timeouts are
longer than any heartbeat interval, as RabbitMQ's guide to proxies advises.
"""
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from services.stack import free_port, port_open

CHECK_INTERVAL_MS = 500


def executable():
    """Debian's haproxy (in /usr/sbin, which a user's PATH may lack), or None."""
    found = shutil.which("haproxy") or "/usr/sbin/haproxy"
    return found if Path(found).is_file() else None


class HAProxy:
    """One `listen` section: 127.0.0.1:`port` -> each of `servers` ({name: port})."""

    def __init__(self, folder, servers):
        self.folder = Path(folder)
        self.servers = dict(servers)
        self.port = free_port()
        self.socket_path = self.folder / "admin.sock"
        self.config_path = self.folder / "haproxy.cfg"
        self.proc = None

    def config(self):
        lines = [
            "global",
            "    maxconn 4000",
            f"    stats socket {self.socket_path} mode 600 level admin",
            "defaults",
            "    mode tcp",
            "    timeout connect 2s",
            "    timeout client 3h",
            "    timeout server 3h",
            "    timeout check 1s",
            # a connection refused by a node not yet marked down goes to another
            "    option redispatch",
            "    retries 2",
            "listen amqp",
            f"    bind 127.0.0.1:{self.port}",
            "    balance roundrobin",
            f"    default-server inter {CHECK_INTERVAL_MS}ms fall 2 rise 2 "
            "on-marked-down shutdown-sessions",
        ]
        lines += [f"    server {name} 127.0.0.1:{port} check" for name, port in self.servers.items()]
        return "\n".join(lines) + "\n"

    def start(self, timeout=20):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        check = subprocess.run([executable(), "-c", "-q", "-f", str(self.config_path)],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused {self.config_path}: {check.stderr or check.stdout}")
        log = open(self.folder / "haproxy.log", "w")
        # -db: in the foreground, so that this process is HAProxy itself (its pid ours to stop)
        self.proc = subprocess.Popen([executable(), "-db", "-f", str(self.config_path)],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not (port_open("127.0.0.1", self.port, 0.2) and self.socket_path.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("haproxy did not start: "
                                   + (self.folder / "haproxy.log").read_text()[-2000:])
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def command(self, text):
        """The answer of HAProxy's admin socket to one command."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(str(self.socket_path))
            s.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def states(self):
        """{server: "UP" | "DOWN" | ...} as HAProxy's health checks see them."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        name_at, status_at = header.index("svname"), header.index("status")
        states = {}
        for line in lines[1:]:
            fields = line.split(",")
            if len(fields) > status_at and fields[name_at] in self.servers:
                # "UP 1/2" or "DOWN 1/2" while a state change is being confirmed
                states[fields[name_at]] = fields[status_at].split(" ")[0]
        return states

    def wait_state(self, server, state, timeout=30):
        """Until HAProxy holds `server` to be `state` ("UP" or "DOWN")."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.states().get(server)
            if seen == state:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"haproxy: {server} is {seen}, not {state}, after {timeout}s")
            time.sleep(0.1)
