"""The accounts service without the gateway, on the real store.

Two ways in:
- `own(**settings)`: the service's code in this process on a database of
  the test's own (one per call), with settings of the test's own (a code
  valid 0.6 s, a lower limit), and stand-ins for the two services it calls
  (`FakeMembers`: members.find_by_focal_point and get_many;
  `FakeNotifications`: notifications.send_sign_in, which keeps the codes
  it is given, as the mail would carry them). Threads call it at once where
  a test says so.
- `accounts`: the service in its nameko container (tests/service/host.py):
  it starts, keeps its indexes, answers a repeated named call with the kept
  session, and takes member events from its consumer.
"""
import logging
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.accounts import domain
from services.accounts.dependencies import INDEXES, add_guard
from services.accounts.service import AccountsService
from services.common import config as settings_module
from services.common.errors import BadUserInput, Conflict, NotFound, Unavailable
from services.common.store import Store, ensure_indexes, make_client
from tests.helpers.events import member_event
from tests.support import SECRET

HOSTED = ("accounts",)
CODE = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")
CLIENT = "192.0.2.7"


def address():
    return f"person-{uuid.uuid4().hex[:10]}@example.org"


class FakeMembers:
    """members as accounts asks it: who has a focal-point address, and a
    member's status now."""

    def __init__(self):
        self.members = {}  # member id -> {"status", "address"}
        self.asked = []

    def add(self, status="ACTIVE", email=None):
        member_id = uuid.uuid4().hex
        self.members[member_id] = {"status": status, "address": email or address()}
        return member_id, self.members[member_id]["address"]

    def find_by_focal_point(self, email):
        self.asked.append("find_by_focal_point")
        for member_id, m in self.members.items():
            if m["address"].casefold() == email.strip().casefold() and m["status"] in {
                    "CANDIDATE", "ACTIVE", "SUSPENDED"}:
                return {"id": member_id, "status": m["status"], "language": "EN"}
        return None

    def get_many(self, ids):
        self.asked.append("get_many")
        return [{"id": i, "status": self.members[i]["status"]} for i in ids if i in self.members]


class FakeNotifications:
    """notifications.send_sign_in, keeping what each mail would say."""

    def __init__(self):
        self.sent = []
        self.down = False

    def send_sign_in(self, address, code, language=None, recipient=None, invited=None):
        if self.down:
            raise Unavailable("The notifications service did not answer in time.")
        self.sent.append({"address": address, "code": code, "language": language,
                          "recipient": recipient, "invited": invited})
        return True

    def codes_for(self, address):
        return [m["code"] for m in self.sent if m["address"] == address]

    def last_code(self, address):
        return self.codes_for(address)[-1]


class Own:
    """The accounts service's code on a database of its own (see the module)."""

    def __init__(self, stack, settings):
        env = {**stack.env, **{k: str(v) for k, v in settings.items()}}
        self.config = settings_module.nameko_config(settings_module.load(env))
        self.client = make_client(self.config)
        self.name = f"{stack.prefix}_{uuid.uuid4().hex[:8]}_accounts"
        self.db = self.client[self.name]
        ensure_indexes(self.db, INDEXES)
        self.store = Store(self.client, self.db, "accounts", self.config)
        add_guard(self.store)
        self.members = FakeMembers()
        self.notifications = FakeNotifications()
        self.service = self.new_service()

    def new_service(self):
        """The service as nameko gives it to a worker (one per thread)."""
        service = AccountsService()
        service.store = self.store
        service.members, service.notifications = self.members, self.notifications
        return service

    def close(self):
        self.client.drop_database(self.name)
        self.client.close()

    def sign_in(self, email, client=CLIENT):
        """Ask for a code for `email` and use it: the session."""
        self.service.request_sign_in(email, client)
        return self.service.complete_sign_in(self.notifications.last_code(email), client)

    def refused(self, code):
        with pytest.raises(BadUserInput) as refused:
            self.service.complete_sign_in(code, CLIENT)
        assert refused.value.message == domain.WRONG_CODE
        assert refused.value.fields == {"code": [domain.WRONG_CODE]}

    def audited(self, action=None):
        return list(self.db.audit.find({"action": action} if action else {}).sort("_id", 1))


