"""Proxies and hidden results (DOMAIN.md section 9) as the tests drive and
observe them: the proxy mutations through the gateway, the cast on behalf of
a granter, what the store and the audit trail keep, the CLI export, the
events on the bus (a queue of the test's own bound to the events
exchanges) and the stack's logs."""
import csv
import io
import json
import uuid
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from kombu import Connection, Exchange, Queue

from services.cli import coalition
from services.common.vocabulary import SERVICES
from tests.support import isolate_voters, refusal

PROXY_FIELDS = "id round status offeredAt granter { id } holder { id } consultation { id }"
GRANT = f"""mutation($c: ID!, $h: ID!) {{ grantProxy(consultationId: $c, holderId: $h) {{
  {PROXY_FIELDS} }} }}"""
ACCEPT = f"mutation($id: ID!) {{ acceptProxy(id: $id) {{ {PROXY_FIELDS} }} }}"
DECLINE = f"mutation($id: ID!) {{ declineProxy(id: $id) {{ {PROXY_FIELDS} }} }}"
REVOKE = f"mutation($id: ID!) {{ revokeProxy(id: $id) {{ {PROXY_FIELDS} }} }}"
STANCE_FIELDS = "value reason castAt member { id } castBy { id }"
CAST_FOR = f"""mutation($c: ID!, $v: StanceValue!, $r: String, $for: ID) {{
  castStance(consultationId: $c, value: $v, reason: $r, onBehalfOf: $for) {{ {STANCE_FIELDS} }} }}"""
SEEN = f"""query($id: ID!) {{ consultation(id: $id) {{ id status round resultsVisibility outcome
  tally {{ eligible responded agree reservations standAside block quorumReached }}
  stances {{ {STANCE_FIELDS} }} myStance {{ {STANCE_FIELDS} }}
  rounds {{ number outcome tally {{ eligible responded agree reservations standAside block
                                     quorumReached }} }}
  awaiting {{ id }} proxies {{ {PROXY_FIELDS} }} }} }}"""
NEXT_ROUND = """mutation($id: ID!, $p: String!, $at: DateTime!) {
  startNextRound(id: $id, proposal: $p, closesAt: $at) { id round status } }"""
SUSPEND = """mutation($m: ID!, $r: String!) { proposeSuspension(memberId: $m, reason: $r) {
  id kind resultsVisibility } }"""
STANCE_VALUES = ("AGREE", "RESERVATIONS", "STAND_ASIDE", "BLOCK")


@pytest.fixture(autouse=True)
def own_voters(stack):
    """Autouse where imported: each test's rounds hold only the members it makes: on the shared stack,
    every founder made before would be mailed about each round opened here,
    and the mail queue would still be sending those when later tests wait
    for theirs."""
    isolate_voters(stack)


def ok(body, field):
    """The `field` of a mutation's answer that must have succeeded."""
    assert not body.get("errors"), body
    return body["data"][field]


def refused(body, code, *keywords):
    """The message of a refusal with `code` that names one of `keywords`
    (case-insensitive); asserts both."""
    got, message, _ = refusal(body)
    assert got == code, body
    if keywords:
        assert any(k.lower() in message.lower() for k in keywords), (keywords, message)
    return message


def grant(stack, consultation_id, granter, holder, token=None):
    return stack.post(GRANT, {"c": consultation_id, "h": holder},
                      token or stack.member_token(granter)).json()


def _act(stack, document, proxy_id, member, token):
    return stack.post(document, {"id": proxy_id}, token or stack.member_token(member)).json()


def accept(stack, proxy_id, member, token=None):
    return _act(stack, ACCEPT, proxy_id, member, token)


def decline(stack, proxy_id, member, token=None):
    return _act(stack, DECLINE, proxy_id, member, token)


def revoke(stack, proxy_id, member, token=None):
    return _act(stack, REVOKE, proxy_id, member, token)


