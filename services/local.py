"""`make up` / `make down` on a developer's machine: the whole stack under
supervisor (services/stack.py), with what a newcomer has no server for.

    python -m services.local up             # foreground until Ctrl-C
    python -m services.local down           # stop what `up` started
    python -m services.local ensure-broker  # RabbitMQ answers, or say how to get it

Everything lives in ./var (the tests never use it):
- the store: SecantusDB, data in ./var/store, unless MONGO_URI is set;
- mail: when SMTP_URL is not set, a local SMTP catcher (aiosmtpd) on
  127.0.0.1:8025 keeps every message in the maildir ./var/mail, and the
  gateway shows them at /dev/mail (MAIL_CATCHER_DIR); nothing leaves the machine;
- JWT secret: COALITION_JWT_SECRET if set; else a random one made on first
  start in ./var/jwt-secret (mode 0600) and reused. The CLI reads that file
  when the variable is not set (`make demo`). The processes themselves only
  read their environment;
- RabbitMQ: each process connects as its own user (coalition-members, ...,
  services/common/broker.py), created with rabbitmqctl on a local broker with
  a new random password at every start. Where rabbitmqctl cannot do that (a
  remote broker, no rights), every process uses AMQP_URI's user, and `make up`
  says so.
"""
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from services.common import broker
from services.common import config as settings_module
from services.common.vocabulary import SERVICES
from services.stack import (LOCAL_HOSTS, ROOT, Stack, broker_address, ensure_broker,
                            port_open)

LOCAL_VAR = ROOT / "var"  # `make up`'s data folder (the tests never use it)
SECRET_FILE = "jwt-secret"
MAIL_CATCHER = "127.0.0.1:8025"  # where the local catcher listens when SMTP_URL is not set
LOCAL_USER_PREFIX = "coalition-"


# ---- the JWT secret ------------------------------------------------------------------

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


# ---- the stack `make up` runs --------------------------------------------------------

def _with_secret(env):
    """`env` with COALITION_JWT_SECRET: the variable's, or the local file's
    (or exit 2 with one line)."""
    if "COALITION_JWT_SECRET" in env:
        return env
    try:
        return {**env, "COALITION_JWT_SECRET": local_secret()}
    except (OSError, SecretFileError) as exc:
        sys.stderr.write(f"make up: COALITION_JWT_SECRET is not set and {exc}\n"
                         if isinstance(exc, SecretFileError) else
                         f"make up: cannot keep a secret in {secret_file()}: {exc}\n")
        raise SystemExit(2)


def local_stack():
    """The stack `make up` runs, and its validated settings (or exit 2 with one line).
    Without SMTP_URL, mail goes to the local catcher, and the gateway shows it."""
    env = {k: str(v) for k, v in os.environ.items()
           if k in settings_module.SettingsSchema().fields and v != ""}
    env = _with_secret(env)
    mail_listen = None
    if "SMTP_URL" not in env:
        mail_listen = MAIL_CATCHER
        env["SMTP_URL"] = f"smtp://{MAIL_CATCHER}"
        env["MAIL_CATCHER_DIR"] = str(LOCAL_VAR / "mail")
    settings = settings_module.load_or_exit(env, program="make up")
    store_port = None
    if not os.environ.get("MONGO_URI"):
        store_port = 27027
        env["MONGO_URI"] = f"mongodb://127.0.0.1:{store_port}/?directConnection=true"
    return Stack(LOCAL_VAR, env, store_port=store_port, mail_listen=mail_listen,
                 gateway_bind=os.environ.get("GATEWAY_BIND", "127.0.0.1:8000")), settings


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


def local_queue_types(amqp_uri, queue_type):
    """On a developer's local broker (AMQP_URI's user is its administrator),
    queues left by an earlier `make up` with another QUEUE_TYPE are moved to
    this one, messages kept (services/common/queue_migration.py); nothing
    runs yet. Where that fails, the services say what to do when they start."""
    from services.common.queue_migration import migrate
    try:
        moved = [name for name, count in migrate(amqp_uri, queue_type) if count]
    except Exception as exc:  # never stop `make up`: the services say what to do
        print(f"Note: the local queues were not checked for QUEUE_TYPE={queue_type}: "
              f"{type(exc).__name__}: {exc}")
        return
    if moved:
        print(f"Queues moved to QUEUE_TYPE={queue_type}, messages kept: {', '.join(moved)}")


def mail_line(stack, settings):
    """Where `make up`'s mail goes, in one line (never SMTP_URL's password)."""
    if stack.mail_listen:
        where = os.path.relpath(stack.maildir, ROOT) if stack.maildir.is_relative_to(ROOT) \
            else str(stack.maildir)
        return f"Mail: caught in {where}, read at http://{stack.gateway_bind}/dev/mail"
    parsed = urlparse(settings["SMTP_URL"])
    return (f"Mail: sent through {parsed.scheme}://{parsed.hostname}"
            f"{':' + str(parsed.port) if parsed.port else ''} (SMTP_URL)")


def taken_port(stack):
    """Why `make up` cannot start (a port another program holds), or None."""
    host, port = stack.gateway_bind.rsplit(":", 1)
    if port_open(host, int(port)):
        return f"Port {stack.gateway_bind} is taken by another program; set GATEWAY_BIND."
    if stack.mail_listen:
        host, port = stack.mail_listen.rsplit(":", 1)
        if port_open(host, int(port)):
            return (f"Port {stack.mail_listen} (the local mail catcher) is taken by another "
                    "program; stop it, or set SMTP_URL to a server that runs.")
    return None


def up():
    pid = Stack(LOCAL_VAR, {}).running_pid()
    if pid:
        print(f"coalition is already running (supervisord pid {pid}). "
              "Stop it with `make down`, or open http://127.0.0.1:8000/graphql")
        return 1
    stack, settings = local_stack()
    if not ensure_broker(settings["AMQP_URI"]):
        return 1
    refusal = taken_port(stack)
    if refusal:
        print(refusal)
        return 1
    stack.program_env = local_broker_users(settings["AMQP_URI"])
    if stack.program_env:  # a local broker we administer: its queues of an older type follow
        local_queue_types(settings["AMQP_URI"], settings["QUEUE_TYPE"])
    if not os.environ.get("COALITION_JWT_SECRET"):
        print(f"JWT secret: {secret_file()} (made on first start; the CLI reads it too)")
    print("Starting coalition: " + ", ".join(stack.programs()) + f" (logs in {stack.var}/logs)")
    print(f"GraphQL: http://{stack.gateway_bind}/graphql   health: http://{stack.gateway_bind}/healthz")
    print(mail_line(stack, settings))
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
    sys.stderr.write("usage: python -m services.local up|down|ensure-broker\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