@pytest.fixture
def own(stack):
    made = []

    def make(**settings):
        made.append(Own(stack, settings))
        return made[-1]
    yield make
    for o in made:
        o.close()


@pytest.fixture
def svc(own):
    return own()


def moment(text):
    return datetime.fromisoformat(text)


# ---- a focal point ---------------------------------------------------------------------------

def test_a_focal_point_signs_in_with_its_code_once(svc):
    member_id, email = svc.members.add()
    assert svc.service.request_sign_in(email.upper(), CLIENT) is True
    (mail,) = svc.notifications.sent
    assert mail["address"] == email.upper() and mail["recipient"] == member_id
    assert mail["language"] is None and mail["invited"] is None and CODE.match(mail["code"])

    typed = " " + mail["code"].lower().replace("-", " ") + " "  # as a person may type it
    signed_in = svc.service.complete_sign_in(typed, CLIENT)
    assert set(signed_in) == {"sid", "expires_at", "person_id", "role", "member_id"}
    assert (signed_in["person_id"], signed_in["role"], signed_in["member_id"]) == (
        f"focal-point:{member_id}", "MEMBER", member_id)
    # text over RPC: ISO 8601 with its offset, SESSION_HOURS (12) from now
    expires_at = moment(signed_in["expires_at"])
    assert expires_at.tzinfo is not None
    left = expires_at - datetime.now(timezone.utc)
    assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12)

    session = svc.service.session(signed_in["sid"])
    assert session == {**signed_in, "name": None, "email": None}
    stored = svc.db.sessions.find_one({"_id": signed_in["sid"]})
    assert stored["client"] == CLIENT and stored["revoked_at"] is None
    assert svc.db.codes.find_one({})["status"] == "USED"

    svc.refused(mail["code"])  # used
    assert [a["action"] for a in svc.audited()] == ["CODE_SENT", "SIGNED_IN", "CODE_FAILED"]
    assert svc.audited("CODE_FAILED")[0]["person_id"] == f"focal-point:{member_id}"


def test_unknown_not_acting_and_malformed_addresses_get_nothing_and_hear_nothing(svc):
    _, withdrawn = svc.members.add(status="WITHDRAWN")
    _, rejected = svc.members.add(status="REJECTED")
    for asked in (address(), withdrawn, rejected, "not an address", {"$gt": ""}, None, 42,
                  "x" * 300 + "@example.org"):
        assert svc.service.request_sign_in(asked, CLIENT) is True
    assert svc.notifications.sent == []
    assert svc.db.codes.count_documents({}) == 0
    assert svc.service.request_sign_in(address(), {"$gt": ""}) is True  # a bad client too


def test_an_expired_code_is_refused(own):
    svc = own(SIGN_IN_CODE_MINUTES=0.01)  # 0.6 s
    _, email = svc.members.add()
    svc.service.request_sign_in(email, CLIENT)
    code = svc.notifications.last_code(email)
    stored = svc.db.codes.find_one({})
    assert stored["expires_at"] - stored["created_at"] == timedelta(seconds=0.6)
    threading.Event().wait(1.0)
    svc.refused(code)
    assert svc.db.sessions.count_documents({}) == 0
    assert svc.db.codes.find_one({})["status"] == "PENDING"  # it expired; nothing used it


def test_a_newer_request_voids_the_earlier_code(svc):
    _, email = svc.members.add()
    svc.service.request_sign_in(email, CLIENT)
    svc.service.request_sign_in(email.upper(), CLIENT)  # the same address
    first, second = svc.notifications.codes_for(email) + svc.notifications.codes_for(email.upper())
    assert first != second
    assert sorted(c["status"] for c in svc.db.codes.find({})) == ["PENDING", "VOID"]
    svc.refused(first)
    assert svc.service.complete_sign_in(second, CLIENT)["role"] == "MEMBER"


