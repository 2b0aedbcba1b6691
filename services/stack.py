"""Run the whole stack locally under supervisor: `make up` / `make down`.

    python -m services.stack up             # foreground until Ctrl-C
    python -m services.stack down           # stop what `up` started
    python -m services.stack ensure-broker  # RabbitMQ answers, or say how to get it

The embedded store (SecantusDB, data in ./var/store) runs unless MONGO_URI
is set. The test suite uses the same `Stack` class on free ports and a
temporary folder, never ./var/.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from services.common import config as settings_module

ROOT = Path(__file__).resolve().parent.parent
APP_PROGRAMS = ["members", "consultations", "grants"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def broker_address(amqp_uri):
    from urllib.parse import urlparse
    parsed = urlparse(amqp_uri)
    return parsed.hostname or "127.0.0.1", parsed.port or 5672


def ensure_broker(amqp_uri, wait=60):
    """RabbitMQ answers: start a local one if installed but stopped; else explain."""
    host, port = broker_address(amqp_uri)
    if port_open(host, port):
        return True
    local = host in ("127.0.0.1", "localhost", "::1")
    server = shutil.which("rabbitmq-server") or (
        "/usr/sbin/rabbitmq-server" if os.path.exists("/usr/sbin/rabbitmq-server") else None)
    if not local or server is None:
        sys.stderr.write(
            f"RabbitMQ does not answer at {host}:{port}.\n"
            + ("Install it (Debian/Ubuntu): sudo apt-get install rabbitmq-server\n"
               "then start it: sudo rabbitmq-server -detached\n" if local and server is None else
               "Start it, or set AMQP_URI to a broker that runs.\n"))
        return False
    print(f"RabbitMQ is stopped; starting it: {server} -detached", flush=True)
    subprocess.run([server, "-detached"], check=False)
    deadline = time.time() + wait
    while time.time() < deadline:
        if port_open(host, port):
            time.sleep(1)
            return True
        time.sleep(1)
    sys.stderr.write(f"RabbitMQ did not come up at {host}:{port} within {wait}s.\n")
    return False


class Stack:
    """The processes of coalition under one supervisord."""

    def __init__(self, var_dir, env, store_port=None, gateway_bind="127.0.0.1:8000",
                 gateway_workers=2):
        self.var = Path(var_dir)
        self.env = dict(env)
        self.store_port = store_port
        self.gateway_bind = gateway_bind
        self.gateway_workers = gateway_workers
        self.conf = self.var / "supervisord.conf"
        self.sock = self.var / "supervisor.sock"
        self.pidfile = self.var / "supervisord.pid"
        self.process = None

    @property
    def python(self):
        return sys.executable

    def programs(self):
        progs = {}
        if self.store_port:
            progs["store"] = (f"{self.python} -m secantus --host 127.0.0.1 --port {self.store_port} "
                              f"--storage-path {self.var / 'store'} --log-level WARNING")
        for name in APP_PROGRAMS:
            progs[name] = f"{self.python} -m services.common.runner {name}"
        progs["gateway"] = (f"{Path(self.python).parent / 'gunicorn'} --config "
                            f"python:services.gateway.gunicorn_conf services.gateway.app:application")
        return progs

    def write_config(self):
        self.var.mkdir(parents=True, exist_ok=True)
        (self.var / "logs").mkdir(exist_ok=True)
        env = {**self.env, "GATEWAY_BIND": self.gateway_bind,
               "GATEWAY_WORKERS": str(self.gateway_workers), "PYTHONUNBUFFERED": "1"}
        env_line = ",".join(f'{k}="{v}"' for k, v in sorted(env.items())
                            if k.isidentifier() and '"' not in v and "%" not in v)
        lines = [
            "[unix_http_server]", f"file={self.sock}", "",
            "[supervisord]", f"pidfile={self.pidfile}", f"logfile={self.var / 'logs' / 'supervisord.log'}",
            "nodaemon=true", "loglevel=warn", f"environment={env_line}", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl=unix://{self.sock}", "",
        ]
        for name, command in self.programs().items():
            lines += [f"[program:{name}]", f"command={command}", f"directory={ROOT}",
                      "autorestart=true", "startsecs=1", "startretries=100",
                      "stopasgroup=true", "killasgroup=true", "stopwaitsecs=10",
                      f"priority={10 if name == 'store' else 20}",
                      f"stdout_logfile={self.var / 'logs' / (name + '.log')}",
                      "redirect_stderr=true", "stdout_logfile_maxbytes=20MB", ""]
        self.conf.write_text("\n".join(lines))

    def running_pid(self):
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self, foreground=False):
        self.write_config()
        cmd = [str(Path(self.python).parent / "supervisord"), "-c", str(self.conf)]
        if foreground:
            return subprocess.call(cmd, cwd=ROOT)
        self.process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        return self.process

    def ctl(self, *args, check=False):
        cmd = [str(Path(self.python).parent / "supervisorctl"), "-c", str(self.conf), *args]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=check)

    def pid(self, program):
        out = self.ctl("pid", program).stdout.strip()
        return int(out) if out.isdigit() and out != "0" else None

    def kill9(self, program):
        pid = self.pid(program)
        if pid:
            os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        elif self.running_pid():
            os.kill(self.running_pid(), signal.SIGTERM)

    def healthz(self, timeout=2):
        import json
        try:
            with urllib.request.urlopen(f"http://{self.gateway_bind}/healthz", timeout=timeout) as r:
                return json.loads(r.read())
        except Exception:
            return None

    def wait_healthy(self, timeout=90):
        deadline = time.time() + timeout
        health = None
        while time.time() < deadline:
            health = self.healthz()
            if health and health.get("status") == "ok":
                return health
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"stack not healthy after {timeout}s: {health}; logs in {self.var / 'logs'}")


def local_stack():
    settings = settings_module.load_or_exit(program="make up")
    env = {k: str(v) for k, v in os.environ.items()
           if k in settings_module.SettingsSchema().fields}
    store_port = None
    if not os.environ.get("MONGO_URI"):
        store_port = 27027
        env["MONGO_URI"] = f"mongodb://127.0.0.1:{store_port}/?directConnection=true"
    return Stack(ROOT / "var", env, store_port=store_port,
                 gateway_bind=os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")), settings


def up():
    stack, settings = local_stack()
    pid = stack.running_pid()
    if pid:
        print(f"coalition is already running (supervisord pid {pid}). "
              "Stop it with `make down`, or open http://127.0.0.1:8000/graphql")
        return 1
    if not ensure_broker(settings["AMQP_URI"]):
        return 1
    host, port = stack.gateway_bind.rsplit(":", 1)
    if port_open(host, int(port)):
        print(f"Port {stack.gateway_bind} is taken by another program; set GATEWAY_BIND.")
        return 1
    print("Starting coalition: " + ", ".join(stack.programs()) + f" (logs in {stack.var}/logs)")
    print(f"GraphQL: http://{stack.gateway_bind}/graphql   health: http://{stack.gateway_bind}/healthz")
    print("Demo data: in another terminal run `make demo`.   Stop: Ctrl-C or `make down`.")
    try:
        return stack.start(foreground=True)
    except KeyboardInterrupt:
        return 0


def down():
    stack, _ = local_stack()
    pid = stack.running_pid()
    if not pid:
        print("coalition is not running.")
        return 0
    os.kill(pid, signal.SIGTERM)
    for _ in range(60):
        if not stack.running_pid():
            print("coalition stopped.")
            return 0
        time.sleep(0.5)
    print(f"supervisord (pid {pid}) did not stop in 30s.")
    return 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "up"
    if command == "up":
        return up()
    if command == "down":
        return down()
    if command == "ensure-broker":
        settings = settings_module.load_or_exit(program="make")
        return 0 if ensure_broker(settings["AMQP_URI"]) else 1
    sys.stderr.write("usage: python -m services.stack up|down|ensure-broker\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
