"""What the broker holds for a test's vhost: its queues' types, policies and
message counts (rabbitmqctl, as the tests' stacks are on this machine's
broker), and a consumer that dies holding a message (a crash, as the broker
sees one)."""
import subprocess

from kombu import Connection


def queues(vhost, node=None):
    """{queue name: {"type", "policy", "messages"}} of `vhost`."""
    command = ["rabbitmqctl", *(["-n", node] if node else []), "list_queues", "-p", vhost,
               "--no-table-headers", "--quiet", "name", "type", "policy", "messages"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            name, kind, policy, messages = parts
            found[name] = {"type": kind, "policy": policy,
                           "messages": int(messages) if messages.isdigit() else 0}
    return found


def ours(found):
    """Our durable queues (RPC, event and dead-letter), not the reply queues."""
    return {n: q for n, q in found.items() if n.startswith(("rpc-", "evt-", "dead-"))}


def die_holding(amqp_uri, queue):
    """Take one message of `queue` and close the channel without an answer,
    as a consumer killed mid-message does: the broker returns it and counts
    a delivery. True if there was a message."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        message = channel.basic_get(queue, no_ack=False)
        channel.close()
        return message is not None
