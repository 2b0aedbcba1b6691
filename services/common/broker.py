"""Who may do what on the broker: one RabbitMQ user per process, least privilege.

Every process connects as its own user (members, consultations, grants,
gateway, and the operator's CLI), and RabbitMQ itself refuses what that user
may not do. The permissions are data, computed here from the event catalogue
(`events.CATALOGUE`, `events.SUBSCRIPTIONS`) and from `RPC_CALLS`, so they
follow the code instead of drifting from it. This one table is used

- by compose: `python -m services.common.broker definitions FILE` writes the
  definitions file RabbitMQ imports at boot (users with password hashes,
  permissions, topic permissions), from one password per process in the
  environment (see docker-compose.yml);
- by `make up` (services/stack.py) and the tests (tests/support.py):
  `provision()` creates the users with `rabbitmqctl import_definitions`.

`python -m services.common.broker table` prints it. What it means in words is
in docs/operator-guide.md, "Trust boundaries".

The names are nameko 2.14's:
- RPC: topic exchange `nameko-rpc`; a service consumes `rpc-<service>`, bound
  with `<service>.*`; a request is published with routing key
  `<service>.<method>` and `reply_to` the uuid its caller's reply queue
  `rpc.reply-<caller>-<uuid>` is bound with; the answer is published to
  `nameko-rpc` with that uuid as routing key. The caller is
  `standalone_rpc_proxy` for ClusterRpcProxy (gateway, CLI).
- Events: topic exchange `<source>.events`, routing key the event type; a
  consumer's durable queue `evt-<source>-<event>--<service>.<method>`. The
  outbox relay of the source also declares and binds its subscribers' queues
  (services/common/outbox.py), and a consumer declares the source's exchange.
- Dead-letter replay: a service sends a parked message back to its own queue
  through its own direct exchange `<service>.replay` (`replay_to_own_queue`),
  never through the default exchange, which would let it write to any queue.

Per resource RabbitMQ checks: declare = configure; publish = write on the
exchange (topic permission `write` on the routing key for a topic exchange);
queue.bind = write on the queue, read on the exchange (topic permission
`read` on the binding key); consume = read on the queue.
"""
import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse, urlunparse

from services.common import events

SERVICES = ("members", "consultations", "grants")
PROCESSES = SERVICES + ("gateway", "cli")

RPC_EXCHANGE = "nameko-rpc"               # nameko's default exchange name
STANDALONE_CALLER = "standalone_rpc_proxy"  # ClusterRpcProxy's name in reply queues
OPERATOR_RPCS = ("dead_letters", "replay_dead_letters", "outbox_status")
ANY_METHOD = "*"  # any method but the operator RPCs

# caller -> {service: methods}: every RPC a process may send.
RPC_CALLS = {
    # the gateway answers GraphQL: any of the services' methods (ping for
    # /readyz included), never the operator ones
    "gateway": {service: ANY_METHOD for service in SERVICES},
    # opening a round takes the snapshot from the members service's answer,
    # and a suspension is proposed about the member as members has it now
    "consultations": {"members": ("get", "voter_ids")},
    # the operator's CLI: dead letters, outbox lag, the export
    "cli": {
        "members": OPERATOR_RPCS + ("get_many",),
        "consultations": OPERATOR_RPCS + ("get", "stance_audit"),
        "grants": OPERATOR_RPCS,
    },
}

_UUID = "[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"  # a reply queue's routing key
_METHOD = "[A-Za-z_][A-Za-z0-9_]*"
NOTHING = "^$"  # matches no exchange or queue name (the default exchange is `amq.default`)


def _lit(name):
    return re.escape(name)


def _one_of(patterns):
    """A regex matching exactly one of the (already escaped) patterns."""
    patterns = sorted(set(patterns))
    return "^(" + "|".join(patterns) + ")$" if patterns else NOTHING


def event_exchange(service):
    return f"{service}.events"


def replay_exchange(service):
    return f"{service}.replay"


def rpc_queue(service):
    return f"rpc-{service}"


def reply_queue_pattern(caller):
    return _lit(f"rpc.reply-{caller}-") + _UUID


def _reply_caller(process):
    return STANDALONE_CALLER if process in ("gateway", "cli") else process


def own_event_types(service):
    return sorted(e for e, (source, _) in events.CATALOGUE.items() if source == service)


