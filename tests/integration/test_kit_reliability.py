"""The platform's delivery guarantees through real RabbitMQ and the real
store: outbox survives crashes, handlers are idempotent, failures are
retried then dead-lettered and replayable."""
import time
import uuid

import pytest
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange

from tests.helpers.events import member_event
from tests.support import start_service, wait_for


def founding(name):
    return {"name": name, "orgType": "NGO", "countries": ["KG"],
            "constituencies": ["SEX_WORKERS"],
            "focalPoint": {"name": "Focal", "email": f"focal-{uuid.uuid4().hex[:10]}@example.org"}}


def wait_rpc(stack, service, timeout=30):
    def ping():
        try:
            with stack.rpc(timeout=2) as rpc:
                return getattr(rpc, service).ping()
        except Exception:
            return None
    return wait_for(ping, timeout, 0.3, f"{service} to answer")


@pytest.fixture(scope="module")
def probe(stack, tmp_path_factory):
    proc = start_service(stack, "tests.probe_service:ProbeService",
                         tmp_path_factory.mktemp("probe") / "probe.log")
    wait_rpc(stack, "probe")
    yield stack.db("probe")
    proc.terminate()
    proc.wait(20)


def publish(stack, envelope):
    Publisher(stack.amqp_uri, use_confirms=True, serializer="json").publish(
        envelope, exchange=get_event_exchange(envelope["source"], {}),
        routing_key=envelope["event_type"])


def probe_event(name):
    """A member_registered event the probe reacts to by `name`: of a WITHDRAWN
    member, who cannot vote, so the real read models it also reaches never
    count it among the eligible of other tests' consultations."""
    return member_event("member_registered", status="WITHDRAWN", name=name)


def test_same_event_again_is_skipped_before_the_handler(stack, probe):
    """A redelivery after the first copy was applied never reaches the handler."""
    name = f"dup-{uuid.uuid4().hex[:8]}"
    envelope = probe_event(name)
    publish(stack, envelope)
    wait_for(lambda: probe.processed_events.count_documents(
        {"_id": f"probe.on_member_registered:{envelope['event_id']}"}) == 1)
    publish(stack, envelope)
    sentinel = f"sentinel-{uuid.uuid4().hex[:8]}"
    publish(stack, probe_event(sentinel))  # one queue, one consumer: after the duplicate
    wait_for(lambda: probe.effects.find_one({"_id": sentinel}), message="sentinel applied")
    time.sleep(1.0)
    assert probe.effects.find_one({"_id": name})["applied"] == 1
    assert probe.attempts.find_one({"_id": name})["n"] == 1  # the duplicate never reached it


def test_same_event_twice_at_once_applies_once(stack, probe):
    """Two copies in flight together may both enter the handler (the service
    runs several workers), but the marker insert makes one transaction lose:
    its effects roll back, so the effect is applied once."""
    name = f"dup-{uuid.uuid4().hex[:8]}"
    envelope = probe_event(name)
    publish(stack, envelope)
    publish(stack, envelope)
    sentinel = f"sentinel-{uuid.uuid4().hex[:8]}"
    publish(stack, probe_event(sentinel))
    wait_for(lambda: probe.effects.find_one({"_id": sentinel}), message="sentinel applied")
    wait_for(lambda: probe.processed_events.count_documents(
        {"_id": f"probe.on_member_registered:{envelope['event_id']}"}) == 1)
    time.sleep(1.0)
    assert probe.effects.find_one({"_id": name})["applied"] == 1
    assert probe.attempts.find_one({"_id": name})["n"] in (1, 2)  # counted outside the tx


def test_same_event_twice_opens_one_admission(stack):
    """The same with a real service: membership_applied twice -> one consultation."""
    with stack.rpc() as rpc:
        applicant = rpc.members.apply_for_membership(founding(f"Twice {uuid.uuid4().hex[:6]}"))
    envelope = member_event("membership_applied", applicant["id"], status="CANDIDATE",
                            mou_signed=False, name=applicant["name"])
    publish(stack, envelope)
    publish(stack, envelope)
    db = stack.db("consultations")
    wait_for(lambda: db.processed_events.count_documents(
        {"_id": f"consultations.on_membership_applied:{envelope['event_id']}"}) == 1)
    time.sleep(1.0)
    # one from the service's own event, one from our (single) replayed copy
    assert db.consultations.count_documents({"subject_id": applicant["id"]}) == 2
    # each of its two consumers in consultations took it exactly once
    for consumer in ("on_membership_applied", "on_member_event"):
        assert db.processed_events.count_documents(
            {"_id": f"consultations.{consumer}:{envelope['event_id']}"}) == 1


