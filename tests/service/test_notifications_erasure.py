"""A member's data in the notifications service (DOMAIN.md section 11): its
export (`member_data`) and its erasure (`erase_member_data`), the service
in its nameko container (tests/service/host.py) on the real store.

Each test makes two members of its own, with notifications and mails
written by the service's own handlers (member and report events whose
notes name the focal point, as a secretariat's note may), sign-in mails
queued by `send_sign_in`, preferences, a round and responses; then mails
are moved as the sender would move them (SENT, FAILED, SENDING). The
service's timers are slowed down (HOST_ENV) so that its sender never meets
these mails."""
import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.common.errors import BadUserInput
from services.common.events import make_envelope
from services.common.member_data import TECHNICAL
from services.common.vocabulary import SECRETARIAT, MailStatus, NotificationKind
from services.notifications import domain
from services.notifications.dependencies import MEMBER_DATA
from tests.helpers.notifications import new_address

HOSTED = ("notifications",)
HOST_ENV = {"MAIL_SEND_SECONDS": "300", "REMINDER_CHECK_SECONDS": "300"}
K = NotificationKind
COLLECTIONS = {part.collection for part in MEMBER_DATA}


@pytest.fixture(scope="module")
def notifications(host):
    return host.service("notifications")


def person():
    """A focal point: its name, phone and address, each found nowhere else."""
    tag = uuid.uuid4().hex[:8]
    return SimpleNamespace(name=f"Jane Focalpoint {tag}", phone=f"+7 900 {int(tag, 16) % 10**7}",
                           email=new_address())


def member_event(event_type, member_id, revision, note):
    return make_envelope(event_type, {
        "member_id": member_id, "name": f"Network {member_id[:8]}", "status": "ACTIVE",
        "mou_signed": True, "can_vote": True, "revision": revision, "note": note,
        "language": "EN"}, source="members")


def report_event(member_id, note):
    return make_envelope("report_changes_requested", {
        "report_id": uuid.uuid4().hex, "allocation_id": uuid.uuid4().hex,
        "grant_id": uuid.uuid4().hex, "member_id": member_id, "due_on": "2099-01-01",
        "status": "CHANGES_REQUESTED", "grant_title": "Harm reduction 2027", "note": note},
        source="grants")


def stance_cast(consultation_id, member_id):
    return make_envelope("stance_cast", {
        "consultation_id": consultation_id, "round": 1, "member_id": member_id,
        "value": "AGREE", "replaced": False}, source="consultations")


def told(notifications, envelope):
    """The key of the one mail the event gave its member."""
    notifications.handle(envelope)
    data = envelope["data"]
    kind = K.REPORT if envelope["source"] == "grants" else K.MEMBERSHIP
    return domain.notification_key(envelope["event_id"], data["member_id"], kind)


def a_member(notifications, member_id, who):
    """The member's mails, in-app notifications, read models and sign-in mail;
    its mails' keys in the order of its events."""
    keys = [told(notifications, member_event("member_admitted", member_id, 1,
                                             f"Welcome, {who.name}.")),
            told(notifications, member_event("member_suspended", member_id, 2,
                                             f"Call {who.phone}.")),
            told(notifications, member_event("member_reinstated", member_id, 3,
                                             f"Write to {who.email}.")),
            told(notifications, report_event(member_id, f"{who.name} ({who.phone}) asks."))]
    assert notifications.send_sign_in(who.email, "ABCD-EFGH-JKLM", None, member_id) is True
    notifications.set_preferences(member_id, {"reminders": False})
    return keys


def a_round(db, members):
    """A round whose snapshot holds `members`, each of whom responded."""
    consultation_id = uuid.uuid4().hex
    now = datetime.now(timezone.utc)
    data = {"consultation_id": consultation_id, "round": 1, "kind": "GENERAL",
            "subject_id": None, "title": "Annual plan", "proposal": "Adopt it."}
    db.rounds.insert_one(domain.opened_round(data, list(members), now, now + timedelta(days=2),
                                             Decimal(24), False))
    return consultation_id


def sent_as_by_the_sender(db, keys, who):
    """The first mail SENT, the second FAILED, the third SENDING, the fourth QUEUED."""
    now = datetime.now(timezone.utc)
    db.mails.update_one({"_id": keys[0]}, {"$set": {"status": MailStatus.SENT, "sent_at": now,
                                                    "attempts": 1}})
    db.mails.update_one({"_id": keys[1]}, {"$set": {
        "status": MailStatus.FAILED, "failed_at": now, "attempts": 1,
        "error": f"550 5.1.1 {who.email.split('@')[0]} unknown"}})
    db.mails.update_one({"_id": keys[2]}, {"$set": {"status": MailStatus.SENDING,
                                                    "claim": "c", "lease_until": now}})


@pytest.fixture
def world(notifications):
    db = notifications.db
    mine, other = uuid.uuid4().hex, uuid.uuid4().hex
    me, them = person(), person()
    keys = a_member(notifications, mine, me)
    other_keys = a_member(notifications, other, them)
    consultation_id = a_round(db, [mine, other])
    for member_id in (mine, other):
        notifications.handle(stance_cast(consultation_id, member_id))
    sent_as_by_the_sender(db, keys, me)
    sent_as_by_the_sender(db, other_keys, them)
    return SimpleNamespace(db=db, mine=mine, other=other, me=me, them=them, keys=keys,
                           other_keys=other_keys, consultation_id=consultation_id)


