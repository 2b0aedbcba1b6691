"""The notifications service without the gateway, on the real store and the
real broker, sending to a real SMTP server (tests/helpers/mail.MailServer).

Two ways in:
- `notifications`: the service in its nameko container (tests/service/host.py)
  beside members and consultations; its RPCs run there. Its timers are slowed
  down (HOST_ENV), so that nothing it sends by itself meets these tests.
- `own`: the service's code in this process on a database of the test's own
  (one per test), its RPCs to the hosted members and consultations over the
  real broker. Its handlers get the real envelopes consultations put in its
  outbox, in the order a test chooses (round_closed before
  consultation_opened), and Sender instances drain its queue, from several
  threads when a test says so, to an SMTP server of the test's own.
"""
import logging
import signal
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from services.cli import coalition
from services.common import config as settings_module
from services.common.errors import BadUserInput, Unavailable
from services.common.store import Store, ensure_indexes, make_client, utcnow
from services.common.vocabulary import SECRETARIAT, MailStatus, NotificationKind
from services.notifications import delivery, dependencies, domain
from services.notifications.dependencies import CHUNK, INDEXES
from services.notifications.sender import Sender
from services.notifications.service import NotificationsService
from tests.helpers.consultations import later
from tests.helpers.events import member_event
from tests.helpers.mail import MailServer
from tests.helpers.notifications import member_data, new_address
from tests.support import (SECRETARIAT_EMAIL, announced, drop_databases, make_vhost, drop_vhost,
                           start_service, vhost_uri, wait_for)

HOSTED = ("members", "consultations", "notifications")
HOST_ENV = {"MAIL_SEND_SECONDS": "300", "REMINDER_CHECK_SECONDS": "300"}
# the SMTP timeout and the lease of the tests' own senders (the lease: 8 timeouts at least)
TIMING = {"MAIL_SMTP_TIMEOUT_SECONDS": "5", "MAIL_LEASE_SECONDS": "40"}
K = NotificationKind
ADMIN = {"role": "ADMIN", "member_id": None, "sub": "admin-test"}


@pytest.fixture(scope="module")
def people(host):
    """[(member id, its focal point's address)]: four founding members (ACTIVE,
    MoU signed) of the hosted members service, every voter of this module."""
    made = []
    for _ in range(4):
        data = member_data()
        made.append((host.service("members").register_founding_member(data)["id"],
                     data["focalPoint"]["email"]))
    consultations = host.service("consultations")
    wait_for(lambda: consultations.db.voters.count_documents({"can_vote": True}) == len(made),
             30, 0.1, "consultations heard of every member")
    return made


@pytest.fixture
def smtp():
    server = MailServer().start()
    yield server
    server.stop()


class Own:
    """The notifications service's store on a database of one test, and what
    the test does with it (see the module's docstring)."""

    def __init__(self, stack, host):
        self.env = {**stack.env, **TIMING, "AMQP_URI": vhost_uri(host.vhost),
                    "MONGO_DB_PREFIX": host.prefix}
        self.config = settings_module.nameko_config(settings_module.load(self.env))
        self.name = f"{host.prefix}_{uuid.uuid4().hex[:8]}_notifications"
        self.clients = []
        self.store = self.new_store()
        self.db = self.store.db

    def new_store(self):
        """Another Store on the same database, with a client of its own (as
        another instance of the service has)."""
        client = make_client(self.config)
        self.clients.append(client)
        db = client[self.name]
        ensure_indexes(db, INDEXES)
        return Store(client, db, "notifications", self.config)

    def close(self):
        self.clients[0].drop_database(self.name)
        for client in self.clients:
            client.close()

    @contextmanager
    def rpc(self):
        """A proxy to the hosted services (one per thread)."""
        with ClusterRpcProxy(self.config, timeout=20) as proxy:
            yield proxy

    def service(self, proxy, store=None):
        """The service's class, its dependencies this test's store and the
        hosted services, as nameko gives them to a worker."""
        service = NotificationsService()
        service.store = store or self.store
        service.members, service.consultations = proxy.members, proxy.consultations
        return service

    def sender(self, smtp, views, store=None, stopping=None, **settings):
        config = {**self.config, "SMTP_URL": smtp.url, "SECRETARIAT_EMAIL": SECRETARIAT_EMAIL,
                  **settings}
        return Sender(store or self.store, views, config, stopping)

    def queue(self, recipient, kind=K.REMINDER, source="e1", **extra):
        """A queued mail of `kind` for `recipient` (a SIGN_IN one: `address=`), due now."""
        key = domain.notification_key(source, recipient, kind)
        rendered = SimpleNamespace(subject=f"About {key}", text=f"Hello {key}\n",
                                   html="<p>Hello</p>")
        message_id = delivery.message_id(key, self.config["MAIL_FROM"])
        if kind == K.SIGN_IN:
            mail = domain.sign_in_mail(key, extra.pop("address"), "EN", rendered, "L", utcnow(),
                                       message_id, 30.0)
        else:
            mail = domain.new_mail(key, recipient, kind, "EN", rendered, "L", utcnow(),
                                   message_id)
        self.db.mails.insert_one({**mail, **extra})
        return key

    def mail(self, key):
        return self.db.mails.find_one({"_id": key})