def wrong_secret(code):
    """The code with its locator kept and another secret."""
    secret = code[5:]
    other = "".join("A" if c != "A" else "B" for c in secret if c != "-")
    return f"{code[:4]}-{other[:4]}-{other[4:]}"


def code_after_wrong_tries(svc, tries):
    """A focal point's code, after `tries` wrong codes with its locator."""
    _, email = svc.members.add()
    svc.service.request_sign_in(email, CLIENT)
    code = svc.notifications.last_code(email)
    for _ in range(tries):
        svc.refused(wrong_secret(code))
    return code


def test_five_wrong_codes_for_an_address_void_its_pending_code(svc):
    code = code_after_wrong_tries(svc, 5)
    assert svc.db.codes.find_one({})["status"] == "VOID"
    svc.refused(code)
    failed = svc.audited("CODE_FAILED")
    assert len(failed) == 6 and {f["person_id"] for f in failed} == {
        svc.db.codes.find_one({})["person"]["id"]}


def test_four_wrong_codes_leave_the_code_usable_and_unknown_locators_count_nothing(svc):
    code = code_after_wrong_tries(svc, 4)
    other_locator = "ZZZZ" if not code.startswith("ZZZZ") else "YYYY"
    for _ in range(10):  # cannot be tied to an address: audited with no person
        svc.refused(other_locator + code[4:])
    for junk in ("", "K7QF-2M9D", {"$gt": ""}, None, "0000-0000-0000"):
        svc.refused(junk)
    assert len([f for f in svc.audited("CODE_FAILED") if f["person_id"] is None]) == 15
    assert svc.service.complete_sign_in(code, CLIENT)["role"] == "MEMBER"


def test_at_most_five_requests_an_hour_per_address_are_answered_with_a_mail(svc):
    member_id, email = svc.members.add()
    for n in range(7):
        svc.service.request_sign_in(email if n % 2 else email.upper(), CLIENT)
    assert len(svc.notifications.sent) == 5
    limited = svc.audited("CODE_LIMITED")
    assert [a["person_id"] for a in limited] == [f"focal-point:{member_id}"] * 2
    assert len(svc.audited("CODE_SENT")) == 5
    # another address is not limited by this one's; an unknown one is counted too
    _, other = svc.members.add()
    svc.service.request_sign_in(other, CLIENT)
    assert len(svc.notifications.sent) == 6
    unknown = address()
    for _ in range(6):
        svc.service.request_sign_in(unknown, CLIENT)
    assert [a["person_id"] for a in svc.audited("CODE_LIMITED")][2:] == [None]


def test_the_limit_is_a_setting(own):
    svc = own(SIGN_IN_PER_ADDRESS_PER_HOUR=1)
    _, email = svc.members.add()
    svc.service.request_sign_in(email, CLIENT)
    svc.service.request_sign_in(email, CLIENT)
    assert len(svc.notifications.sent) == 1


