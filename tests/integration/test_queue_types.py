"""Quorum queues on the real broker (services/common/queues.py,
services/common/entrypoints.py, services/common/queue_migration.py):

- the stack's durable queues are quorum queues under our policies, reply
  queues stay classic;
- a message whose consumer dies holding it DELIVERY_LIMIT times is
  dead-lettered by the broker, parked by its service, and replayed;
- a deployment on classic queues moves to quorum with `coalition queues
  migrate`, keeping the messages that waited, and a service started with the
  other type before that is refused with the way out.
"""
import uuid

import amqp
import pytest
from click.testing import CliRunner
from kombu import Connection

from services.cli import coalition
from services.common.queues import DELIVERY_LIMIT
from tests.helpers.queues import die_holding, ours, queues
from tests.support import StackHandle, start_service, wait_for

MEMBER_CONSUMERS = ("consultations", "grants", "notifications", "accounts")


def founding(name):
    return {"name": name, "orgType": "NGO", "countries": ["KG"],
            "constituencies": ["SEX_WORKERS"],
            "focalPoint": {"name": "Focal", "email": f"focal-{uuid.uuid4().hex[:10]}@example.org"}}


def register(stack):
    with stack.rpc() as rpc:
        return rpc.members.register_founding_member(founding(f"Queues {uuid.uuid4().hex[:6]}"))


def waiting(stack, consumer):
    """{queue: messages} of `consumer`'s event queues that hold messages."""
    return {n: q["messages"] for n, q in ours(queues(stack.vhost)).items()
            if n.endswith(f"--{consumer}.on_member_event") and q["messages"]}


def test_durable_queues_are_quorum_under_our_policies_and_replies_classic(stack):
    with stack.rpc() as rpc:  # a reply queue of ours exists while the proxy lives
        rpc.members.ping()
        found = queues(stack.vhost)
    durable = ours(found)
    assert {"rpc-members", "dead-grants", "evt-members-member_admitted--grants.on_member_event"} \
        <= set(durable)
    assert {n for n, q in durable.items() if q["type"] != "quorum"} == set()
    assert durable["rpc-grants"]["policy"] == "coalition-rpc-grants"
    assert durable["evt-members-member_admitted--grants.on_member_event"]["policy"] == \
        "coalition-events-grants"
    assert durable["dead-grants"]["policy"] == "coalition-dead-grants"  # a limit never reached
    replies = {n: q for n, q in found.items() if n.startswith("rpc.reply-")}
    assert replies and {q["type"] for q in replies.values()} == {"classic"}


def test_a_message_its_consumer_dies_on_is_dead_lettered_parked_and_replayed(stack):
    """grants is stopped; a member event waits in its queue; a consumer dies
    holding it until the broker gives up on it (DELIVERY_LIMIT); grants,
    started again, parks it with the reason; a replay applies it once."""
    stack.stack.ctl("stop", "grants")
    try:
        member = register(stack)
        queue = next(iter(wait_for(lambda: waiting(stack, "grants"), message="the event")))
        deliveries = 0
        while die_holding(stack.amqp_uri, queue):
            deliveries += 1
            assert deliveries <= DELIVERY_LIMIT + 1, "the broker never dead-lettered it"
        assert deliveries == DELIVERY_LIMIT + 1  # the first delivery, then the limit's returns
        assert wait_for(lambda: queues(stack.vhost)["dead-grants"]["messages"] == 1,
                        message="the dead-lettered message")
    finally:
        stack.stack.ctl("start", "grants")

    def parked():
        with stack.rpc() as rpc:
            return [d for d in rpc.grants.dead_letters() if d["queue"] == queue
                    and d.get("event_id") and "DeliveryLimitReached" in d["error"]]
    letter = wait_for(parked, timeout=40, message="the parked letter")[0]
    assert letter["consumer"] == "grants.on_member_event"
    assert letter["attempts"] == DELIVERY_LIMIT
    wait_for(lambda: queues(stack.vhost)["dead-grants"]["messages"] == 0,
             message="the parked message acked")
    grants = stack.db("grants")
    assert grants.members.find_one({"_id": member["id"]}) is None
    with stack.rpc() as rpc:
        assert rpc.grants.replay_dead_letters([letter["id"]]) == [letter["id"]]
    wait_for(lambda: grants.members.find_one({"_id": member["id"]}), message="the replayed event")
    assert grants.processed_events.count_documents(
        {"_id": f"grants.on_member_event:{letter['event_id']}"}) == 1


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    """A stack of its own, started on classic queues (a deployment before quorum)."""
    handle = StackHandle(tmp_path_factory.mktemp("classic"), extra_env={"QUEUE_TYPE": "classic"})
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()