@pytest.fixture
def own(stack, host):
    running = Own(stack, host)
    yield running
    running.close()


def views_of(proxy):
    """The members service's get_many, as the service's `members` dependency
    calls it: Unavailable when no members service answers."""
    def views(ids):
        try:
            return proxy.members.get_many(ids)
        except (UnknownService, RpcTimeout):
            raise Unavailable("The members service did not answer.") from None
    return views


def message_ids(smtp):
    return Counter(m.message_id for m in smtp.messages)


def no_address_logged(caplog, people):
    """Nothing our code logged names an address."""
    ours = [r for r in caplog.records if r.name.startswith("services")]
    assert ours
    everything = "".join(r.getMessage() for r in ours)
    for address in [a for _, a in people] + [SECRETARIAT_EMAIL, "person@example.org"]:
        assert address not in everything


# ---- the sender on the real store ------------------------------------------------------

def test_each_mail_goes_to_its_address_with_the_message_id_of_its_key(own, smtp, people, caplog):
    caplog.set_level(logging.DEBUG)
    (m1, a1), (m2, a2) = people[:2]
    keys = [own.queue(m1), own.queue(m2), own.queue(SECRETARIAT, K.ROUND_CLOSED),
            own.queue(domain.SIGN_IN_RECIPIENT, K.SIGN_IN, "signin-1",
                      address="person@example.org")]
    with own.rpc() as proxy:
        tally = own.sender(smtp, views_of(proxy)).drain()
    assert (tally.sent, tally.failed, tally.deferred, tally.lost) == (4, 0, 0, 0)
    sent = {m.to: m for m in smtp.messages}
    assert set(sent) == {(a1,), (a2,), (SECRETARIAT_EMAIL,), ("person@example.org",)}
    assert {m.mail_from for m in smtp.messages} == {"coalition@coalition.test"}
    for key in keys[:3]:
        assert own.mail(key)["status"] == MailStatus.SENT and own.mail(key)["sent_at"]
    assert own.mail(keys[3]) is None  # a sign-in mail goes once sent, its address with it
    assert set(message_ids(smtp)) == {delivery.message_id(k, own.config["MAIL_FROM"])
                                      for k in keys}
    assert all(m.html and m.text for m in smtp.messages)
    no_address_logged(caplog, people)


def test_a_permanent_refusal_fails_that_mail_only_and_keeps_no_address(own, smtp, people,
                                                                       caplog):
    (m1, _), (m2, refused_at) = people[:2]
    smtp.refuse(lambda address: address == refused_at)
    ok, refused = own.queue(m1), own.queue(m2)
    with own.rpc() as proxy:
        tally = own.sender(smtp, views_of(proxy)).drain()
    assert (tally.sent, tally.failed) == (1, 1)
    assert own.mail(ok)["status"] == MailStatus.SENT
    failed = own.mail(refused)
    assert failed["status"] == MailStatus.FAILED and failed["attempts"] == 1
    assert failed["error"].startswith("550") and "@" not in failed["error"]
    no_address_logged(caplog, people)


def test_a_temporary_refusal_queues_the_mail_again_after_the_back_off(own, smtp, people):
    smtp.defer()
    key = own.queue(people[0][0])
    before = utcnow()
    with own.rpc() as proxy:
        sender = lambda: own.sender(smtp, views_of(proxy), MAIL_RETRY_BASE_SECONDS=5,  # noqa: E731
                                      MAIL_RETRY_MAX_SECONDS=300)
        assert (sender().drain().deferred, sender().drain().deferred) == (1, 0)  # not due yet
        mail = own.mail(key)
        assert mail["status"] == MailStatus.QUEUED and mail["attempts"] == 1
        assert mail["error"].startswith("451") and mail["claim"] is None
        assert before + timedelta(seconds=5) <= mail["next_attempt_at"] <= utcnow() + timedelta(
            seconds=5)
        own.db.mails.update_one({"_id": key}, {"$set": {"next_attempt_at": utcnow()}})
        smtp.accept()
        assert sender().drain().sent == 1
    assert own.mail(key)["status"] == MailStatus.SENT and own.mail(key)["attempts"] == 2


