"""The broker is a trust boundary (DOMAIN.md section 5, issue 13 point 12):
each process connects as its own RabbitMQ user (services/common/broker.py),
and RabbitMQ itself refuses what that user may not do. Everything here runs
against the real broker; the shared stack's processes run as those users.

A refusal of a publish or a consume closes the channel with ACCESS_REFUSED
(reply code 403). A publish is made with publisher confirms, so the refusal
arrives before the call returns."""
import json
import subprocess
import time
import uuid

import amqp
import pytest
from kombu import Connection
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ClusterRpcProxy

from services.common import broker, events
from tests.helpers.events import round_closed
from tests.support import drop_users, drop_vhost, make_users, make_vhost, member_input, wait_for



@pytest.fixture
def users_stack(stack):
    """The shared stack, whose processes run as their own broker users."""
    if not stack.users:
        pytest.skip("the broker has no per-process users here (no rabbitmqctl, or AMQP_URI set)")
    return stack


def broker_refusal(uri, action):
    """The broker's refusal (an AMQP error) of action(channel), run as `uri`'s
    user on a fresh connection, or None if the broker allowed it."""
    with Connection(uri, connect_timeout=10) as conn:
        channel = conn.channel()
        try:
            action(channel)
            channel.basic_qos(0, 0, False)  # a round trip: a late refusal has arrived by now
        except amqp.exceptions.AMQPError as exc:
            return exc
    return None


def refused(uri, action):
    exc = broker_refusal(uri, action)
    assert exc is not None, "the broker allowed it"
    assert exc.reply_code == 403 and "ACCESS_REFUSED" in str(exc), exc
    return True


def publish(exchange, routing_key, body=b"{}"):
    def action(channel):
        channel.confirm_select()
        channel.basic_publish(amqp.Message(body, content_type="application/json"),
                              exchange=exchange, routing_key=routing_key)
    return action


def consume(queue):
    return lambda channel: channel.basic_consume(queue, callback=lambda message: None)


def status(stack, member_id):
    return stack.db("members").members.find_one({"_id": member_id})["status"]


def processed_by_anyone(stack, event_id):
    return [service for service in ("members", "grants", "consultations")
            if stack.db(service).processed_events.find_one(
                {"_id": {"$regex": f":{event_id}$"}})]


def test_every_process_of_the_stack_connects_as_its_own_user(users_stack):
    stack = users_stack
    out = subprocess.run(["rabbitmqctl", "list_connections", "-q", "--no-table-headers",
                          "vhost", "user"], capture_output=True, text=True, timeout=60).stdout
    users = {line.split("\t")[1] for line in out.splitlines()
             if line.split("\t")[0] == stack.vhost}
    own = {stack.users[p][0] for p in broker.SERVICES + ("gateway",)}
    assert own <= users, (own, users)
    # besides them only the tests' own clients (the vhost's administrator) and the CLI's
    assert users <= own | {"guest", stack.users["cli"][0]}, users


