"""The processes of coalition under one supervisord: the `Stack` that `make up`
(services/local.py) and the test suite (tests/support.py) run.

The embedded store (SecantusDB) runs when the stack is given a store port;
the local mail catcher (aiosmtpd, keeping every message in a maildir) runs
when it is given an address to listen on, which only `make up` does: the
tests bring an SMTP server of their own. Every service of
vocabulary.SERVICES runs, and the gateway.

Settings reach the processes through supervisord's own environment, which
every program inherits, never through supervisord.conf (whose `environment=`
cannot hold every character); a program's own settings (its AMQP_URI) travel
as COALITION_PROGRAM_ENV_<NAME> and services/launch.py applies them (see
there).
"""
import json
import os
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

from services.common.vocabulary import SERVICES
from services.launch import program_env_variable, without_program_settings

ROOT = Path(__file__).resolve().parent.parent
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
FIRST = ("store", "mail")  # started before the others (they wait for these anyway)


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
                 gateway_workers=2, program_env=None, mail_listen=None):
        self.var = Path(var_dir)
        # "host:port" of the local mail catcher, or None: no catcher (tests, a real SMTP_URL)
        self.mail_listen = mail_listen
        self.maildir = self.var / "mail"
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
        if self.mail_listen:
            # -n: no setuid; -u: SMTPUTF8, as most providers offer; Mailbox keeps
            # every message in the maildir, which /dev/mail reads
            progs["mail"] = shlex.join([
                self.python, "-m", "aiosmtpd", "-n", "-u", "-l", self.mail_listen,
                "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)])
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
                      f"priority={10 if name in FIRST else 20}",
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