def test_a_mail_refused_for_now_past_give_up_hours_fails(own, smtp, people):
    smtp.defer()
    key = own.queue(people[0][0], created_at=utcnow() - timedelta(hours=73), attempts=30)
    with own.rpc() as proxy:
        own.sender(smtp, views_of(proxy)).drain()
    assert own.mail(key)["status"] == MailStatus.FAILED and own.mail(key)["attempts"] == 31


def test_no_server_queues_the_batch_again_and_stops_the_drain(own, smtp, people):
    keys = [own.queue(m) for m, _ in people[:3]]
    smtp.stop()
    with own.rpc() as proxy:
        tally = own.sender(smtp, views_of(proxy), MAIL_BATCH=2).drain()
    assert tally.batches == 1 and tally.deferred == 2  # one attempt per drain, not per batch
    tried = [own.mail(k) for k in keys if own.mail(k)["attempts"]]
    assert len(tried) == 2
    assert all(m["status"] == MailStatus.QUEUED and m["next_attempt_at"] > utcnow()
               and m["error"].startswith("could not open a session") for m in tried)


def test_the_members_service_away_puts_the_batch_back_untried(stack, own, smtp, people):
    key = own.queue(people[0][0])
    empty = make_vhost()  # a broker where no members service listens
    try:
        config = settings_module.nameko_config(settings_module.load(
            {**own.env, "AMQP_URI": vhost_uri(empty)}))
        with ClusterRpcProxy(config, timeout=5) as proxy:
            tally = own.sender(smtp, views_of(proxy)).drain()
    finally:
        drop_vhost(empty)
    assert tally.sent == 0 and tally.released == 1 and smtp.messages == []
    mail = own.mail(key)
    assert mail["status"] == MailStatus.QUEUED and mail["attempts"] == 0 and mail["claim"] is None


def test_without_an_address_a_mail_fails_at_once(own, smtp):
    unknown, secretariat = own.queue(uuid.uuid4().hex), own.queue(SECRETARIAT, K.ROUND_CLOSED)
    with own.rpc() as proxy:
        tally = own.sender(smtp, views_of(proxy), SECRETARIAT_EMAIL="").drain()
    assert tally.failed == 2 and smtp.messages == []
    assert {own.mail(k)["error"] for k in (unknown, secretariat)} == {"no address"}


def test_a_drain_claims_batch_after_batch_until_nothing_is_due(own, smtp, people):
    keys = [own.queue(m, source=f"e{n}") for n in range(3) for m, _ in people]
    with own.rpc() as proxy:
        tally = own.sender(smtp, views_of(proxy), MAIL_BATCH=5).drain()
    assert tally.sent == 12 and tally.batches == 3
    assert all(own.mail(k)["status"] == MailStatus.SENT for k in keys)
    assert sorted(message_ids(smtp).values()) == [1] * 12


def test_a_claimed_mail_is_not_claimed_again_until_its_lease_runs_out(own, smtp, people):
    key = own.queue(people[0][0])
    with own.rpc() as proxy:
        one, other = own.sender(smtp, views_of(proxy)), own.sender(smtp, views_of(proxy))
        [(condition, ids)] = one.due()
        first = one.claim(condition, ids)
        assert [m["_id"] for m in first.mails] == [key]
        assert other.due() == [] and other.claim(condition, ids).mails == []  # a late claim
        own.db.mails.update_one({"_id": key}, {"$set": {
            "lease_until": utcnow() - timedelta(seconds=1)}})  # its sender died
        [(condition, ids)] = other.due()
        again = other.claim(condition, ids)
        assert [m["_id"] for m in again.mails] == [key] and again.token != first.token
        assert condition["status"] == MailStatus.SENDING
        # the first sender's late record changes nothing and is not counted as sent
        one.record_sent(first, first.mails[0])
        assert own.mail(key)["status"] == MailStatus.SENDING and own.mail(key)["claim"] == \
            again.token
        assert (one.tally.sent, one.tally.lost) == (0, 1)


def test_an_expired_sign_in_mail_is_dropped_unsent(own, smtp):
    key = own.queue(domain.SIGN_IN_RECIPIENT, K.SIGN_IN, "signin-2", address="person@example.org",
                    expires_at=utcnow() - timedelta(seconds=1))
    own.sender(smtp, views_of(None)).drain()
    assert own.mail(key) is None and smtp.messages == []


# ---- the sign-in mail: its language, its validity, the invitation ----------------------

CODE = "K7QF-2M9D-X2AB"
NO_PROXY = SimpleNamespace(members=None, consultations=None)  # send_sign_in calls no service