def migrate(stack):
    result = CliRunner().invoke(coalition, ["queues", "migrate", "--to", "quorum"],
                                env={**stack.cli_env, "AMQP_ADMIN_URI": stack.amqp_uri})
    assert result.exit_code == 0, result.output
    return result.output


def send_waiting_request(stack):
    """An RPC request to the stopped accounts, as a service sends one (with
    an expiration: remote.py), into its queue; returns its properties."""
    properties = {"reply_to": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4()),
                  "expiration": "600000", "content_type": "application/json",
                  "content_encoding": "utf-8", "delivery_mode": 2,
                  "application_headers": {"nameko.call_id_stack": ["test.migrate.1"]}}
    with Connection(stack.amqp_uri) as conn:
        channel = conn.channel()
        channel.basic_publish(amqp.Message(b'{"args": [], "kwargs": {}}', **properties),
                              exchange="nameko-rpc", routing_key="accounts.ping")
        channel.close()
    return properties


def held_as_sent(stack, properties):
    """The waiting request, as it is in rpc-accounts now, has every property it
    was sent with (it is given back to the queue)."""
    with Connection(stack.amqp_uri) as conn:
        channel = conn.channel()
        message = channel.basic_get("rpc-accounts", no_ack=False)
        kept = {k: message.properties.get(k) for k in properties}
        kept["application_headers"].pop("x-delivery-count", None)  # the quorum queue's own
        channel.basic_reject(message.delivery_tag, requeue=True)
        channel.close()
    assert kept == properties
    return True


def test_classic_queues_move_to_quorum_keeping_what_waited(classic, tmp_path):
    assert {q["type"] for q in ours(queues(classic.vhost)).values()} == {"classic"}
    for consumer in MEMBER_CONSUMERS:
        classic.stack.ctl("stop", consumer)
    member = register(classic)
    held = {}
    for consumer in MEMBER_CONSUMERS:
        held.update(wait_for(lambda: waiting(classic, consumer), message=f"{consumer}'s event"))
    classic.stack.stop()  # every process: nothing publishes, nothing consumes
    request = send_waiting_request(classic)
    held["rpc-accounts"] = 1

    log = tmp_path / "members.log"
    refused = start_service(classic, "members", log, QUEUE_TYPE="quorum")
    assert refused.wait(60) == 2
    assert "coalition queues migrate --to quorum" in log.read_text()

    output = migrate(classic)
    for name, count in held.items():
        assert f"{name}\tquorum\t{count} moved" in output
    after = queues(classic.vhost)
    assert not [n for n in after if n.endswith(".migrating")]
    assert {n for n, q in ours(after).items() if q["type"] != "quorum"} == set()
    # a quorum queue's count is the broker's statistics, emitted every few seconds
    wait_for(lambda: {n: queues(classic.vhost)[n]["messages"] for n in held} == held,
             timeout=30, message="the moved messages counted in their queues")
    assert after[next(iter(held))]["policy"].startswith("coalition-events-")
    again = [line for line in migrate(classic).splitlines() if "\tquorum\t" in line]
    assert again and all(line.endswith("\t0 moved") for line in again)  # nothing left to move
    assert held_as_sent(classic, request)  # an RPC request, every property kept

    classic.stack.env["QUEUE_TYPE"] = "quorum"
    classic.stack.start()
    classic.stack.wait_healthy(120)
    for service in ("consultations", "grants"):
        db = classic.db(service)
        collection = db.voters if service == "consultations" else db.members
        wait_for(lambda: collection.find_one({"_id": member["id"]}), timeout=40,
                 message=f"{service} applying the event that waited")
    wait_for(lambda: {queues(classic.vhost)[n]["messages"] for n in held} == {0}, timeout=30,
             message="every moved message consumed")
