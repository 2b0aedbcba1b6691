"""Notifications under faults, on a stack of their own: the service killed
with -9 while it sends, and two instances sharing one queue. Each (event,
recipient, kind) is delivered; nothing is sent twice, except the one repeat
docs/operator-guide.md admits (a crash between the SMTP server's acceptance
and our record of it), which carries the same Message-ID."""
import re
from collections import Counter

import pytest

from tests.helpers.consultations import open_consultation
from tests.helpers.notifications import founders_with_addresses, mails
from tests.support import StackHandle, isolate_voters, start_service, wait_for

pytestmark = pytest.mark.faults
FAN_OUT = 60


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory):
    """A stack of its own, whose senders take small batches: two instances
    then share one fan-out, and a kill lands in the middle of a batch."""
    handle = StackHandle(tmp_path_factory.mktemp("notification-faults"),
                         extra_env={"MAIL_BATCH": "5"})
    handle.start()
    yield handle
    handle.stop()


def deliveries(stack, consultation_id, people):
    """{address: [Message-IDs received]} of the CONSULTATION_OPENED mails of the round."""
    wanted = {m["message_id"]: m["recipient"] for m in mails(stack, kind="CONSULTATION_OPENED")}
    addresses = {address for _, address in people}
    got = {address: [] for address in addresses}
    for message in stack.mail.messages:
        for address in message.to:
            if address in addresses and message.message_id in wanted:
                got[address].append(message.message_id)
    return got


def everyone_got_one(stack, consultation_id, people):
    got = deliveries(stack, consultation_id, people)
    return got if all(got.values()) else None


def test_killed_while_sending_delivers_everything_and_repeats_at_most_one(fault_stack, report):
    stack = fault_stack
    isolate_voters(stack)
    people = founders_with_addresses(stack, FAN_OUT)
    stack.mail.clear()
    stack.mail.slow(0.05)  # the sender is in the middle of its batch when it dies
    try:
        c = open_consultation(stack, title="Killed mid-send")
        wait_for(lambda: len(stack.mail.messages) >= 5, 60, 0.01, "the first mails sent")
        killed = stack.stack.kill9("notifications")  # supervisor starts it again
        assert killed
        assert len(stack.mail.messages) < FAN_OUT  # it died with mails still to send
        got = wait_for(lambda: everyone_got_one(stack, c["id"], people), 120, 0.2, "every mail")
    finally:
        stack.mail.slow(0)
    repeats = {a: ids for a, ids in got.items() if len(ids) > 1}
    report["notifications_kill9"] = {"mails": FAN_OUT, "repeated": len(repeats)}
    assert len(repeats) <= 1, repeats
    for ids in got.values():
        assert len(set(ids)) == 1  # a repeat is the same message, recognisable by its id
    assert all(m["status"] == "SENT" for m in mails(stack, kind="CONSULTATION_OPENED",
                                                    recipient={"$in": [p for p, _ in people]}))


def test_two_instances_send_each_mail_once(fault_stack, tmp_path):
    stack = fault_stack
    isolate_voters(stack)
    people = founders_with_addresses(stack, FAN_OUT)
    second = start_service(stack, "notifications", tmp_path / "notifications-2.log",
                           AMQP_URI=stack.process_uri("notifications"))
    try:
        wait_for(lambda: "notifications" in (tmp_path / "notifications-2.log").read_text()
                 or second.poll() is not None, 30, 0.2, "the second instance")
        assert second.poll() is None, (tmp_path / "notifications-2.log").read_text()
        stack.mail.clear()
        first_log = stack.stack.var / "logs" / "notifications.log"
        before = len(first_log.read_text())
        # slow acceptance (3 s for the fan-out) keeps one instance's drain going
        # past the other's next tick, so both claim batches: without it, the
        # instance that wrote the mails could send them all before the other woke
        stack.mail.slow(0.05)
        try:
            c = open_consultation(stack, title="Two senders")
            got = wait_for(lambda: everyone_got_one(stack, c["id"], people), 120, 0.2,
                           "every mail")
        finally:
            stack.mail.slow(0)
        wait_for(lambda: stack.db("notifications").mails.count_documents(
            {"kind": "CONSULTATION_OPENED", "status": {"$ne": "SENT"},
             "recipient": {"$in": [p for p, _ in people]}}) == 0, 30, 0.2, "all marked SENT")
        assert Counter(len(ids) for ids in got.values()) == Counter({1: FAN_OUT})
        # both took part: each logs what it sent when its drain ends, which may
        # be a moment after the last mail was marked SENT
        for log, start in ((first_log, before), (tmp_path / "notifications-2.log", 0)):
            wait_for(lambda: re.search(r"mails: [1-9]\d* sent", log.read_text()[start:]), 30,
                     0.2, f"a drain that sent mails in {log.name}")
    finally:
        second.terminate()
        second.wait(30)