def send_sign_in(own, *args, minutes=None, **kwargs):
    """send_sign_in of the service on the test's own store (with its
    SIGN_IN_CODE_MINUTES, if given); the mail it queued."""
    store = own.store
    if minutes is not None:
        store = Store(own.store.client, own.db, "notifications",
                      {**own.config, "SIGN_IN_CODE_MINUTES": minutes})
    before = {m["_id"] for m in own.db.mails.find({}, {"_id": 1})}
    assert own.service(NO_PROXY, store).send_sign_in(*args, **kwargs) is True
    [mail] = [m for m in own.db.mails.find() if m["_id"] not in before]
    return mail


def test_a_sign_in_mail_is_in_the_language_given_else_its_recipients_else_english(own):
    member_ru, member_en = uuid.uuid4().hex, uuid.uuid4().hex
    own.db.members.insert_many([{"_id": member_ru, "name": "A", "status": "ACTIVE",
                                 "language": "RU", "revision": 1},
                                {"_id": member_en, "name": "B", "status": "ACTIVE",
                                 "language": "EN", "revision": 1}])
    address = new_address()

    def language(*args, **kwargs):
        mail = send_sign_in(own, address, CODE, *args, **kwargs)
        assert (mail["kind"], mail["recipient"], mail["address"]) == (K.SIGN_IN, "person",
                                                                      address)
        russian = "Ваш код для входа"
        assert (mail["subject"] == russian) == (mail["language"] == "RU")
        return mail["language"]
    assert language() == "EN"  # no recipient: EN
    assert language(None, member_ru) == "RU"
    assert language(recipient=member_en) == "EN"
    assert language("EN", member_ru) == "EN"  # explicit wins
    assert language("RU", member_en) == "RU"
    assert language(None, uuid.uuid4().hex) == "EN"  # unknown member: EN
    assert language(None, SECRETARIAT) == "EN"  # the secretariat never chose one
    own.db.preferences.insert_one({"_id": SECRETARIAT, "language": "RU"})
    assert language(None, SECRETARIAT) == "RU"


def test_a_sign_in_mail_gives_and_keeps_the_codes_validity_from_the_setting(own):
    started = utcnow()
    mail = send_sign_in(own, new_address(), CODE, None, None, minutes=12.5)
    assert "valid for 12 minutes" in mail["text"] and "12 minutes" in mail["html"]
    assert timedelta(minutes=12.5) <= mail["expires_at"] - started <= \
        timedelta(minutes=12.5, seconds=10)
    default = send_sign_in(own, new_address(), CODE)
    assert "valid for 30 minutes" in default["text"]
    assert default["expires_at"] - default["created_at"] == timedelta(minutes=30)


def test_an_invitation_to_the_secretariat_is_a_sign_in_mail_that_welcomes_first(own, smtp,
                                                                                 caplog):
    caplog.set_level(logging.DEBUG)
    own.db.preferences.insert_one({"_id": SECRETARIAT, "language": "RU"})
    address = new_address()
    mail = send_sign_in(own, address, CODE, None, SECRETARIAT, invited="Aigul Sadykova")
    assert (mail["kind"], mail["language"]) == (K.SIGN_IN, "RU")
    assert mail["text"].startswith("Вас добавили в секретариат коалиции под именем "
                                   "Aigul Sadykova.\n")
    english = send_sign_in(own, new_address(), CODE, "EN", SECRETARIAT,
                           invited="Aigul Sadykova")
    paragraphs = english["text"].strip().split("\n\n")
    assert paragraphs[0] == ("You have been added to the secretariat of the coalition as "
                             "Aigul Sadykova.")
    public_url = own.config["PUBLIC_URL"].rstrip("/")
    assert ("Once it has expired, you can ask for a new code on the sign-in page: "
            f"{public_url}/signin") in paragraphs
    assert f"{public_url}/signin?code={CODE}" in english["text"]

    own.sender(smtp, views_of(None)).drain()  # sent as any sign-in mail, then gone
    [received] = [m for m in smtp.messages if m.to == (address,)]
    assert "Aigul Sadykova" in received.text and CODE in received.text
    assert own.mail(mail["_id"]) is None and own.mail(english["_id"]) is None
    logged = "".join(r.getMessage() for r in caplog.records if r.name.startswith("services"))
    assert address not in logged and CODE not in logged and "Aigul" not in logged


@pytest.mark.parametrize("changes", [{"invited": ""}, {"invited": 42}, {"invited": "x" * 201},
                                     {"recipient": ""}, {"recipient": ["m1"]},
                                     {"language": "FR"}])
