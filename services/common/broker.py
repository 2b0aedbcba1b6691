"""The broker's users: one RabbitMQ user per process, with the permissions of
services/common/permissions.py (who may do what, and why, is written there).

This module makes those users real:
- by compose: `python -m services.common.broker definitions FILE` writes the
  definitions file RabbitMQ imports at boot (users with password hashes,
  permissions, topic permissions), from one password per process in the
  environment (see docker-compose.yml);
- by `make up` (services/stack.py) and the tests (tests/support.py):
  `provision()` creates the users with `rabbitmqctl import_definitions`.

`python -m services.common.broker table` prints the permissions. A parked
message goes back to its consumer's own queue through `replay_to_own_queue`.
Passwords never reach a file: definitions hold salted hashes only.
"""
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse, urlunparse

from services.common.permissions import (OPERATOR_RPCS, PROCESSES, event_exchange, grant,
                                         replay_exchange, table)
from services.common.queues import policies
from services.common.vocabulary import SERVICES

# This module's API; SERVICES, PROCESSES, OPERATOR_RPCS and event_exchange
# belong to the permission table, and callers of the broker reach them here too.
__all__ = [
    "OPERATOR_RPCS", "PROCESSES", "SERVICES", "event_exchange", "Users", "password_hash",
    "definitions", "vhost_of", "process_uri", "ProvisionError", "provision", "delete_users",
    "replay_to_own_queue", "ADMIN_USER", "ADMIN_PASSWORD_VARIABLE", "PASSWORD_RULE",
    "password_variable", "compose_definitions", "write_definitions", "main",
]

Users = Mapping[str, tuple[str, str]]  # process -> (user name, password)


# ---- users, passwords, definitions ----------------------------------------------------

def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _user(name: str, password: str, tags: list[str]) -> dict[str, Any]:
    return {"name": name, "password_hash": password_hash(password),
            "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": tags, "limits": {}}


def definitions(users: Users, vhost: str = "/", admin: tuple[str, str] | None = None,
                include_vhost: bool = False) -> dict[str, Any]:
    """RabbitMQ definitions (JSON-ready) for `users` ({process: (name, password)})
    on `vhost`, with the vhost's policies (delivery limits and dead-lettering:
    services/common/queues.py); `admin` (name, password) adds an administrator
    with every right."""
    out: dict[str, Any] = {"users": [], "permissions": [], "topic_permissions": [],
                           "policies": policies(vhost)}
    if include_vhost:
        out["vhosts"] = [{"name": vhost}]
    for process, (name, password) in sorted(users.items()):
        g = grant(process)
        out["users"].append(_user(name, password, []))
        out["permissions"].append({"user": name, "vhost": vhost, "configure": g.configure,
                                   "write": g.write, "read": g.read})
        for exchange, (write, read) in g.topics.items():
            out["topic_permissions"].append({"user": name, "vhost": vhost, "exchange": exchange,
                                             "write": write, "read": read})
    if admin:
        name, password = admin
        out["users"].append(_user(name, password, ["administrator"]))
        out["permissions"].append({"user": name, "vhost": vhost, "configure": ".*",
                                   "write": ".*", "read": ".*"})
    return out