def test_the_gateway_cannot_publish_round_closed_and_no_service_acts(users_stack):
    stack = users_stack
    with stack.rpc() as rpc:
        member = rpc.members.apply_for_membership(member_input())
    consultation = wait_for(lambda: stack.db("consultations").consultations.find_one(
        {"subject_id": member["id"], "kind": "MEMBERSHIP_ADMISSION"}), 30,
        message="the admission consultation")
    assert status(stack, member["id"]) == "CANDIDATE"
    envelope = round_closed("MEMBERSHIP_ADMISSION", member["id"], "ADOPTED", consultation["_id"])
    gateway = stack.process_uri("gateway")

    # as nameko's own publisher would send it, the outbox relay's way
    with pytest.raises(amqp.exceptions.AccessRefused) as exc:
        Publisher(gateway, use_confirms=True, serializer="json").publish(
            envelope, exchange=get_event_exchange("consultations", {}), routing_key="round_closed")
    assert exc.value.reply_code == 403
    # nor straight into the members' queue for it, through the default exchange
    queue = events.queue_name("consultations", "round_closed", "members", "on_round_closed")
    assert refused(gateway, publish("", queue))
    # nor through any other events exchange, or the broker's own topic exchange
    for exchange in [broker.event_exchange(s) for s in broker.SERVICES] + ["amq.topic"]:
        assert refused(gateway, publish(exchange, "round_closed"))

    # no service acts on it: the member stays a candidate, no consumer saw it
    time.sleep(3)
    assert status(stack, member["id"]) == "CANDIDATE"
    assert processed_by_anyone(stack, envelope["event_id"]) == []

    # the control: the same announcement from its publisher's user is obeyed
    # (so the forgery was valid, and the check above can see an effect)
    genuine = round_closed("MEMBERSHIP_ADMISSION", member["id"], "ADOPTED", consultation["_id"])
    Publisher(stack.process_uri("consultations"), use_confirms=True, serializer="json").publish(
        genuine, exchange=get_event_exchange("consultations", {}), routing_key="round_closed")
    wait_for(lambda: status(stack, member["id"]) == "ACTIVE", 30, 0.2, "the genuine admission")
    wait_for(lambda: sorted(processed_by_anyone(stack, genuine["event_id"])) == ["grants", "members"],
             30, 0.2, "the genuine event processed by its consumers")
    assert processed_by_anyone(stack, envelope["event_id"]) == []
    with stack.rpc() as rpc:  # leave no voter behind for the other tests
        rpc.members.withdraw_membership(member["id"], "end of the trust boundary test")


def test_a_service_cannot_publish_another_services_events(users_stack):
    stack = users_stack
    members, grants = stack.process_uri("members"), stack.process_uri("grants")
    body = b'{"forged": true}'
    assert refused(members, publish("consultations.events", "round_closed", body))
    assert refused(members, publish("grants.events", "allocation_approved", body))
    # not even under its own exchange: the routing key must be one of its events
    assert refused(members, publish("members.events", "round_closed", body))
    assert refused(grants, publish("members.events", "member_admitted", body))
    assert refused(grants, publish("consultations.events", "consultation_cancelled", body))
    for user in (members, grants):
        assert refused(user, publish("", events.queue_name(
            "consultations", "round_closed", "members", "on_round_closed"), body))


def test_a_service_cannot_consume_another_services_queues(users_stack):
    stack = users_stack
    members, grants = stack.process_uri("members"), stack.process_uri("grants")
    consultations_queue = events.queue_name("members", "member_registered", "consultations",
                                            "on_member_event")
    assert refused(members, consume(consultations_queue))  # declared by members, read by
    assert refused(members, consume("rpc-consultations"))   # consultations only
    assert refused(grants, consume(events.queue_name("consultations", "round_closed", "members",
                                                     "on_round_closed")))
    assert refused(grants, consume("rpc-members"))
    for process in ("gateway", "cli"):
        assert refused(stack.process_uri(process), consume("rpc-members"))
        assert refused(stack.process_uri(process), consume(consultations_queue))


def test_rpc_requests_only_from_their_callers(users_stack):
    stack = users_stack
    request = b'{"args": [], "kwargs": {}}'
    # a service sends no request but those it needs (consultations -> members.voter_ids)
    for process in ("members", "consultations", "grants"):
        assert refused(stack.process_uri(process),
                       publish("nameko-rpc", "members.register_founding_member", request))
    assert refused(stack.process_uri("grants"), publish("nameko-rpc", "members.voter_ids", request))
    # the gateway calls the services, never their operator RPCs
    for method in broker.OPERATOR_RPCS:
        assert refused(stack.process_uri("gateway"), publish("nameko-rpc", f"members.{method}",
                                                             request))
    # the operator's CLI calls only what its commands need
    assert refused(stack.process_uri("cli"),
                   publish("nameko-rpc", "members.register_founding_member", request))


