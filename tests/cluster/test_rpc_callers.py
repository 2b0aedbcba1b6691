"""RPC callers when the broker node they are connected to dies (the causes of
what the failover test found, each shown on its own).

- Reply queues (services/common/remote.py, reply_queue): nameko 2.14
  declares them durable. In a cluster such a queue lives on one node, and
  while that node is down RabbitMQ refuses to declare it again anywhere
  (404): a service, all of whose queues share one connection, took nothing,
  and a gateway client failed every call, until the node came back. Ours are
  transient and auto-delete: declared again at once on another node.
- The gateway's idle pooled clients (services/gateway/rpc.py): one whose
  connection went with its node is thrown away before it is used. nameko
  would send the request, find the connection dead only when waiting for
  the reply, lose that reply, and wait out the whole RPC timeout."""
import json
import time
import uuid

import pytest
from amqp.exceptions import NotFound
from kombu import Connection, Queue
from nameko.rpc import RPC_REPLY_QUEUE_TTL

from services.common.remote import BoundedRpcProxy, TransientReplyListener, reply_queue
from services.gateway.rpc import RpcPool, reply_connection_open
from tests.cluster.nodes import ctl
from tests.support import wait_for


def nameko_reply_queue(like):
    """The reply queue nameko 2.14 itself would declare (kombu's defaults: durable)."""
    return Queue(f"rpc.reply-nameko-{uuid.uuid4()}", exchange=like.exchange,
                 routing_key=like.routing_key, queue_arguments={"x-expires": RPC_REPLY_QUEUE_TTL})


def open_at_once(client):
    """reply_connection_open, which must answer at once (it never waits for data)."""
    started = time.monotonic()
    answer = reply_connection_open(client.proxy)
    assert time.monotonic() - started < 0.5
    return answer


def test_callers_connected_to_a_node_that_dies(whole_cluster):
    cluster = whole_cluster
    index = len(cluster.nodes) - 1
    _, ours = reply_queue("gateway", {"AMQP_URI": cluster.amqp_uri})
    theirs = nameko_reply_queue(ours)
    with Connection(cluster.node_uri(index)) as conn:  # both queues live on that node
        channel = conn.channel()
        ours(channel).declare()
        theirs(channel).declare()
    pool = RpcPool({"AMQP_URI": cluster.node_uri(index)}, size=2, timeout=5)
    idle = pool._acquire()
    pool._idle.put(idle)
    assert open_at_once(idle)
    cluster.kill(index)
    try:
        with Connection(cluster.amqp_uri) as conn:  # through HAProxy: another node
            ours(conn.channel()).declare()
            with pytest.raises(NotFound, match="home node"):
                theirs(conn.channel()).declare()
        wait_for(lambda: not open_at_once(idle), 10, 0.05, "the idle client's connection closed")
        pool.config["AMQP_URI"] = cluster.amqp_uri  # a new client goes through HAProxy
        fresh = pool._acquire()
        assert fresh is not idle and open_at_once(fresh) and pool._created == 1
        pool._discard(fresh)
    finally:
        cluster.restart(index)
        with Connection(cluster.amqp_uri) as conn:
            channel = conn.channel()
            for queue in (ours, theirs):
                channel.queue_delete(queue.name)


def test_services_and_the_gateway_reply_on_transient_queues(whole_cluster):
    """Services call through BoundedRpcProxy; the gateway's pooled clients
    declare their reply queue as the broker then lists it: not durable."""
    cluster = whole_cluster
    assert isinstance(BoundedRpcProxy.rpc_reply_listener, TransientReplyListener)
    pool = RpcPool({"AMQP_URI": cluster.amqp_uri}, size=1, timeout=5)
    client = pool._acquire()
    try:
        name = client.proxy._reply_listener.queue.name
        out = ctl(cluster.node, "list_queues", "-p", "/", "name", "durable", "auto_delete",
                  "--formatter", "json").stdout
        listed = {q["name"]: q for q in json.loads(out)}
        assert name.startswith("rpc.reply-standalone_rpc_proxy-"), name
        assert (listed[name]["durable"], listed[name]["auto_delete"]) == (False, True)
    finally:
        pool._discard(client)