def vhost_of(amqp_uri: str) -> str:
    """The vhost an AMQP URI names, as kombu reads it (no path: `/`)."""
    path = urlparse(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def process_uri(amqp_uri: str, username: str, password: str) -> str:
    """`amqp_uri` with another user and password (host, port, vhost and options kept)."""
    parsed = urlparse(amqp_uri)
    host = parsed.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    if parsed.port:
        netloc += f":{parsed.port}"
    return urlunparse(parsed._replace(netloc=netloc))


# ---- provisioning a local broker ----------------------------------------------------

class ProvisionError(Exception):
    """rabbitmqctl could not create the users; str() is one line."""


def _rabbitmqctl(*args: str, timeout: float = 120, stdin: str | None = None,
                 node: str | None = None) -> str:
    """rabbitmqctl on this machine's node, or on `node` (a test's own cluster)."""
    command = ["rabbitmqctl", *(["-n", node] if node else []), *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=timeout, input=stdin)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProvisionError(f"rabbitmqctl {args[0]}: {type(exc).__name__}: {exc}") from None
    if result.returncode != 0:
        message = " ".join((result.stderr or result.stdout or "").split())[:300]
        raise ProvisionError(f"rabbitmqctl {args[0]} failed: {message}")
    return result.stdout


def provision(vhost: str, users: Users, amqp_uri: str | None = None,
              timeout: float = 60, node: str | None = None) -> None:
    """Create (or update) `users` ({process: (name, password)}) with their
    permissions and the vhost's policies on an existing `vhost`, through
    `rabbitmqctl import_definitions` (one call, the definitions on its
    standard input, never in a file; the broker must run on this machine, and
    rabbitmqctl be allowed; `node`: which of its nodes, by default its own).

    The broker imports asynchronously: with `amqp_uri` (the broker's address),
    return only once every user logs in to the vhost with its new password."""
    _rabbitmqctl("import_definitions", "--format", "json",
                 stdin=json.dumps(definitions(users, vhost)), node=node)
    if amqp_uri:
        _wait_for_logins(amqp_uri, users.values(), timeout)


def _wait_for_logins(amqp_uri: str, users: Iterable[tuple[str, str]], timeout: float) -> None:
    from kombu import Connection
    deadline = time.monotonic() + timeout
    for name, password in users:
        while True:
            try:
                with Connection(process_uri(amqp_uri, name, password), connect_timeout=5) as conn:
                    conn.connect()
                break
            except Exception as exc:  # refused (not imported yet), or the broker is away
                if time.monotonic() > deadline:
                    raise ProvisionError(f"user {name} cannot log in {timeout}s after the "
                                         f"import ({type(exc).__name__}: {exc})") from None
                time.sleep(0.2)


def delete_users(names: Iterable[str], node: str | None = None) -> None:
    """Delete these users where they exist (a missing one is no error)."""
    for name in names:
        try:
            _rabbitmqctl("delete_user", name, timeout=60, node=node)
        except ProvisionError:
            pass


def replay_to_own_queue(amqp_uri: str, service: str, queue: str, payload: object) -> None:
    """Send `payload` (a parked message) back to `queue`, one of `service`'s own
    consumer queues, through the service's own direct exchange `<service>.replay`
    (declared, and the queue bound to it with its name as key, on first use).
    The broker refuses the binding for a queue that is not the service's."""
    from kombu import Connection, Exchange
    from nameko.amqp.publish import Publisher

    exchange = Exchange(replay_exchange(service), type="direct", durable=True)
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        exchange(channel).declare()
        channel.queue_bind(queue, exchange.name, routing_key=queue)
    Publisher(amqp_uri, use_confirms=True, serializer="json").publish(
        payload, exchange=exchange, routing_key=queue, mandatory=True)


# ---- compose: the definitions file ---------------------------------------------------

ADMIN_USER = "admin"
ADMIN_PASSWORD_VARIABLE = "RABBITMQ_ADMIN_PASSWORD"
PASSWORD_RULE = re.compile(r"^[A-Za-z0-9_-]{32,}$")


def password_variable(process: str) -> str:
    return f"RABBITMQ_{process.upper()}_PASSWORD"


def _password(environ: Mapping[str, str], variable: str) -> str:
    value = environ.get(variable, "")
    if not value or "CHANGE_ME" in value or not PASSWORD_RULE.match(value):
        raise ProvisionError(
            f"invalid setting {variable}: it must be a random password of at least 32 URL-safe "
            "characters (generate one with python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')")
    return value


def compose_definitions(environ: Mapping[str, str]) -> dict[str, Any]:
    """The definitions compose's RabbitMQ imports at boot: user `<process>` for
    each process with the password RABBITMQ_<PROCESS>_PASSWORD, and `admin`."""
    users = {p: (p, _password(environ, password_variable(p))) for p in PROCESSES}
    admin = (ADMIN_USER, _password(environ, ADMIN_PASSWORD_VARIABLE))
    return definitions(users, "/", admin=admin, include_vhost=True)


def write_definitions(path: str | Path, environ: Mapping[str, str]) -> None:
    """Write compose's definitions file atomically (readable by the broker's
    user: it holds salted hashes of random passwords, never the passwords)."""
    path = Path(path)
    data = json.dumps(compose_definitions(environ), indent=2, sort_keys=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["table"] and len(argv) == 1:
        print(table())
        return 0
    if argv[:1] == ["definitions"] and len(argv) == 2:
        try:
            write_definitions(argv[1], os.environ)
        except ProvisionError as exc:
            sys.stderr.write(f"broker definitions: {exc}\n")
            return 2
        print(f"broker definitions: wrote {argv[1]} (users: {', '.join(PROCESSES)}, {ADMIN_USER})")
        return 0
    sys.stderr.write("usage: python -m services.common.broker table | definitions FILE\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