def test_two_completions_at_once_give_one_session(svc):
    _, email = svc.members.add()
    svc.service.request_sign_in(email, CLIENT)
    code = svc.notifications.last_code(email)
    threads, outcomes = 8, []
    start = threading.Barrier(threads)

    def complete():
        service = svc.new_service()
        start.wait()
        try:
            outcomes.append(service.complete_sign_in(code, CLIENT)["sid"])
        except BadUserInput as exc:
            outcomes.append(exc.message)
    workers = [threading.Thread(target=complete) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    sids = [o for o in outcomes if o != domain.WRONG_CODE]
    assert len(outcomes) == threads and len(sids) == 1
    assert svc.db.sessions.count_documents({}) == 1
    assert len(svc.audited("SIGNED_IN")) == 1


def test_a_member_that_stopped_acting_cannot_use_its_code(svc):
    member_id, email = svc.members.add()
    svc.service.request_sign_in(email, CLIENT)
    svc.members.members[member_id]["status"] = "WITHDRAWN"  # and the event not yet handled
    svc.refused(svc.notifications.last_code(email))
    assert svc.db.sessions.count_documents({}) == 0


# ---- revocation ----------------------------------------------------------------------------

def test_signing_out_revokes_the_session(svc):
    _, email = svc.members.add()
    sid = svc.sign_in(email)["sid"]
    assert svc.service.sign_out(sid, CLIENT) is True
    assert svc.service.session(sid) is None
    assert svc.service.sign_out(sid, CLIENT) is False
    for nothing in ("unknown", None, {"$gt": ""}, "x" * 500):
        assert svc.service.sign_out(nothing, CLIENT) is False
        assert svc.service.session(nothing) is None
    (out,) = svc.audited("SIGNED_OUT")
    assert out["client"] == CLIENT and out["person_id"].startswith("focal-point:")


def test_a_session_ends_at_its_expiry(own):
    svc = own()
    svc.config["SESSION_HOURS"] = 1 / 3600  # a second (the setting's least is 3.6 s)
    _, email = svc.members.add()
    sid = svc.sign_in(email)["sid"]
    assert svc.service.session(sid) is not None
    threading.Event().wait(1.5)
    assert svc.service.session(sid) is None
    assert svc.service.sign_out(sid, CLIENT) is False


@pytest.mark.parametrize("event_type,status", [("member_withdrawn", "WITHDRAWN"),
                                               ("member_rejected", "REJECTED")])
def test_a_member_withdrawn_or_rejected_loses_its_sessions_and_codes(svc, event_type, status):
    member_id, email = svc.members.add()
    sids = [svc.sign_in(email)["sid"] for _ in range(2)]
    _, other = svc.members.add()
    other_sid = svc.sign_in(other)["sid"]
    svc.service.request_sign_in(email, CLIENT)  # a pending code
    code = svc.notifications.last_code(email)

    suspended = member_event("member_suspended", member_id, status="SUSPENDED", revision=2)
    svc.service.on_member_event(suspended)  # suspended members still sign in
    assert all(svc.service.session(s) for s in sids)

    envelope = member_event(event_type, member_id, status=status, revision=3)
    svc.service.on_member_event(envelope)
    svc.service.on_member_event(envelope)  # a redelivery: nothing more
    assert [svc.service.session(s) for s in sids] == [None, None]
    assert svc.service.session(other_sid) is not None
    assert svc.db.codes.find_one({"person.member_id": member_id, "status": "PENDING"}) is None
    svc.members.members[member_id]["status"] = status
    svc.refused(code)
    revoked = svc.audited("REVOKED")
    assert [r["person_id"] for r in revoked] == [f"focal-point:{member_id}"] * 2
    assert svc.db.dead_letters.count_documents({}) == 0


# ---- the secretariat -----------------------------------------------------------------------

def test_a_secretariat_person_is_added_once_and_signs_in_as_admin(svc):
    email = address()
    person = svc.service.add_secretariat(email, "Ana Secretariat", "cli:operator")
    assert set(person) == {"id", "email", "name", "added_at"}
    assert (person["email"], person["name"]) == (email, "Ana Secretariat")
    moment(person["added_at"])
    with pytest.raises(Conflict):
        svc.service.add_secretariat(email.upper(), "Ana Again", "cli:operator")
    with pytest.raises(BadUserInput) as refused:
        svc.service.add_secretariat("not an address", "X", "cli:operator")
    assert "not an address" not in repr(refused.value.args)
    assert svc.db.people.count_documents({}) == 1

    svc.service.request_sign_in(email, CLIENT)
    assert svc.notifications.sent[-1]["recipient"] == "secretariat"
    assert svc.members.asked == []  # people are looked up first, members not asked
    signed_in = svc.service.complete_sign_in(svc.notifications.last_code(email), CLIENT)
    assert (signed_in["person_id"], signed_in["role"], signed_in["member_id"]) == (
        person["id"], "ADMIN", None)
    assert svc.service.session(signed_in["sid"]) == {**signed_in, "name": "Ana Secretariat",
                                                     "email": email}
    added = svc.audited("SECRETARIAT_ADDED")
    assert [(a["person_id"], a["client"]) for a in added] == [(person["id"], None)]


def test_an_address_of_a_secretariat_person_and_a_focal_point_signs_in_as_the_secretariat(svc):
    _, email = svc.members.add()
    person = svc.service.add_secretariat(email, "Both", "cli:operator")
    signed_in = svc.sign_in(email)
    assert (signed_in["person_id"], signed_in["role"]) == (person["id"], "ADMIN")


def test_an_invited_person_gets_a_welcome_with_a_code(svc):
    email = address()
    assert svc.service.invite_secretariat(email, "Bo Invited", "admin-1", CLIENT) is True
    (mail,) = svc.notifications.sent
    assert (mail["address"], mail["recipient"], mail["invited"]) == (
        email, "secretariat", "Bo Invited")
    signed_in = svc.service.complete_sign_in(mail["code"], CLIENT)
    assert signed_in["role"] == "ADMIN"
    with pytest.raises(Conflict):
        svc.service.invite_secretariat(email, "Bo Again", "admin-1", CLIENT)
    assert len(svc.notifications.sent) == 1
    assert [a["action"] for a in svc.audited()][:2] == ["SECRETARIAT_ADDED", "CODE_SENT"]
    assert svc.db.people.find_one({})["added_by"] == "admin-1"


def test_an_invitation_that_cannot_be_mailed_says_so_and_keeps_the_person(svc):
    svc.notifications.down = True
    email = address()
    with pytest.raises(Unavailable):
        svc.service.invite_secretariat(email, "Cy", "admin-1", CLIENT)
    assert [p["email"] for p in svc.service.secretariat()] == [email]
    svc.notifications.down = False
    svc.service.request_sign_in(email, CLIENT)  # the person can ask for a code
    assert svc.sign_in(email)["role"] == "ADMIN"


def test_removing_a_person_revokes_their_sessions_but_never_the_last_person(svc):
    first, second = address(), address()
    svc.service.add_secretariat(first, "Zoe First", "cli:operator")
    kept = svc.service.add_secretariat(second, "adam Second", "cli:operator")
    assert [p["name"] for p in svc.service.secretariat()] == ["adam Second", "Zoe First"]
    sid = svc.sign_in(first)["sid"]
    svc.service.request_sign_in(first, CLIENT)
    pending = svc.notifications.last_code(first)

    assert svc.service.remove_secretariat(first.upper(), "admin-2", CLIENT) is True
    assert svc.service.session(sid) is None
    svc.refused(pending)
    assert [p["id"] for p in svc.service.secretariat()] == [kept["id"]]
    with pytest.raises(NotFound) as unknown:
        svc.service.remove_secretariat(first, "admin-2", CLIENT)
    assert first not in unknown.value.message
    with pytest.raises(Conflict) as last:
        svc.service.remove_secretariat(second, "admin-2", CLIENT)
    assert last.value.message == domain.LAST_PERSON
    assert [p["id"] for p in svc.service.secretariat()] == [kept["id"]]
    actions = [a["action"] for a in svc.audited()]
    assert actions[-3:] == ["REVOKED", "SECRETARIAT_REMOVED", "CODE_FAILED"]


def test_two_removals_at_once_leave_one_person(svc):
    emails = [address(), address()]
    for n, email in enumerate(emails):
        svc.service.add_secretariat(email, f"Person {n}", "cli:operator")
    start, outcomes = threading.Barrier(2), []

    def remove(email):
        service = svc.new_service()
        start.wait()
        try:
            outcomes.append(service.remove_secretariat(email, "admin", CLIENT))
        except Conflict as exc:
            outcomes.append(exc.message)
    workers = [threading.Thread(target=remove, args=(e,)) for e in emails]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert sorted(map(str, outcomes)) == sorted([domain.LAST_PERSON, "True"])
    assert svc.db.people.count_documents({}) == 1


# ---- the audit -----------------------------------------------------------------------------

def test_the_audit_and_the_logs_never_hold_an_address_or_a_code(svc, caplog):
    caplog.set_level(logging.DEBUG, logger="services")
    member_id, email = svc.members.add()
    secretariat = address()
    svc.service.add_secretariat(secretariat, "Audited", "cli:operator", CLIENT)
    sid = svc.sign_in(email)["sid"]
    svc.sign_in(email)  # revoked when the member withdraws
    svc.sign_in(secretariat)
    svc.service.invite_secretariat(address(), "Invited", "admin", CLIENT)
    svc.service.remove_secretariat(secretariat, "admin", CLIENT)
    svc.service.request_sign_in(email, CLIENT)
    svc.refused(wrong_secret(svc.notifications.last_code(email)))
    for _ in range(6):
        svc.service.request_sign_in(email, CLIENT)
    svc.service.request_sign_in(address(), CLIENT)
    svc.service.sign_out(sid, CLIENT)
    svc.service.on_member_event(member_event("member_withdrawn", member_id, status="WITHDRAWN",
                                             revision=2))
    secrets = {m["address"].casefold() for m in svc.notifications.sent}
    for code in {m["code"] for m in svc.notifications.sent}:
        secrets |= {code.casefold(), code.replace("-", "").casefold()}

    entries = svc.audited()
    assert {a["action"] for a in entries} >= {"CODE_SENT", "CODE_LIMITED", "CODE_FAILED",
                                              "SIGNED_IN", "SIGNED_OUT", "REVOKED",
                                              "SECRETARIAT_ADDED", "SECRETARIAT_REMOVED"}
    assert all(set(a) == {"_id", "at", "action", "person_id", "client"} for a in entries)
    # no collection but `people` (the secretariat's own addresses) holds one
    for name in svc.db.list_collection_names():
        if name != "people":
            text = repr(list(svc.db[name].find({}))).casefold()
            assert not [s for s in secrets if s in text], name
    logged = "\n".join(r.getMessage() for r in caplog.records
                       if r.name.startswith("services")).casefold()
    assert "sessions revoked" in logged
    assert not [s for s in secrets if s in logged]

    newest = svc.service.audit(3)
    assert len(newest) == 3 and set(newest[0]) == {"at", "action", "person_id", "client"}
    assert [moment(a["at"]) for a in newest] == sorted((moment(a["at"]) for a in newest),
                                                       reverse=True)
    assert newest[0]["action"] == "REVOKED"
    assert len(svc.service.audit()) == len(entries)
    for bad in (0, 1001, "10", None):
        with pytest.raises(BadUserInput):
            svc.service.audit(bad)


# ---- in its container --------------------------------------------------------------------

@pytest.fixture(scope="module")
def accounts(host):
    return host.service("accounts")


def test_in_its_container_the_service_keeps_people_sessions_and_its_consumer(accounts):
    email = address()
    person = accounts.add_secretariat(email, "Hosted Person", "cli:operator")
    assert person["email"] == email and accounts.secretariat()[0]["id"] == person["id"]
    assert accounts.session("unknown") is None
    indexes = accounts.db.codes.index_information()
    assert any(i.get("expireAfterSeconds") == 24 * 3600 for i in indexes.values())

    # a code of that person, stored as request_sign_in stores it
    code = domain.new_code()
    accounts.db.codes.insert_one(domain.new_code_doc(
        uuid.uuid4().hex, code, SECRET, email, domain.secretariat_person(person["id"]),
        datetime.now(timezone.utc), 30))
    named = accounts.named(f"req-{uuid.uuid4().hex}:accounts.complete_sign_in:1")
    first = named.complete_sign_in(domain.shown(code), CLIENT)
    assert named.complete_sign_in(domain.shown(code), CLIENT) == first  # the kept answer
    assert accounts.session(first["sid"])["name"] == "Hosted Person"
    with pytest.raises(BadUserInput):
        accounts.complete_sign_in(domain.shown(code), CLIENT)

    member_id = uuid.uuid4().hex
    accounts.db.sessions.insert_one(domain.new_session(
        "hosted-sid", {"id": f"focal-point:{member_id}", "role": "MEMBER", "member_id": member_id},
        datetime.now(timezone.utc), 1, CLIENT))
    assert accounts.session("hosted-sid")["member_id"] == member_id
    assert accounts.handle(member_event("member_withdrawn", member_id, status="WITHDRAWN")) == [None]
    assert accounts.session("hosted-sid") is None