def test_failing_handler_is_retried_then_parked_and_replayable(stack, probe):
    name = f"fail-always-{uuid.uuid4().hex[:8]}"
    with stack.rpc() as rpc:
        member = rpc.members.register_founding_member(founding(name))
        parked = wait_for(lambda: [d for d in rpc.probe.dead_letters() if d["event_type"]
                                   == "member_registered" and d["source"] == "members"
                                   and probe.attempts.find_one({"_id": name})
                                   and d["event_id"] in _event_ids(stack, member["id"])],
                          timeout=30, message="the message to be parked")
        letter = parked[0]
        assert letter["attempts"] == 5 and "probe told to fail" in letter["error"]
        assert probe.attempts.find_one({"_id": name})["n"] == 5
        assert probe.effects.find_one({"_id": name}) is None
        rpc.probe.heal(name)
        assert rpc.probe.replay_dead_letters([letter["id"]]) == [letter["id"]]
        wait_for(lambda: probe.effects.find_one({"_id": name}), message="replayed effect")
        assert probe.effects.find_one({"_id": name})["applied"] == 1
        assert not [d for d in rpc.probe.dead_letters() if d["id"] == letter["id"]]
        assert [d for d in rpc.probe.dead_letters(status="replayed") if d["id"] == letter["id"]]


def _event_ids(stack, member_id):
    return {d["_id"] for d in stack.db("members").outbox.find({"envelope.data.member_id": member_id})}


def test_relay_killed_between_commit_and_publish_loses_nothing(stack, tmp_path):
    """members commits with its relay off, is killed -9, and the restarted
    service publishes the pending event: it arrives, once."""
    stack.stack.ctl("stop", "members")
    try:
        proc = start_service(stack, "members", tmp_path / "members-norelay.log", OUTBOX_RELAY="false")
        wait_rpc(stack, "members")
        with stack.rpc() as rpc:
            member = rpc.members.register_founding_member(founding(f"Crash {uuid.uuid4().hex[:6]}"))
        outbox = stack.db("members").outbox
        assert outbox.find_one({"envelope.data.member_id": member["id"]})["status"] == "pending"
        time.sleep(1.0)
        assert stack.db("consultations").voters.find_one({"_id": member["id"]}) is None
        proc.kill()
        proc.wait(10)
    finally:
        stack.stack.ctl("start", "members")
    wait_for(lambda: stack.db("consultations").voters.find_one({"_id": member["id"]}),
             message="the event after restart")
    wait_for(lambda: outbox.find_one({"envelope.data.member_id": member["id"]})["status"] == "sent")
    event_id = outbox.find_one({"envelope.data.member_id": member["id"]})["_id"]
    assert stack.db("consultations").processed_events.count_documents(
        {"_id": f"consultations.on_member_event:{event_id}"}) == 1


def test_crash_after_publish_before_mark_is_harmless(stack, tmp_path):
    """The relay publishes, then the process dies before marking the event
    sent; the restarted relay publishes it again; the effect happens once."""
    stack.stack.ctl("stop", "members")
    try:
        proc = start_service(stack, "members", tmp_path / "members-crash.log",
                             OUTBOX_FAULT="crash_after_publish")
        wait_rpc(stack, "members")
        with stack.rpc() as rpc:
            applicant = rpc.members.apply_for_membership(founding(f"Republished {uuid.uuid4().hex[:6]}"))
        assert proc.wait(20) == 17  # died right after its first publish
    finally:
        stack.stack.ctl("start", "members")
    outbox = stack.db("members").outbox
    event = outbox.find_one({"envelope.data.member_id": applicant["id"]})
    wait_for(lambda: outbox.find_one({"_id": event["_id"]})["status"] == "sent",
             message="re-publish after restart")
    db = stack.db("consultations")
    wait_for(lambda: db.consultations.find_one({"subject_id": applicant["id"]}))
    time.sleep(1.5)
    assert db.consultations.count_documents({"subject_id": applicant["id"]}) == 1