def everything(db):
    """Every document of every collection of the database, as text."""
    return {name: [repr(doc) for doc in db[name].find({})]
            for name in db.list_collection_names()}


def naming(db, *texts):
    """The documents of the database that hold any of `texts`."""
    return {name: sorted(d for d in docs if any(t in d for t in texts))
            for name, docs in everything(db).items()}


# ---- the export ----------------------------------------------------------------------

def test_member_data_answers_every_collection_that_names_the_member(notifications, world):
    exported = notifications.member_data(world.mine)
    assert set(exported) == COLLECTIONS
    assert all(exported[c] for c in COLLECTIONS), {c: len(d) for c, d in exported.items()}
    # every collection of the database (but the kit's) in which the member's id appears
    named = {c for c, docs in naming(world.db, world.mine).items() if docs} - TECHNICAL
    assert named <= COLLECTIONS, named

    assert len(exported["notifications"]) == 4 and len(exported["mails"]) == 5
    (sign_in,) = [m for m in exported["mails"] if m["kind"] == K.SIGN_IN]
    assert sign_in["address"] == world.me.email and sign_in["status"] == MailStatus.QUEUED
    assert {m["status"] for m in exported["mails"]} == {"QUEUED", "SENDING", "SENT", "FAILED"}
    declared = next(p.fields for p in MEMBER_DATA if p.collection == "mails")
    for mail in exported["mails"]:  # never a code (a sign-in mail's text and link hold it)
        assert set(mail) == set(declared)
    assert "ABCD" not in json.dumps(exported)
    assert exported["preferences"][0]["reminders"] is False
    assert exported["members"][0]["id"] == world.mine
    assert exported["reports"][0]["member_id"] == world.mine
    assert [r["consultation_id"] for r in exported["rounds"]] == [world.consultation_id]
    assert [r["id"] for r in exported["responses"]] == [
        domain.response_id(world.consultation_id, 1, world.mine)]
    # nothing of the other member: not its id (a round's snapshot is not exported), not its
    # focal point
    text = json.dumps(exported)
    assert world.other not in text and world.them.email not in text and world.them.name not in text


def test_member_data_of_no_member_is_empty(notifications):
    for nobody in (uuid.uuid4().hex, {"$gt": ""}, SECRETARIAT, None):
        assert notifications.member_data(nobody) == {c: [] for c in COLLECTIONS}


# ---- the erasure ---------------------------------------------------------------------

def test_erasure_leaves_no_trace_of_the_focal_point_and_the_others_untouched(notifications,
                                                                            world):
    db, me = world.db, world.me
    assert any(naming(db, me.email).values()) and any(naming(db, me.name).values())
    assert any(naming(db, me.phone).values())
    theirs = naming(db, world.other, world.them.email)

    removed = notifications.erase_member_data(world.mine)

    assert removed == ["2 queued mails", "1 sign-in mail with the focal point's address",
                       "the subject and text of 1 sent mail",
                       "the subject and text of 1 failed mail",
                       "the subject and text of 4 in-app notifications"]
    for text in (me.email, me.name, me.phone, me.email.split("@")[0]):
        assert not any(naming(db, text).values()), naming(db, text)
    assert naming(db, world.other, world.them.email) == theirs  # not one of its documents moved

    # the fact that a mail was sent, or failed, stays: its kind, status and dates
    sent, failed = db.mails.find_one({"_id": world.keys[0]}), db.mails.find_one(
        {"_id": world.keys[1]})
    assert (sent["status"], sent["kind"], sent["recipient"]) == ("SENT", K.MEMBERSHIP, world.mine)
    assert sent["sent_at"] and sent["created_at"] and sent["erased_at"]
    assert (failed["status"], failed["failed_at"] is not None) == ("FAILED", True)
    assert all(m[f] is None for m in (sent, failed)
               for f in ("subject", "text", "html", "link", "error"))
    assert db.mails.count_documents({"_id": {"$in": world.keys[2:]}}) == 0  # never sent
    assert db.mails.count_documents({"member_id": world.mine}) == 0
    assert {(n["subject"], n["body"]) for n in db.notifications.find(
        {"recipient": world.mine})} == {("", "")}
    # an erased mail is never retried: it has no words left
    assert notifications.retry_mails([world.keys[1]]) == []
    assert db.mails.find_one({"_id": world.keys[1]})["status"] == "FAILED"

    assert notifications.erase_member_data(world.mine) == []  # nothing left
    after = notifications.member_data(world.mine)
    assert {m["status"] for m in after["mails"]} == {"SENT", "FAILED"}
    assert len(after["notifications"]) == 4


def test_erasure_of_a_member_without_data_and_of_no_member(notifications):
    assert notifications.erase_member_data(uuid.uuid4().hex) == []
    for bad in ({"$gt": ""}, SECRETARIAT, domain.SIGN_IN_RECIPIENT, "", None):
        with pytest.raises(BadUserInput):
            notifications.erase_member_data(bad)
