"""Run the whole stack locally under supervisor: `make up` / `make down`.

    python -m services.stack up             # foreground until Ctrl-C
    python -m services.stack down           # stop what `up` started
    python -m services.stack ensure-broker  # RabbitMQ answers, or say how to get it

The embedded store (SecantusDB, data in ./var/store) runs unless MONGO_URI
is set. The test suite uses the same `Stack` class on free ports and a
temporary folder, never ./var/.

`make up` on a developer's machine:
- JWT secret: COALITION_JWT_SECRET if set; else a random one made on first
  start in ./var/jwt-secret (mode 0600) and reused. The CLI reads that file
  when the variable is not set (`make demo`). The processes themselves only
  read their environment.
- RabbitMQ: each process connects as its own user (coalition-members, ...,
  services/common/broker.py), created with rabbitmqctl on a local broker with
  a new random password at every start. Where rabbitmqctl cannot do that (a
  remote broker, no rights), every process uses AMQP_URI's user, and `make up`
  says so.
- Settings reach the processes through supervisord's own environment, which
  every program inherits, never through supervisord.conf (whose
  `environment=` cannot hold every character); a program's own settings (its
  AMQP_URI) travel as COALITION_PROGRAM_ENV_<NAME> and services/launch.py
  applies them (see there).
"""
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from services.common import broker
from services.common import config as settings_module
from services.common.vocabulary import SERVICES
from services.launch import program_env_variable, without_program_settings

ROOT = Path(__file__).resolve().parent.parent
LOCAL_VAR = ROOT / "var"  # `make up`'s data folder (the tests never use it)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
SECRET_FILE = "jwt-secret"


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
    parsed = urlparse(amqp_uri)
    return parsed.hostname or "127.0.0.1", parsed.port or 5672


def _ini(value):
    """A value for supervisord.conf: supervisor expands `%(...)s` in every value
    (so `%` is written `%%`), and an ini line cannot hold a newline or a
    comment marker after a space."""
    value = str(value)
    if "\n" in value or "\r" in value or any(f"{w}{c}" in value for w in " \t" for c in ";#"):
        raise ValueError(f"cannot write {value!r} into supervisord.conf")
    return value.replace("%", "%%")


