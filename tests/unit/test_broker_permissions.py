"""The broker's permission table (services/common/permissions.py), read as RabbitMQ
reads it, over every exchange and queue the system uses. The refusals
themselves are proven on the real broker in
tests/integration/test_trust_boundaries.py."""
import ast
import base64
import json
import re
from pathlib import Path

import pytest

from services.common import broker, events, permissions

ROOT = Path(__file__).resolve().parents[2]
REPLY_UUID = "3f2b1c4e-9a7d-4e21-8b3c-0d1e2f3a4b5c"


def all_consumer_queues():
    return sorted(events.queue_name(events.CATALOGUE[e][0], e, service, method)
                  for (service, method), types in events.SUBSCRIPTIONS.items() for e in types)


def own_queues(service):
    return [q for q in all_consumer_queues() if q.split("--")[1].startswith(service + ".")]


EXCHANGES = (["nameko-rpc", "amq.default", "amq.topic", "amq.direct", "amq.fanout"]
             + [permissions.event_exchange(s) for s in permissions.SERVICES]
             + [permissions.replay_exchange(s) for s in permissions.SERVICES])
REPLY_QUEUES = [f"rpc.reply-{c}-{REPLY_UUID}"
                for c in permissions.SERVICES + ("standalone_rpc_proxy",)]
QUEUES = all_consumer_queues() + [f"rpc-{s}" for s in permissions.SERVICES] + REPLY_QUEUES
RESOURCES = EXCHANGES + QUEUES


def permitted(process, kind):
    g = permissions.grant(process)
    return {name for name in RESOURCES if permissions.allows(getattr(g, kind), name)}


def topic(process, exchange, kind, key):
    g = permissions.grant(process)
    if exchange not in g.topics:
        return None  # no topic permission: RabbitMQ lets any key through
    return permissions.allows(g.topics[exchange][0 if kind == "write" else 1], key)


def test_every_pattern_is_a_regex():
    for process in permissions.PROCESSES:
        g = permissions.grant(process)
        for pattern in [g.configure, g.write, g.read] + [p for pair in g.topics.values()
                                                          for p in pair]:
            re.compile(pattern)
            assert pattern.startswith("^") and pattern.endswith("$"), pattern
            assert "{" not in pattern, "braces are RabbitMQ's variables in topic permissions"


def test_nobody_may_write_to_the_default_exchange():
    """Publishing to `amq.default` reaches any queue by its name."""
    for process in permissions.PROCESSES:
        assert "amq.default" not in permitted(process, "write"), process
        assert not any(x.startswith("amq.") for x in permitted(process, "write")), process


def test_the_gateway_and_the_cli_publish_no_event_and_read_no_service_queue():
    for process in ("gateway", "cli"):
        for kind in ("configure", "write", "read"):
            assert permitted(process, kind) == {
                "nameko-rpc", f"rpc.reply-standalone_rpc_proxy-{REPLY_UUID}"}, (process, kind)


@pytest.mark.parametrize("service", permissions.SERVICES)
def test_a_service_publishes_only_its_own_events(service):
    exchanges = {x for x in permitted(service, "write") if x.endswith(".events")}
    assert exchanges == {permissions.event_exchange(service)}
    for event_type, (source, _) in events.CATALOGUE.items():
        allowed = topic(service, permissions.event_exchange(service), "write", event_type)
        assert allowed is (source == service), (service, event_type)


@pytest.mark.parametrize("service", permissions.SERVICES)
def test_a_service_reads_only_its_own_queues(service):
    queues = {q for q in permitted(service, "read") if q in QUEUES}
    expected = set(own_queues(service)) | {f"rpc-{service}"}
    if permissions.RPC_CALLS.get(service):
        expected.add(f"rpc.reply-{service}-{REPLY_UUID}")
    assert queues == expected


@pytest.mark.parametrize("service", permissions.SERVICES)
def test_a_service_configures_only_what_it_declares(service):
    sources = {events.CATALOGUE[e][0] for (s, _), types in events.SUBSCRIPTIONS.items()
               if s == service for e in types}
    expected = ({"nameko-rpc", f"rpc-{service}", permissions.event_exchange(service),
                 permissions.replay_exchange(service)}
                | {q for _, q in events.consumer_queues(service)}  # its relay declares them
                | set(own_queues(service))
                # a consumer declares its source
                | {permissions.event_exchange(s) for s in sources})
    if permissions.RPC_CALLS.get(service):
        expected.add(f"rpc.reply-{service}-{REPLY_UUID}")
    assert permitted(service, "configure") == expected
    # write on a queue is only for binding it; the queues it may bind are those it declares
    assert {q for q in permitted(service, "write") if q in QUEUES} <= expected


MAIL_QUEUE = ("mails", "mail", "retry_mails")  # the notifications service's, for the operator