def cast_for(stack, consultation_id, holder, granter, value="AGREE", reason=None):
    """castStance by `holder` on behalf of `granter` (its own when granter is None)."""
    return stack.post(CAST_FOR, {"c": consultation_id, "v": value, "r": reason, "for": granter},
                      stack.member_token(holder)).json()


def offered(stack, consultation_id, granter, holder):
    """A proxy that must be offered: its view."""
    made = ok(grant(stack, consultation_id, granter, holder), "grantProxy")
    assert made["status"] == "OFFERED" and made["granter"]["id"] == granter, made
    return made


def accepted(stack, consultation_id, granter, holder):
    """A proxy offered and accepted: its view."""
    made = offered(stack, consultation_id, granter, holder)
    taken = ok(accept(stack, made["id"], holder), "acceptProxy")
    assert taken["status"] == "ACCEPTED", taken
    return taken


def seen(stack, consultation_id, token=None):
    """The consultation as the viewer of `token` sees it (SEEN's fields)."""
    return stack.gql(SEEN, {"id": consultation_id}, token)["consultation"]


def statuses(stack, consultation_id, token=None):
    """{proxy id: status} of Consultation.proxies as the viewer sees it."""
    return {p["id"]: p["status"] for p in seen(stack, consultation_id, token or stack.admin())
            ["proxies"]}


def stored(stack, proxy_id):
    """The proxy as the consultations service keeps it."""
    return stack.db("consultations").proxies.find_one({"_id": proxy_id})


def proxy_audit(stack, consultation_id):
    with stack.rpc() as rpc:
        return rpc.consultations.proxy_audit(consultation_id)


def stance_audit(stack, consultation_id):
    with stack.rpc() as rpc:
        return rpc.consultations.stance_audit(consultation_id)


# ---- the CLI export --------------------------------------------------------------------

def export(stack, consultation_id):
    """`coalition export consultation ID` as the operator runs it: the click result."""
    return CliRunner().invoke(coalition, ["export", "consultation", consultation_id],
                              env=stack.cli_env, catch_exceptions=False)


def export_rows(stack, consultation_id):
    """The CSV export's rows (dicts), which must succeed."""
    result = export(stack, consultation_id)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


# ---- the bus ---------------------------------------------------------------------------

class EventTap:
    """A queue of the test's own bound to every service's events exchange
    (each event type is its routing key), collecting the envelopes published
    while it is open."""

    def __init__(self, stack):
        self.connection = Connection(stack.amqp_uri, connect_timeout=10)
        channel = self.connection.channel()
        self.queue = Queue(f"test-tap-{uuid.uuid4().hex[:8]}", exclusive=True,
                           auto_delete=True, durable=False)(channel)
        self.queue.declare()
        for service in SERVICES:
            exchange = Exchange(f"{service}.events", type="topic", durable=True)(channel)
            exchange.declare()
            self.queue.bind_to(exchange=exchange.name, routing_key="#")
        self.envelopes = []

    def drain(self):
        """Every envelope published since the last drain, added to `envelopes`."""
        while True:
            message = self.queue.get(no_ack=True)
            if message is None:
                return self.envelopes
            body = message.payload
            self.envelopes.append(json.loads(body) if isinstance(body, (bytes, str)) else body)

    def about(self, consultation_id):
        return [e for e in self.drain() if e["data"].get("consultation_id") == consultation_id]

    def close(self):
        try:
            self.queue.delete()
        finally:
            self.connection.release()


@contextmanager
def event_tap(stack):
    tap = EventTap(stack)
    try:
        yield tap
    finally:
        tap.close()


# ---- the logs ------------------------------------------------------------------------------

def log_files(stack):
    return sorted((stack.stack.var / "logs").glob("*.log"))


def log_marks(stack):
    """{log file: its size now}: where a test's own lines begin."""
    return {path: path.stat().st_size for path in log_files(stack)}


def logs_since(stack, marks):
    """{file name: the text written to it since `marks`}."""
    out = {}
    for path in log_files(stack):
        with open(path, "rb") as f:
            f.seek(marks.get(path, 0))
            out[path.name] = f.read().decode("utf-8", "replace")
    return out