def ensure_broker(amqp_uri, wait=60):
    """RabbitMQ answers: start a local one if installed but stopped; else explain."""
    host, port = broker_address(amqp_uri)
    if port_open(host, port):
        return True
    local = host in LOCAL_HOSTS
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
                 gateway_workers=2, program_env=None):
        self.var = Path(var_dir)
        self.env = dict(env)
        # {program: {setting: value}}: what one program gets on top of env (its AMQP_URI)
        self.program_env = {k: dict(v) for k, v in (program_env or {}).items()}
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
        """{name: command line} of every program (each argument shell-quoted)."""
        progs = {}
        if self.store_port:
            progs["store"] = shlex.join([
                self.python, "-m", "secantus", "--host", "127.0.0.1", "--port",
                str(self.store_port), "--storage-path", str(self.var / "store"),
                "--log-level", "WARNING"])
        for name in SERVICES:
            progs[name] = shlex.join([self.python, "-m", "services.common.runner", name])
        progs["gateway"] = shlex.join([
            str(Path(self.python).parent / "gunicorn"), "--config",
            "python:services.gateway.gunicorn_conf", "services.gateway.app:application"])
        return progs

    def environment(self):
        """supervisord's own environment, which every program inherits: ours, the
        settings, and each program's own settings for services/launch.py."""
        env = without_program_settings(os.environ)
        env.update(self.env)
        env.update({"GATEWAY_BIND": self.gateway_bind,
                    "GATEWAY_WORKERS": str(self.gateway_workers), "PYTHONUNBUFFERED": "1"})
        for name, own in self.program_env.items():
            if own:
                env[program_env_variable(name)] = json.dumps(own)
        return env

    def write_config(self):
        """supervisord.conf: programs and paths only. No setting is written
        here (see the module docstring): they travel in environment()."""
        self.var.mkdir(parents=True, exist_ok=True)
        (self.var / "logs").mkdir(exist_ok=True)
        launch = shlex.join([self.python, "-m", "services.launch"])
        lines = [
            "[unix_http_server]", f"file={_ini(self.sock)}", "",
            "[supervisord]", f"pidfile={_ini(self.pidfile)}",
            f"logfile={_ini(self.var / 'logs' / 'supervisord.log')}",
            "nodaemon=true", "loglevel=warn", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl=unix://{_ini(self.sock)}", "",
        ]
        for name, command in self.programs().items():
            lines += [f"[program:{name}]",
                      f"command={_ini(launch + ' ' + shlex.quote(name) + ' ' + command)}",
                      f"directory={_ini(ROOT)}",
                      "autorestart=true", "startsecs=1", "startretries=100",
                      "stopasgroup=true", "killasgroup=true", "stopwaitsecs=10",
                      f"priority={10 if name == 'store' else 20}",
                      f"stdout_logfile={_ini(self.var / 'logs' / (name + '.log'))}",
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
        env = self.environment()
        if foreground:
            return subprocess.call(cmd, cwd=ROOT, env=env)
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
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
        try:
            # readiness: the broker, the store and every service answer (/healthz is liveness)
            with urllib.request.urlopen(f"http://{self.gateway_bind}/readyz", timeout=timeout) as r:
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


# ---- `make up` on a developer's machine ----------------------------------------------

class SecretFileError(Exception):
    """The local secret file cannot be used; str() is one line."""


def secret_file(var=None):
    return Path(LOCAL_VAR if var is None else var) / SECRET_FILE


def read_secret_file(path):
    """The secret kept in `path`, which must be readable by its owner only."""
    path = Path(path)
    mode = path.stat().st_mode & 0o777  # FileNotFoundError: the caller decides
    if mode & 0o077:
        raise SecretFileError(f"{path} is readable by others (mode {mode:o}): "
                              f"run chmod 600 {path}, or set COALITION_JWT_SECRET")
    secret = path.read_text().strip()
    if len(secret) < settings_module.MIN_SECRET_LENGTH:
        raise SecretFileError(f"{path} holds no secret of at least "
                              f"{settings_module.MIN_SECRET_LENGTH} characters: delete it and "
                              "run `make up` again, or set COALITION_JWT_SECRET")
    return secret


def local_secret(var=None):
    """`make up`'s JWT secret: a random one, made on first start in the local
    data folder, readable by its owner only, and reused afterwards."""
    path = secret_file(var)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
    return read_secret_file(path)


def local_stack():
    """The stack `make up` runs, and its validated settings (or exit 2 with one line)."""
    env = {k: str(v) for k, v in os.environ.items()
           if k in settings_module.SettingsSchema().fields and v != ""}
    if "COALITION_JWT_SECRET" not in env:
        try:
            env["COALITION_JWT_SECRET"] = local_secret()
        except (OSError, SecretFileError) as exc:
            sys.stderr.write(f"make up: COALITION_JWT_SECRET is not set and {exc}\n"
                             if isinstance(exc, SecretFileError) else
                             f"make up: cannot keep a secret in {secret_file()}: {exc}\n")
            raise SystemExit(2)
    settings = settings_module.load_or_exit(env, program="make up")
    store_port = None
    if not os.environ.get("MONGO_URI"):
        store_port = 27027
        env["MONGO_URI"] = f"mongodb://127.0.0.1:{store_port}/?directConnection=true"
    return Stack(LOCAL_VAR, env, store_port=store_port,
                 gateway_bind=os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")), settings


LOCAL_USER_PREFIX = "coalition-"


def local_broker_users(amqp_uri, processes=(*SERVICES, "gateway"), prefix=LOCAL_USER_PREFIX):
    """{program: {"AMQP_URI": its own user's URI}}: one RabbitMQ user per
    process (services/common/broker.py), made on a local broker with rabbitmqctl
    and a new random password; {} (and a note) where that cannot be done."""
    host, _ = broker_address(amqp_uri)
    if host not in LOCAL_HOSTS:
        why = f"the broker at {host} is not on this machine"
    elif shutil.which("rabbitmqctl") is None:
        why = "rabbitmqctl is not on the PATH"
    else:
        users = {p: (prefix + p, secrets.token_urlsafe(32)) for p in processes}
        try:
            broker.provision(broker.vhost_of(amqp_uri), users, amqp_uri=amqp_uri)
            return {p: {"AMQP_URI": broker.process_uri(amqp_uri, *users[p])} for p in processes}
        except broker.ProvisionError as exc:
            why = str(exc)
    print(f"Note: every process connects to RabbitMQ as AMQP_URI's user, not as its own "
          f"({why}); see docs/operator-guide.md, Trust boundaries.")
    return {}


def up():
    pid = Stack(LOCAL_VAR, {}).running_pid()
    if pid:
        print(f"coalition is already running (supervisord pid {pid}). "
              "Stop it with `make down`, or open http://127.0.0.1:8000/graphql")
        return 1
    stack, settings = local_stack()
    if not ensure_broker(settings["AMQP_URI"]):
        return 1
    host, port = stack.gateway_bind.rsplit(":", 1)
    if port_open(host, int(port)):
        print(f"Port {stack.gateway_bind} is taken by another program; set GATEWAY_BIND.")
        return 1
    stack.program_env = local_broker_users(settings["AMQP_URI"])
    if not os.environ.get("COALITION_JWT_SECRET"):
        print(f"JWT secret: {secret_file()} (made on first start; the CLI reads it too)")
    print("Starting coalition: " + ", ".join(stack.programs()) + f" (logs in {stack.var}/logs)")
    print(f"GraphQL: http://{stack.gateway_bind}/graphql   health: http://{stack.gateway_bind}/healthz")
    print("Demo data: in another terminal run `make demo`.   Stop: Ctrl-C or `make down`.")
    try:
        return stack.start(foreground=True)
    except KeyboardInterrupt:
        return 0


def down():
    stack = Stack(LOCAL_VAR, {})  # needs no setting: `make down` works whatever they are
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
        settings = settings_module.load_or_exit(program="make", exclude=("COALITION_JWT_SECRET",))
        return 0 if ensure_broker(settings["AMQP_URI"]) else 1
    sys.stderr.write("usage: python -m services.stack up|down|ensure-broker\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