def subscriptions_of(service):
    """{source: sorted event types} and [queue names] of the service's consumers."""
    sources, queues = {}, []
    for (consumer, method), event_types in events.SUBSCRIPTIONS.items():
        if consumer != service:
            continue
        for event_type in event_types:
            source = events.CATALOGUE[event_type][0]
            sources.setdefault(source, set()).add(event_type)
            queues.append(events.queue_name(source, event_type, consumer, method))
    return {s: sorted(e) for s, e in sources.items()}, sorted(queues)


def _call_keys(calls):
    keys = []
    for service, methods in sorted(calls.items()):
        if methods == ANY_METHOD:
            keys.append(f"{_lit(service)}\\.(?!({'|'.join(OPERATOR_RPCS)})$){_METHOD}")
        else:
            keys.append(f"{_lit(service)}\\.({'|'.join(sorted(methods))})")
    return keys


@dataclass
class Grant:
    """One process's permissions on the vhost: regexes for configure, write and
    read, and per topic exchange (write, read) regexes on routing keys."""
    configure: str
    write: str
    read: str
    topics: dict = field(default_factory=dict)


def grant(process):
    """The permissions of `process` (one of PROCESSES)."""
    if process not in PROCESSES:
        raise ValueError(f"unknown process {process!r}")
    configure, write, read = [], [], []
    topic_write, topic_read = {}, {}  # exchange -> [patterns]

    calls = RPC_CALLS.get(process, {})
    if process in SERVICES or calls:  # every RPC party declares the RPC exchange
        configure.append(_lit(RPC_EXCHANGE))
        read.append(_lit(RPC_EXCHANGE))

    if process in SERVICES:
        service = process
        # RPC server: its request queue, bound with `<service>.*`; answers by uuid
        configure.append(_lit(rpc_queue(service)))
        write += [_lit(RPC_EXCHANGE), _lit(rpc_queue(service))]
        read.append(_lit(rpc_queue(service)))
        topic_read.setdefault(RPC_EXCHANGE, []).append(_lit(f"{service}.*"))
        topic_write.setdefault(RPC_EXCHANGE, []).append(_UUID)

        # publisher of its own events; its relay declares and binds the
        # subscribers' queues, so that an event waits for a consumer that never ran
        exchange = event_exchange(service)
        types = [_lit(e) for e in own_event_types(service)]
        subscriber_queues = [_lit(q) for _, q in events.consumer_queues(service)]
        configure += [_lit(exchange)] + subscriber_queues
        write += [_lit(exchange)] + subscriber_queues
        read.append(_lit(exchange))
        topic_write.setdefault(exchange, []).extend(types)
        topic_read.setdefault(exchange, []).extend(
            _lit(e) for e, _ in events.consumer_queues(service))

        # consumer: its own queues, bound to the sources' exchanges (which a
        # consumer declares too: configure, never write)
        sources, own_queues = subscriptions_of(service)
        configure += [_lit(q) for q in own_queues]
        write += [_lit(q) for q in own_queues]
        read += [_lit(q) for q in own_queues]
        for source, event_types in sources.items():
            configure.append(_lit(event_exchange(source)))
            read.append(_lit(event_exchange(source)))
            topic_read.setdefault(event_exchange(source), []).extend(_lit(e) for e in event_types)

        # dead-letter replay into its own queues only
        replay = _lit(replay_exchange(service))
        configure.append(replay)
        write.append(replay)
        read.append(replay)

    if calls:  # RPC client: its reply queues, and only the calls it makes
        reply = reply_queue_pattern(_reply_caller(process))
        configure.append(reply)
        write += [_lit(RPC_EXCHANGE), reply]
        read.append(reply)
        topic_write.setdefault(RPC_EXCHANGE, []).extend(_call_keys(calls))
        topic_read.setdefault(RPC_EXCHANGE, []).append(_UUID)

    topics = {x: (_one_of(topic_write.get(x, [])), _one_of(topic_read.get(x, [])))
              for x in sorted(set(topic_write) | set(topic_read))}
    return Grant(_one_of(configure), _one_of(write), _one_of(read), topics)


def allows(pattern, name):
    """Whether a permission regex lets `name` through (RabbitMQ: a regex search)."""
    return re.search(pattern, name) is not None


# ---- users, passwords, definitions ----------------------------------------------------

