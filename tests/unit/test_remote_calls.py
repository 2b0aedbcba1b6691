"""The kit's bounded RPC between services (services/common/remote.py) and
how a reliable handler treats a service that does not answer (handlers.py)."""
import eventlet
import pytest
from kombu.exceptions import OperationalError
from nameko.exceptions import UnknownService
from pymongo.errors import DuplicateKeyError

from services.common import handlers
from services.common.errors import NotFound, Unavailable
from services.common.events import make_envelope
from services.common.remote import bounded_call


class FakeReply:
    def __init__(self, result=None, wait=0.0, error=None):
        self.reply_event = object()
        self._result, self._wait, self._error = result, wait, error

    def result(self):
        eventlet.sleep(self._wait)
        if self._error:
            raise self._error
        return self._result


class FakeMethod:
    """A nameko MethodProxy: call_async() registers a reply slot."""

    def __init__(self, reply=None, publish_error=None):
        self.reply = reply
        self.publish_error = publish_error
        self.reply_listener = type("Listener", (), {})()
        self.reply_listener._reply_events = {}

    def call_async(self, *args, **kwargs):
        if self.publish_error:
            raise self.publish_error
        self.reply_listener._reply_events["corr-1"] = self.reply.reply_event
        return self.reply


def test_an_answer_in_time_is_returned():
    assert bounded_call(FakeMethod(FakeReply(["a", "b"])), "members", 1.0) == ["a", "b"]


def test_no_answer_in_time_is_unavailable_and_the_reply_slot_is_dropped():
    method = FakeMethod(FakeReply(["late"], wait=5.0))
    with pytest.raises(Unavailable) as caught:
        bounded_call(method, "members", 0.05)
    assert caught.value.code == "SERVICE_UNAVAILABLE" and "members" in caught.value.message
    assert method.reply_listener._reply_events == {}


@pytest.mark.parametrize("error", [UnknownService("members"), OperationalError("down"),
                                   ConnectionRefusedError()])
def test_broker_trouble_is_unavailable(error):
    with pytest.raises(Unavailable):
        bounded_call(FakeMethod(publish_error=error), "members", 1.0)


def test_a_typed_error_of_the_target_comes_back_as_it_is():
    with pytest.raises(NotFound):
        bounded_call(FakeMethod(FakeReply(error=NotFound("no such"))), "members", 1.0)


def test_an_outer_deadline_is_not_taken_for_ours():
    outer = eventlet.Timeout(0.05)
    try:
        with pytest.raises(eventlet.Timeout) as caught:
            bounded_call(FakeMethod(FakeReply(wait=5.0)), "members", 10.0)
        assert caught.value is outer
    finally:
        outer.cancel()


# ---- a reliable handler whose `prepare` asks a service that does not answer ----

class FakeCollection:
    def __init__(self):
        self.docs = {}

    def find_one(self, query, projection=None, session=None):
        return self.docs.get(query["_id"])

    def insert_one(self, doc, session=None):
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("dup")
        self.docs[doc["_id"]] = doc


class FakeStore:
    service_name = "consultations"
    config = {"HANDLER_MAX_ATTEMPTS": 2, "HANDLER_RETRY_BASE_SECONDS": 0.0}

    def __init__(self):
        self.db = type("Db", (), {})()
        self.db.processed_events = FakeCollection()
        self.db.dead_letters = FakeCollection()
        self.transactions = 0

    def transaction(self, fn):
        self.transactions += 1
        tx = type("Tx", (), {"db": self.db, "session": None})()
        return fn(tx)


def test_a_service_that_does_not_answer_is_an_outage_never_parked(monkeypatch):
    monkeypatch.setattr(handlers.time, "sleep", lambda s: None)
    answers = iter([Unavailable("members did not answer")] * 7 + [["m1", "m2"]])
    seen = []

    def prepare(service, data):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def handler(self, data, tx, envelope, prepared):
        seen.append(prepared)

    consumer = handlers.reliable(handler, prepare)
    service = type("Service", (), {"store": FakeStore()})()
    payload = make_envelope("grant_activated", {"grant_id": "g"}, source="grants")
    # 7 failures, more than HANDLER_MAX_ATTEMPTS (2): waited out, not counted
    consumer(service, payload)
    assert seen == [["m1", "m2"]] and service.store.transactions == 1
    assert list(service.store.db.processed_events.docs) == [
        f"consultations.handler:{payload['event_id']}"]
    assert service.store.db.dead_letters.docs == {}
    # a redelivery is recognised before `prepare` asks anyone
    consumer(service, payload)
    assert seen == [["m1", "m2"]] and service.store.transactions == 1