def test_the_mail_queue_is_the_operators_and_only_accounts_sends_a_sign_in_mail(users_stack):
    """The gateway may call the notifications service (its features do) but
    not the operator's mail RPCs, nor send_sign_in, which only accounts calls
    (it holds the code); the CLI may list the queue (`coalition mail list`),
    and is answered."""
    stack = users_stack
    request = b'{"args": [], "kwargs": {}}'
    gateway = stack.process_uri("gateway")
    for method in ("mails", "mail", "retry_mails", "send_sign_in"):
        assert refused(gateway, publish("nameko-rpc", f"notifications.{method}", request))
    assert refused(stack.process_uri("cli"),
                   publish("nameko-rpc", "notifications.send_sign_in", request))
    # who an address is, and the first secretariat person, are not the gateway's to ask or add
    for service, method in (("members", "find_by_focal_point"), ("accounts", "add_secretariat"),
                            ("accounts", "audit")):
        assert refused(gateway, publish("nameko-rpc", f"{service}.{method}", request))
    # the controls: the refusal is of those methods, not of the service or the users
    as_gateway = {**stack.config, "AMQP_URI": gateway}
    with ClusterRpcProxy(as_gateway, timeout=15) as rpc:
        assert set(rpc.notifications.preferences("secretariat")) >= {"reminders", "outcomes"}
    with ClusterRpcProxy({**stack.config, "AMQP_URI": stack.process_uri("cli")},
                         timeout=15) as rpc:
        assert isinstance(rpc.notifications.mails(None, 1), list)


def test_the_gateway_cannot_listen_to_others_requests(users_stack):
    """It may bind its own reply queue only with a reply key, so it cannot
    copy the requests sent to a service."""
    gateway = users_stack.process_uri("gateway")
    name = f"rpc.reply-standalone_rpc_proxy-{uuid.uuid4()}"

    def snoop(channel):
        channel.queue_declare(name, auto_delete=True, exclusive=True)
        channel.queue_bind(name, "nameko-rpc", "members.*")
    assert refused(gateway, snoop)
    # nor declare a queue that is not an RPC reply queue
    assert refused(gateway, lambda ch: ch.queue_declare(f"evt-snoop-{uuid.uuid4().hex}",
                                                        auto_delete=True))


def test_dead_letter_replay_goes_to_the_services_own_queues_only():
    """In a vhost of its own (nothing consumes there): a service replays a
    parked message into its own queue through its own exchange, and cannot
    reach another service's queue that way."""
    vhost = make_vhost()
    users = make_users(vhost)
    try:
        if not users:
            pytest.skip("rabbitmqctl cannot make users here")
        from urllib.parse import quote
        admin = f"amqp://guest:guest@127.0.0.1:5672/{quote(vhost, safe='')}"
        own = events.queue_name("consultations", "round_closed", "members", "on_round_closed")
        other = events.queue_name("consultations", "round_closed", "grants", "on_round_closed")
        with Connection(admin) as conn:
            channel = conn.channel()
            for queue in (own, other):
                channel.queue_declare(queue, durable=True, auto_delete=False)
        members = broker.process_uri(admin, *users["members"])
        broker.replay_to_own_queue(members, "members", own, {"parked": 1})
        with Connection(admin) as conn:
            message = conn.channel().basic_get(own, no_ack=True)
        assert message is not None
        body = message.body.decode() if isinstance(message.body, bytes) else message.body
        assert json.loads(body) == {"parked": 1}

        with pytest.raises(amqp.exceptions.AccessRefused):
            broker.replay_to_own_queue(members, "members", other, {"parked": 2})
        with pytest.raises(amqp.exceptions.AccessRefused):  # nor as another service
            broker.replay_to_own_queue(members, "grants", other, {"parked": 3})
        gateway = broker.process_uri(admin, *users["gateway"])
        with pytest.raises(amqp.exceptions.AccessRefused):
            broker.replay_to_own_queue(gateway, "members", own, {"parked": 4})
        with Connection(admin) as conn:
            assert conn.channel().basic_get(other, no_ack=True) is None
    finally:
        drop_users(users)
        drop_vhost(vhost)