def test_a_sign_in_mail_with_a_bad_recipient_language_or_name_is_refused(own, changes):
    address = new_address()
    arguments = {"address": address, "code": CODE, "language": None, "recipient": None,
                 "invited": None, **changes}
    with pytest.raises(BadUserInput) as refused:
        own.service(NO_PROXY).send_sign_in(**arguments)
    assert address not in repr(refused.value) and CODE not in repr(refused.value)
    assert own.db.mails.count_documents({}) == 0


# ---- sign-in mails first ----------------------------------------------------------------

def backlog(own, people, sources=8):
    return [own.queue(m, source=f"b{n}") for n in range(sources) for m, _ in people]


def test_a_sign_in_mail_goes_before_a_backlog_queued_before_it(own, smtp, people):
    backlog(own, people)
    own.queue(domain.SIGN_IN_RECIPIENT, K.SIGN_IN, "signin-3", address="person@example.org")
    with own.rpc() as proxy:
        assert own.sender(smtp, views_of(proxy), MAIL_BATCH=5).drain().sent == 33
    assert smtp.messages[0].to == ("person@example.org",)


def test_a_sign_in_mail_queued_during_a_drain_goes_after_the_batch_being_sent(own, smtp,
                                                                              people):
    backlog(own, people)
    smtp.slow(0.05)
    with own.rpc() as proxy:
        sender = own.sender(smtp, views_of(proxy), MAIL_BATCH=4)
        draining = threading.Thread(target=sender.drain)
        draining.start()
        smtp.wait_for_messages(1)
        own.queue(domain.SIGN_IN_RECIPIENT, K.SIGN_IN, "signin-4", address="person@example.org")
        draining.join(60)
    assert not draining.is_alive() and sender.tally.sent == 33
    order = [m.to for m in smtp.messages]
    assert order.index(("person@example.org",)) <= 4 + 1  # not behind the 28 left


# ---- the SMTP timeout and the lease ------------------------------------------------------

def test_the_smtp_timeout_is_its_own_setting_whatever_the_lease(own, smtp, people):
    smtp.slow(2)
    (m1, a1), (m2, a2) = people[:2]
    early, patient = own.queue(m1), own.queue(m2, source="e2")
    own.db.mails.update_one({"_id": patient}, {"$set": {"next_attempt_at": utcnow() + timedelta(
        days=1)}})
    with own.rpc() as proxy:
        short = own.sender(smtp, views_of(proxy), MAIL_SMTP_TIMEOUT_SECONDS=1,
                           MAIL_LEASE_SECONDS=300, MAIL_RETRY_BASE_SECONDS=300,
                           MAIL_RETRY_MAX_SECONDS=300).drain()
        assert (short.sent, short.deferred) == (0, 1)  # 1 s: the DATA reply comes too late
        assert "timed out" in own.mail(early)["error"]
        own.db.mails.update_one({"_id": patient}, {"$set": {"next_attempt_at": utcnow()}})
        long = own.sender(smtp, views_of(proxy), MAIL_SMTP_TIMEOUT_SECONDS=3,
                          MAIL_LEASE_SECONDS=24).drain()
    assert long.sent == 1 and own.mail(patient)["status"] == MailStatus.SENT
    assert smtp.messages_to(a2) and not smtp.messages_to(a1)


def test_a_slow_address_lookup_does_not_eat_the_time_to_send(own, smtp, people):
    """The deadline counts from when sending begins, and each batch tries one
    mail at least: a lookup longer than half the lease still sends."""
    keys = [own.queue(m) for m, _ in people] + [own.queue(m, source="e2") for m, _ in people[:2]]
    with own.rpc() as proxy:
        views = views_of(proxy)

        def slow_views(ids):  # the members service answering late (2.5 s of a 4 s lease)
            time.sleep(2.5)
            return views(ids)
        sender = own.sender(smtp, slow_views, MAIL_BATCH=3, MAIL_SMTP_TIMEOUT_SECONDS=0.5,
                            MAIL_LEASE_SECONDS=4)
        draining = threading.Thread(target=sender.drain, daemon=True)
        draining.start()
        draining.join(40)
        assert not draining.is_alive(), "the drain put its batches back for ever"
    assert sender.tally.sent == 6 and sender.tally.released == 0
    assert all(own.mail(k)["status"] == MailStatus.SENT for k in keys)


# ---- stopping ----------------------------------------------------------------------------

