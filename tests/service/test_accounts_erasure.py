"""A member's data in the accounts service (DOMAIN.md section 11): the export
of its focal point's codes, sessions and audit (`member_data`) and their
erasure (`erase_member_data`), on the real store.

As in tests/service/test_accounts_service.py: `svc` is the service's code in
this process on a database of its own, with stand-ins for members and
notifications (its focal points sign in through the real request and
completion of codes); `accounts` is the service in its nameko container,
whose RPCs answer over its real entrypoints."""
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.accounts import domain
from services.accounts.dependencies import MEMBER_DATA
from services.common.errors import BadUserInput
from services.common.member_data import TECHNICAL
from tests.service.test_accounts_service import CLIENT, Own, address
from tests.support import SECRET

HOSTED = ("accounts",)
COLLECTIONS = {part.collection for part in MEMBER_DATA}


@pytest.fixture
def svc(stack):
    own = Own(stack, {})
    yield own
    own.close()


def everything(db):
    """Every document of every collection of the database, as text."""
    return {name: [repr(doc) for doc in db[name].find({})] for name in db.list_collection_names()}


def naming(db, *texts):
    return {name: sorted(d for d in docs if any(t in d for t in texts))
            for name, docs in everything(db).items()}


def focal_point_with_history(svc):
    """A member whose focal point signed in twice (one session signed out,
    one live), typed a wrong code, and has a code pending: (member id, its
    address, its live session's sid)."""
    member_id, email = svc.members.add()
    first = svc.sign_in(email)
    svc.service.sign_out(first["sid"], CLIENT)
    live = svc.sign_in(email)
    svc.service.request_sign_in(email, CLIENT)
    pending = svc.notifications.last_code(email)
    svc.refused(pending[:-1] + ("A" if pending[-1] != "A" else "B"))  # one wrong code
    return member_id, email, live["sid"]


def test_member_data_answers_the_focal_points_codes_sessions_and_audit(svc):
    mine, email, sid = focal_point_with_history(svc)
    other, _, _ = focal_point_with_history(svc)
    exported = svc.service.member_data(mine)

    assert set(exported) == COLLECTIONS
    assert [c["status"] for c in exported["codes"]] == ["USED", "USED", "PENDING"]
    assert [s["revoked_at"] is None for s in exported["sessions"]] == [False, True]
    assert {s["client"] for s in exported["sessions"]} == {CLIENT}
    actions = [a["action"] for a in exported["audit"]]
    assert actions.count("SIGNED_IN") == 2 and "SIGNED_OUT" in actions
    assert "CODE_FAILED" in actions
    assert {a["person_id"] for a in exported["audit"]} == {domain.focal_point_id(mine)}
    # every collection (but the kit's) that names the member, by its id or its person's
    named = {c for c, docs in naming(svc.db, mine).items() if docs} - TECHNICAL
    assert named <= COLLECTIONS, named
    # never a secret: not a code, its hash or locator, the address's key, the session's id
    text = json.dumps(exported)
    stored = svc.db.codes.find_one({"person.member_id": mine})
    for secret in [sid, stored["hash"], stored["address_key"],
                   *svc.notifications.codes_for(email)]:
        assert secret not in text
    assert '"locator"' not in text and '"hash"' not in text
    assert other not in text


def test_erasure_deletes_the_focal_points_codes_and_sessions_only(svc):
    mine, email, sid = focal_point_with_history(svc)
    other, other_email, other_sid = focal_point_with_history(svc)
    secretariat = address()
    svc.service.add_secretariat(secretariat, "Sam Secretariat", "cli")
    admin_sid = svc.sign_in(secretariat)["sid"]
    theirs = naming(svc.db, other, secretariat, admin_sid)
    audit_before = svc.db.audit.count_documents({"person_id": domain.focal_point_id(mine)})

    assert svc.service.erase_member_data(mine) == ["3 sign-in codes", "2 sign-in sessions"]

    assert svc.db.codes.count_documents({"person.member_id": mine}) == 0
    assert svc.db.sessions.count_documents({"member_id": mine}) == 0
    assert svc.service.session(sid) is None  # its live session ended with it
    # the audit stays, with the revocation of the live session; it holds no address
    audit = list(svc.db.audit.find({"person_id": domain.focal_point_id(mine)}))
    assert len(audit) == audit_before + 1 and audit[-1]["action"] == "REVOKED"
    assert not any(naming(svc.db, email, email.upper()).values())
    left = {c for c, docs in naming(svc.db, mine).items() if docs} - TECHNICAL
    assert left == {"audit"}
    # its address's keyed hash stays only in the TECHNICAL `tries`, gone within the hour
    for collection in set(COLLECTIONS) | {"people"}:
        assert not naming(svc.db, domain.address_key(SECRET, email))[collection]

    # the other focal point and the secretariat keep theirs
    assert svc.service.session(other_sid)["member_id"] == other
    assert svc.service.session(admin_sid)["role"] == "ADMIN"
    after = naming(svc.db, other, secretariat, admin_sid)
    assert {c: d for c, d in after.items() if c != "audit"} == {
        c: d for c, d in theirs.items() if c != "audit"}
    assert set(theirs["audit"]) <= set(after["audit"])

    assert svc.service.erase_member_data(mine) == []  # nothing left
    exported = svc.service.member_data(mine)
    assert (exported["codes"], exported["sessions"]) == ([], [])
    assert len(exported["audit"]) == audit_before + 1


def test_erasure_of_a_member_without_data_and_a_bad_id(svc):
    assert svc.service.erase_member_data(uuid.uuid4().hex) == []
    for bad in ({"$gt": ""}, "", None, 42):
        with pytest.raises(BadUserInput):
            svc.service.erase_member_data(bad)
        assert svc.service.member_data(bad) == {c: [] for c in COLLECTIONS}


def test_the_service_answers_both_over_its_entrypoints(host):
    accounts = host.service("accounts")
    member_id = uuid.uuid4().hex
    now = datetime.now(timezone.utc)
    person = {"id": domain.focal_point_id(member_id), "role": "MEMBER", "member_id": member_id}
    accounts.db.sessions.insert_one(domain.new_session(uuid.uuid4().hex, person, now, 12, CLIENT))
    exported = accounts.member_data(member_id)
    assert set(exported) == COLLECTIONS
    (session,) = exported["sessions"]
    assert datetime.fromisoformat(session["expires_at"]) - now > timedelta(hours=11)
    assert accounts.erase_member_data(member_id) == ["1 sign-in session"]
    assert accounts.erase_member_data(member_id) == []
    with pytest.raises(BadUserInput):
        accounts.erase_member_data({"$gt": ""})