def password_hash(password, salt=None):
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def definitions(users, vhost="/", admin=None, include_vhost=False):
    """RabbitMQ definitions (JSON-ready) for `users` ({process: (name, password)})
    on `vhost`; `admin` (name, password) adds an administrator with every right."""
    out = {"users": [], "permissions": [], "topic_permissions": []}
    if include_vhost:
        out["vhosts"] = [{"name": vhost}]
    for process, (name, password) in sorted(users.items()):
        g = grant(process)
        out["users"].append({"name": name, "password_hash": password_hash(password),
                             "hashing_algorithm": "rabbit_password_hashing_sha256",
                             "tags": [], "limits": {}})
        out["permissions"].append({"user": name, "vhost": vhost, "configure": g.configure,
                                   "write": g.write, "read": g.read})
        for exchange, (write, read) in g.topics.items():
            out["topic_permissions"].append({"user": name, "vhost": vhost, "exchange": exchange,
                                             "write": write, "read": read})
    if admin:
        name, password = admin
        out["users"].append({"name": name, "password_hash": password_hash(password),
                             "hashing_algorithm": "rabbit_password_hashing_sha256",
                             "tags": ["administrator"], "limits": {}})
        out["permissions"].append({"user": name, "vhost": vhost, "configure": ".*",
                                   "write": ".*", "read": ".*"})
    return out


def vhost_of(amqp_uri):
    """The vhost an AMQP URI names, as kombu reads it (no path: `/`)."""
    path = urlparse(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def process_uri(amqp_uri, username, password):
    """`amqp_uri` with another user and password (host, port, vhost and options kept)."""
    from urllib.parse import quote
    parsed = urlparse(amqp_uri)
    host = parsed.hostname or "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    if parsed.port:
        netloc += f":{parsed.port}"
    return urlunparse(parsed._replace(netloc=netloc))


class ProvisionError(Exception):
    """rabbitmqctl could not create the users; str() is one line."""


def _rabbitmqctl(*args, timeout=120, stdin=None):
    try:
        result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True,
                                timeout=timeout, input=stdin)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProvisionError(f"rabbitmqctl {args[0]}: {type(exc).__name__}: {exc}") from None
    if result.returncode != 0:
        message = " ".join((result.stderr or result.stdout or "").split())[:300]
        raise ProvisionError(f"rabbitmqctl {args[0]} failed: {message}")
    return result.stdout


def provision(vhost, users, amqp_uri=None, timeout=60):
    """Create (or update) `users` ({process: (name, password)}) with their
    permissions on an existing `vhost`, through `rabbitmqctl import_definitions`
    (one call, the definitions on its standard input, never in a file; the
    broker must run on this machine, and rabbitmqctl be allowed).

    The broker imports asynchronously: with `amqp_uri` (the broker's address),
    return only once every user logs in to the vhost with its new password."""
    _rabbitmqctl("import_definitions", "--format", "json",
                 stdin=json.dumps(definitions(users, vhost)))
    if amqp_uri:
        _wait_for_logins(amqp_uri, users.values(), timeout)


def _wait_for_logins(amqp_uri, users, timeout):
    import time

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


def delete_users(names):
    for name in names:
        try:
            _rabbitmqctl("delete_user", name, timeout=60)
        except ProvisionError:
            pass


def replay_to_own_queue(amqp_uri, service, queue, payload):
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
PASSWORD_RULE = re.compile(r"^[A-Za-z0-9_-]{32,}$")


def password_variable(process):
    return f"RABBITMQ_{process.upper()}_PASSWORD"


ADMIN_PASSWORD_VARIABLE = "RABBITMQ_ADMIN_PASSWORD"


def _password(environ, variable):
    value = environ.get(variable, "")
    if not value or "CHANGE_ME" in value or not PASSWORD_RULE.match(value):
        raise ProvisionError(
            f"invalid setting {variable}: it must be a random password of at least 32 URL-safe "
            "characters (generate one with python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(48))')")
    return value


def compose_definitions(environ):
    """The definitions compose's RabbitMQ imports at boot: user `<process>` for
    each process with the password RABBITMQ_<PROCESS>_PASSWORD, and `admin`."""
    users = {p: (p, _password(environ, password_variable(p))) for p in PROCESSES}
    admin = (ADMIN_USER, _password(environ, ADMIN_PASSWORD_VARIABLE))
    return definitions(users, "/", admin=admin, include_vhost=True)


def write_definitions(path, environ):
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


def table():
    lines = []
    for process in PROCESSES:
        g = grant(process)
        lines += [f"{process}:", f"  configure {g.configure}", f"  write     {g.write}",
                  f"  read      {g.read}"]
        for exchange, (write, read) in g.topics.items():
            lines += [f"  topic {exchange}: write {write}", f"  topic {exchange}: read  {read}"]
    return "\n".join(lines)


def main(argv=None):
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