def test_a_stopping_sender_ends_between_two_mails_and_puts_the_rest_back(own, smtp, people):
    keys = backlog(own, people, sources=5)
    smtp.slow(0.2)
    stopping = threading.Event()
    with own.rpc() as proxy:
        sender = own.sender(smtp, views_of(proxy), stopping=stopping, MAIL_BATCH=50)
        draining = threading.Thread(target=sender.drain)
        draining.start()
        smtp.wait_for_messages(2)
        stopping.set()
        draining.join(3)
    assert not draining.is_alive()
    mails = [own.mail(k) for k in keys]
    sent = [m for m in mails if m["status"] == MailStatus.SENT]
    rest = [m for m in mails if m["status"] != MailStatus.SENT]
    assert 2 <= len(sent) <= 4 and len(sent) == len(smtp.messages) == sender.tally.sent
    assert len(rest) == sender.tally.released == 20 - len(sent)
    assert all(m["status"] == MailStatus.QUEUED and m["claim"] is None and m["attempts"] == 0
               and m["lease_until"] is None for m in rest)


def test_sigterm_stops_the_service_within_one_mail_and_leaves_no_mail_claimed(stack, smtp,
                                                                              tmp_path):
    """The service's own timer (services/common/timers.py) tells the drain
    that the container stops, before nameko waits for it."""
    vhost, prefix = make_vhost(), "svcstop" + uuid.uuid4().hex[:8]
    db = stack.mongo()[f"{prefix}_notifications"]
    keys = [domain.notification_key(f"signin-{n}", domain.SIGN_IN_RECIPIENT, K.SIGN_IN)
            for n in range(30)]
    rendered = SimpleNamespace(subject="Your code", text="Code\n", html="<p>Code</p>")
    db.mails.insert_many([domain.sign_in_mail(k, f"person{n}@example.org", "EN", rendered, "L",
                                              utcnow(), f"<{n}@x>", 30.0)
                          for n, k in enumerate(keys)])
    smtp.slow(0.5)
    log_path = tmp_path / "notifications.log"
    process = start_service(stack, "notifications", log_path, AMQP_URI=vhost_uri(vhost),
                            MONGO_DB_PREFIX=prefix, SMTP_URL=smtp.url, MAIL_SEND_SECONDS="0.1",
                            MAIL_BATCH="50", **TIMING)
    try:
        smtp.wait_for_messages(2, timeout=60)
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(9)  # the supervisor's grace is 10 s; what was left takes 14 s
        took = time.monotonic() - asked
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        left = list(db.mails.find())
        drop_databases(stack.mongo(), prefix)
        drop_vhost(vhost)
    assert took < 5, log_path.read_text()[-3000:]
    assert len(left) + len(smtp.messages) == 30 and len(message_ids(smtp)) == len(smtp.messages)
    assert left and all(m["status"] == MailStatus.QUEUED and m["claim"] is None
                        and m["attempts"] == 0 for m in left)


# ---- several senders --------------------------------------------------------------------