def test_rpc_requests_follow_the_calls_table():
    methods = (("get", "voter_ids", "register_founding_member", "ping", "send_sign_in",
                "set_preferences", "find_by_focal_point", "add_secretariat", "audit",
                "session") + MAIL_QUEUE + permissions.OPERATOR_RPCS)
    for process in permissions.PROCESSES:
        for service in permissions.SERVICES:
            for method in methods:
                calls = permissions.RPC_CALLS.get(process, {}).get(service, ())
                expected = (method not in calls.excluded
                            if isinstance(calls, permissions.AnyMethodBut)
                            else method in calls)
                assert topic(process, "nameko-rpc", "write", f"{service}.{method}") is expected, \
                    (process, service, method)
    # answers: a service answers by the caller's uuid; the gateway and the CLI never answer
    for process in permissions.PROCESSES:
        assert topic(process, "nameko-rpc", "write", REPLY_UUID) is (
            process in permissions.SERVICES)
        # a binding: a service's request queue, and a caller's reply queue
        assert topic(process, "nameko-rpc", "read", REPLY_UUID) is bool(
            permissions.RPC_CALLS.get(process))
        for service in permissions.SERVICES:
            assert topic(process, "nameko-rpc", "read", f"{service}.*") is (process == service)


def test_the_gateway_may_not_send_the_operators_mail_rpcs_nor_a_sign_in_mail():
    """Least privilege: the mail queue is the operator's (`coalition mail`),
    and only accounts sends a sign-in mail (it holds the code) or asks
    members who an address is. The CLI keeps the mail queue, and no more."""
    def gateway(method):
        return topic("gateway", "nameko-rpc", "write", f"notifications.{method}")

    for method in MAIL_QUEUE + ("send_sign_in",) + permissions.OPERATOR_RPCS:
        assert gateway(method) is False, method
    # what the gateway's notifications features call, and names that only
    # start or end like an excluded one (the exclusion is of whole names)
    for method in ("notifications_for", "mark_read", "preferences", "set_preferences", "ping",
                   "mailbox", "mails_of", "a_mail", "send_sign_in_later"):
        assert gateway(method) is True, method
    for method in MAIL_QUEUE + permissions.OPERATOR_RPCS:
        assert topic("cli", "nameko-rpc", "write", f"notifications.{method}") is True, method
    for method in ("send_sign_in", "set_preferences", "notifications_for"):
        assert topic("cli", "nameko-rpc", "write", f"notifications.{method}") is False, method
    # another service's methods of the same names stay the gateway's
    assert topic("gateway", "nameko-rpc", "write", "members.mails") is True
    # accounts sends the sign-in mail and finds who an address is; the gateway does neither
    assert topic("accounts", "nameko-rpc", "write", "notifications.send_sign_in") is True
    assert topic("accounts", "nameko-rpc", "write", "members.find_by_focal_point") is True
    assert topic("gateway", "nameko-rpc", "write", "members.find_by_focal_point") is False
    assert topic("accounts", "nameko-rpc", "write", "notifications.mails") is False
    assert topic("accounts", "nameko-rpc", "write", "members.register_founding_member") is False


def test_the_first_secretariat_person_and_the_audit_are_the_operators():
    """`coalition admin add` and `coalition admin audit` are the CLI's; the
    gateway signs people in and out, invites and removes, but neither adds
    a person without a mail nor reads the audit."""
    for method in ("add_secretariat", "audit"):
        assert topic("gateway", "nameko-rpc", "write", f"accounts.{method}") is False, method
        assert topic("cli", "nameko-rpc", "write", f"accounts.{method}") is True, method
    for method in ("request_sign_in", "complete_sign_in", "session", "sign_out",
                   "invite_secretariat", "remove_secretariat", "secretariat"):
        assert topic("gateway", "nameko-rpc", "write", f"accounts.{method}") is True, method
    for method in ("request_sign_in", "complete_sign_in", "session", "sign_out"):
        assert topic("cli", "nameko-rpc", "write", f"accounts.{method}") is False, method


def _service_calls_in(path):
    """(service, method) of every call or tuple in `path` naming both as
    literals, e.g. ctx.call("notifications", "preferences", ...) or
    ("members", "get_many", ...)."""
    for node in ast.walk(ast.parse(path.read_text())):
        values = node.args if isinstance(node, ast.Call) else getattr(node, "elts", None)
        if not isinstance(node, (ast.Call, ast.Tuple)) or not values:
            continue
        literals = [v.value if isinstance(v, ast.Constant) else None for v in values]
        for service, method in zip(literals, literals[1:]):
            if service in permissions.SERVICES and isinstance(method, str):
                yield service, method


def test_the_gateway_may_send_every_rpc_its_code_makes():
    found = {call for path in (ROOT / "services" / "gateway").glob("*.py")
             for call in _service_calls_in(path)}
    assert {("notifications", "set_preferences"), ("members", "get_many")} <= found, found
    for service, method in found | {(service, "ping") for service in permissions.SERVICES}:
        assert topic("gateway", "nameko-rpc", "write", f"{service}.{method}"), (service, method)