def test_two_senders_draining_one_queue_send_each_mail_once(own, smtp, people):
    keys = backlog(own, people, sources=10)
    smtp.slow(0.05)
    start = threading.Barrier(2)
    senders = []

    def drain(store):
        with own.rpc() as proxy:
            sender = own.sender(smtp, views_of(proxy), store=store, MAIL_BATCH=5)
            senders.append(sender)
            start.wait()
            sender.drain()
    threads = [threading.Thread(target=drain, args=(own.new_store(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(message_ids(smtp).values()) == [1] * 40
    assert {own.mail(k)["message_id"] for k in keys} == set(message_ids(smtp))
    assert all(s.tally.sent > 0 for s in senders) and sum(s.tally.sent for s in senders) == 40
    assert all(own.mail(k)["status"] == MailStatus.SENT for k in keys)


# ---- the fan-out --------------------------------------------------------------------------

def fan_out(own, recipients, kind=K.CONSULTATION_OPENED, secretariat_email=SECRETARIAT_EMAIL):
    said = []

    def say(language):
        said.append(language)
        return SimpleNamespace(subject=f"S-{language}", text=f"T-{language}", html="<p>H</p>")
    config = {**own.config, "SECRETARIAT_EMAIL": secretariat_email}
    written = own.store.transaction(lambda tx: dependencies.fan_out(
        tx, "e1", kind, recipients, say, "https://x/consultations/c1", config, utcnow()))
    return written, said


def test_a_fan_out_renders_once_per_language_and_writes_every_recipient(own):
    members = [f"m{n:05d}" for n in range(2 * CHUNK + 10)]
    own.db.members.insert_many([{"_id": m, "language": "RU" if n % 2 else "EN"}
                                for n, m in enumerate(members)])
    written, said = fan_out(own, iter(members))
    assert written == len(members) and sorted(said) == ["EN", "RU"]
    assert own.db.notifications.count_documents({}) == own.db.mails.count_documents({}) == \
        len(members)
    mail = own.mail(domain.notification_key("e1", "m00001", K.CONSULTATION_OPENED))
    assert mail["language"] == "RU" and mail["subject"] == "S-RU" and "address" not in mail
    assert mail["message_id"] == delivery.message_id(mail["_id"], own.config["MAIL_FROM"])
    note = own.db.notifications.find_one({"recipient": "m00000"})
    assert (note["key"], note["body"]) == (
        domain.notification_key("e1", "m00000", K.CONSULTATION_OPENED), "T-EN")


def test_a_fan_out_leaves_out_who_turned_the_kind_off_both_mail_and_in_app(own):
    own.db.preferences.insert_many([{"_id": "b", "reminders": False},
                                    {"_id": "c", "consultation_opened": False}])
    written, _ = fan_out(own, ["a", "b", "c"], K.REMINDER)
    assert written == 2
    assert {n["recipient"] for n in own.db.notifications.find()} == {"a", "c"}
    assert {m["recipient"] for m in own.db.mails.find()} == {"a", "c"}


def test_the_secretariat_gets_a_mail_only_when_it_has_an_address(own):
    own.db.preferences.insert_one({"_id": SECRETARIAT, "language": "RU"})
    _, said = fan_out(own, ["a", SECRETARIAT], K.ROUND_CLOSED, secretariat_email="")
    assert {n["recipient"] for n in own.db.notifications.find()} == {"a", SECRETARIAT}
    assert {m["recipient"] for m in own.db.mails.find()} == {"a"}
    assert sorted(said) == ["EN", "RU"]  # the secretariat's language is its preference


# ---- rounds: the real events of the hosted consultations ---------------------------------

def opened_round(host, closes_in=3600):
    """A consultation opened by the hosted consultations service (its snapshot:
    this module's members) and its consultation_opened envelope."""
    consultations = host.service("consultations")
    c = consultations.open_consultation(
        {"title": f"Plan {uuid.uuid4().hex[:8]}", "proposal": "Adopt the plan",
         "closesAt": later(closes_in)}, "admin-test")
    [opened] = announced(consultations.db, "consultation_opened", consultation_id=c["id"])
    return c, opened


def kinds_of(own, kind):
    return sorted(n["recipient"] for n in own.db.notifications.find({"kind": kind}))


def test_an_opening_handled_after_the_close_announces_nothing(host, own, people):
    c, opened = opened_round(host)
    host.service("consultations").close_consultation(c["id"])
    [closed] = announced(host.service("consultations").db, "round_closed", consultation_id=c["id"])
    with own.rpc() as proxy:
        service = own.service(proxy)
        service.on_round_closed(closed)  # its queue was quicker than the opening's
        service.on_consultation_opened(opened)
    members = sorted(m for m, _ in people)
    assert kinds_of(own, K.ROUND_CLOSED) == sorted([*members, SECRETARIAT])
    assert kinds_of(own, K.CONSULTATION_OPENED) == []
    kept = own.db.rounds.find_one({"_id": domain.round_id(c["id"], 1)})
    assert kept["closed"] and kept["reminder"] == domain.Reminder.NONE
    assert sorted(kept["eligible"]) == members


def test_an_opening_handled_after_its_deadline_announces_nothing(host, own, people):
    c, opened = opened_round(host, closes_in=2)
    time.sleep(2.5)  # the event waited in its queue past the round's deadline
    with own.rpc() as proxy:
        own.service(proxy).on_consultation_opened(opened)
    assert kinds_of(own, K.CONSULTATION_OPENED) == []
    assert own.db.processed_events.count_documents({}) == 1  # handled, not parked
    _, in_time = opened_round(host)
    with own.rpc() as proxy:
        own.service(proxy).on_consultation_opened(in_time)
    assert kinds_of(own, K.CONSULTATION_OPENED) == sorted(m for m, _ in people)


def test_a_malformed_explanation_is_left_out_and_the_outcome_is_told(host, own, people, caplog):
    c, opened = opened_round(host)
    host.service("consultations").close_consultation(c["id"])
    [closed] = announced(host.service("consultations").db, "round_closed", consultation_id=c["id"])
    key = closed["data"]["explanation"]["key"]
    from services.common.events import make_envelope
    broken = make_envelope("round_closed", {**closed["data"], "explanation": {
        "key": key, "params": {"nothing": 1}}}, source="consultations")
    with own.rpc() as proxy:
        service = own.service(proxy)
        service.on_consultation_opened(opened)
        service.on_round_closed(broken)
    assert kinds_of(own, K.ROUND_CLOSED) == sorted([*(m for m, _ in people), SECRETARIAT])
    assert own.db.dead_letters.count_documents({}) == 0
    [warning] = [r.getMessage() for r in caplog.records if "explanation" in r.getMessage()]
    assert repr(key) in warning


def reminder_due(host, own, proxy):
    """A round kept by the opening's handler, its reminder due now."""
    c, opened = opened_round(host)
    own.service(proxy).on_consultation_opened(opened)
    round_key = domain.round_id(c["id"], 1)
    own.db.rounds.update_one({"_id": round_key}, {"$set": {"reminder_at": utcnow()}})
    return c, round_key


def test_the_reminder_skips_who_responded_and_who_can_no_longer_respond(host, own, people):
    (responded, _), (suspended, _), (withdrawn, _), (waiting, _) = people
    with own.rpc() as proxy:
        service = own.service(proxy)
        c, _ = reminder_due(host, own, proxy)
        consultations = host.service("consultations")
        consultations.cast_stance({"role": "MEMBER", "member_id": responded,
                                   "sub": f"member-{responded}"}, c["id"], "AGREE")
        [cast] = announced(consultations.db, "stance_cast", consultation_id=c["id"])
        service.on_stance_cast(cast)
        service.on_member_event(member_event("member_suspended", suspended, "SUSPENDED",
                                             revision=50))
        service.on_member_event(member_event("member_withdrawn", withdrawn, "WITHDRAWN",
                                             revision=50))
        service.send_reminders()
    assert kinds_of(own, K.REMINDER) == [waiting]
    assert own.db.rounds.find_one({"_id": domain.round_id(c["id"], 1)})["reminder"] == "DONE"


def test_two_instances_claiming_one_reminder_at_once_send_it_once(host, own, people):
    with own.rpc() as proxy:
        _, round_key = reminder_due(host, own, proxy)
    start = threading.Barrier(2)
    results = []

    def remind(store):
        with own.rpc() as proxy:
            service = own.service(proxy, store)
            start.wait()
            try:
                results.append(store.transaction(lambda tx: service._remind(tx, round_key)))
            except Exception as exc:  # a second fan-out would collide on the keys
                results.append(exc)
    threads = [threading.Thread(target=remind, args=(own.new_store(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results, key=repr) == sorted([None, len(people)], key=repr)
    assert kinds_of(own, K.REMINDER) == sorted(m for m, _ in people)


# ---- the hosted service's RPCs, and the operator's CLI -------------------------------------

def test_a_sign_in_mail_is_shown_without_its_code_its_text_or_its_link(host):
    notifications = host.service("notifications")
    address = new_address()
    assert notifications.send_sign_in(address, "K7QF-2M9D-X", "EN") is True
    stored = notifications.db.mails.find_one({"kind": "SIGN_IN", "address": address})
    assert "K7QF-2M9D-X" in stored["link"]  # it is sent with the code, of course
    shown = notifications.mail(stored["_id"])
    assert shown["text"] is None and shown["link"] is None
    assert "K7QF" not in repr(shown) and address not in repr(shown)
    notifications.db.mails.delete_one({"_id": stored["_id"]})


def test_retry_queues_a_bounded_number_per_call_and_the_cli_asks_until_none_is_left(stack,
                                                                                     host):
    notifications = host.service("notifications")
    rendered = SimpleNamespace(subject="S", text="T", html="<p>T</p>")
    now = utcnow()
    failed = [{**domain.new_mail(f"r{n:04d}:m:REMINDER", "m", K.REMINDER, "EN", rendered, "L",
                                 now, f"<{n}@x>"),
               "status": MailStatus.FAILED, "failed_at": now + timedelta(milliseconds=n)}
              for n in range(1005)]
    notifications.db.mails.insert_many(failed)
    try:
        first = notifications.retry_mails()
        assert first == [m["_id"] for m in failed[:1000]]  # the oldest failures first
        notifications.db.mails.update_many({"_id": {"$in": first}}, {"$set": {
            "status": MailStatus.FAILED}})
        env = {**stack.env, **TIMING, "AMQP_URI": vhost_uri(host.vhost),
               "MONGO_DB_PREFIX": host.prefix}
        result = CliRunner().invoke(coalition, ["mail", "retry"], env=env)
        assert result.exit_code == 0, result.output
        line = result.stdout.strip()
        assert line.startswith("queued again: 1005: ")
        assert sorted(line.split(": ", 2)[2].split()) == [m["_id"] for m in failed]
        assert notifications.db.mails.count_documents({"status": MailStatus.FAILED}) == 0
        too_many = CliRunner().invoke(coalition, ["mail", "list", "--limit", "501"], env=env)
        assert too_many.exit_code == 1 and "from 1 to 500" in too_many.stderr
        assert too_many.stderr.strip().count("\n") == 0
    finally:
        notifications.db.mails.delete_many({"_id": {"$in": [m["_id"] for m in failed]}})