def _calls_in(path, call_names):
    """(function, args) of calls such as call(rpc, "members", "get_many")."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in call_names:
            yield node.func.id, [a.value if isinstance(a, ast.Constant) else None
                                 for a in node.args]


def test_the_cli_may_send_every_rpc_its_commands_make():
    found = set()
    for path in (ROOT / "services").glob("cli*.py"):
        for name, args in _calls_in(path, {"call", "each_service"}):
            if name == "call" and len(args) >= 3 and args[1] and args[2]:
                found.add((args[1], args[2]))
            elif name == "each_service" and len(args) >= 3 and args[2]:
                found.update((service, args[2]) for service in permissions.SERVICES)
    assert found, "no RPC found in services/cli.py"
    for service, method in found:
        assert topic("cli", "nameko-rpc", "write", f"{service}.{method}"), (service, method)


def test_a_service_may_send_every_rpc_its_code_makes():
    """`x = BoundedRpcProxy("members")` (or RpcProxy) and `self.x.method(...)`
    in a service's code must be in RPC_CALLS, or the broker refuses them."""
    for service in permissions.SERVICES:
        source = (ROOT / "services" / service / "service.py").read_text()
        proxies = dict(re.findall(r"^\s+(\w+)\s*=\s*(?:Bounded)?RpcProxy\(\s*[\"'](\w+)[\"']",
                                  source, flags=re.M))
        for attribute, target in proxies.items():
            methods = set(re.findall(rf"self\.{attribute}\.(\w+)\(", source))
            assert methods, (service, attribute)
            for method in methods:
                assert topic(service, "nameko-rpc", "write", f"{target}.{method}"), \
                    f"{service} calls {target}.{method}: add it to permissions.RPC_CALLS"


def test_password_hash_is_rabbitmqs():
    # made by RabbitMQ 3.10 (rabbitmqctl add_user, export_definitions) for "pw"
    known = "Q8LzUuClCBJwpwby+4LyuZ1ZTp6TWMvIYznI4DNfV5MecDA0"
    salt = base64.b64decode(known)[:4]
    assert broker.password_hash("pw", salt) == known
    assert broker.password_hash("pw") != broker.password_hash("pw")  # salted


def test_definitions_hold_hashes_never_passwords():
    users = {p: (f"u-{p}", f"secret-password-of-{p}-" + "x" * 20) for p in permissions.PROCESSES}
    data = broker.definitions(users, "v", admin=("admin", "admin-password-" + "y" * 30),
                              include_vhost=True)
    text = json.dumps(data)
    assert "secret-password-of" not in text and "admin-password" not in text
    assert data["vhosts"] == [{"name": "v"}]
    assert {u["name"] for u in data["users"]} == (
        {f"u-{p}" for p in permissions.PROCESSES} | {"admin"})
    assert {tuple(u["tags"]) for u in data["users"] if u["name"] != "admin"} == {()}
    gateway = [t for t in data["topic_permissions"] if t["user"] == "u-gateway"]
    assert [t["exchange"] for t in gateway] == ["nameko-rpc"]


def test_compose_definitions_refuse_placeholders():
    good = {broker.password_variable(p): "a" * 40 for p in permissions.PROCESSES}
    good[broker.ADMIN_PASSWORD_VARIABLE] = "b" * 40
    assert broker.compose_definitions(good)["users"]
    for bad in ("", "CHANGE_ME", "CHANGE_ME" + "x" * 40, "short", "has space " + "x" * 40,
                "p@ss:word/" + "x" * 40):
        env = {**good, broker.password_variable("gateway"): bad}
        with pytest.raises(broker.ProvisionError, match="RABBITMQ_GATEWAY_PASSWORD"):
            broker.compose_definitions(env)


def test_compose_definitions_command(tmp_path, capsys):
    env = {broker.password_variable(p): "a" * 40 for p in permissions.PROCESSES}
    env[broker.ADMIN_PASSWORD_VARIABLE] = "CHANGE_ME"
    out = tmp_path / "definitions.json"
    import os
    from unittest import mock
    with mock.patch.dict(os.environ, env):
        assert broker.main(["definitions", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and broker.ADMIN_PASSWORD_VARIABLE in err
        assert not out.exists()
        os.environ[broker.ADMIN_PASSWORD_VARIABLE] = "c" * 40
        assert broker.main(["definitions", str(out)]) == 0
    assert json.loads(out.read_text())["users"] and out.stat().st_mode & 0o777 == 0o644


def test_process_uri_keeps_host_port_vhost_and_options():
    base = "amqps://guest:guest@mq.example.org:5671/coal%2Fition?heartbeat=30"
    uri = broker.process_uri(base, "members", "p-w_d")
    assert uri == "amqps://members:p-w_d@mq.example.org:5671/coal%2Fition?heartbeat=30"
    assert broker.vhost_of(uri) == "coal/ition"
    assert broker.vhost_of("amqp://u:p@h:5672/") == "/"
    assert broker.vhost_of("amqp://u:p@h") == "/"
    assert broker.vhost_of("amqp://u:p@h/%2F") == "/"


def test_the_table_command_prints_every_process(capsys):
    assert broker.main(["table"]) == 0
    printed = capsys.readouterr().out
    for process in permissions.PROCESSES:
        assert f"{process}:\n  configure {permissions.grant(process).configure}\n" in printed
