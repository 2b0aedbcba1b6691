"""The sign-in rules of services/accounts/domain.py, without store or broker."""
from datetime import datetime, timedelta, timezone
import itertools

import pytest

from services.accounts import domain
from services.accounts.domain import CodeStatus

SECRET = "s" * 40
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def test_a_code_is_twelve_symbols_of_the_alphabet_without_look_alikes():
    assert len(domain.ALPHABET) == 32 and not set("01OI") & set(domain.ALPHABET)
    code = domain.new_code()
    assert len(code) == 12 and set(code) <= set(domain.ALPHABET)
    assert domain.new_code() != code
    symbols = itertools.cycle("K7QF2M9DABCD")
    assert domain.shown(domain.new_code(lambda _: next(symbols))) == "K7QF-2M9D-ABCD"


@pytest.mark.parametrize("typed", ["K7QF-2M9D-ABCD", "k7qf 2m9d abcd", " K7QF2M9DABCD ",
                                   "k7qf-2m9d-\tabcd"])
def test_typed_codes_are_normalised(typed):
    assert domain.normalise_code(typed) == "K7QF2M9DABCD"


@pytest.mark.parametrize("typed", ["", "K7QF-2M9D", "K7QF-2M9D-ABCDE", "K7QF-2M9D-ABC0",
                                   "K7QF-2M9D-ABCI", None, 12, {"$gt": ""}, "x" * 1000,
                                   "K7QF_2M9D_ABCD"])
def test_anything_else_is_no_code(typed):
    assert domain.normalise_code(typed) is None


def test_codes_and_addresses_are_stored_only_as_keyed_hashes():
    code = "K7QF2M9DABCD"
    stored = domain.new_code_doc("c1", code, SECRET, " Focal@Example.ORG ",
                                 domain.secretariat_person("p1"), NOW, 30)
    text = repr(stored).casefold()
    assert code.casefold() not in text and "focal@example.org" not in text
    assert stored["locator"] == "K7QF" and stored["status"] == CodeStatus.PENDING
    assert stored["hash"] == domain.code_hash(SECRET, code) != domain.code_hash("t" * 40, code)
    assert stored["address_key"] == domain.address_key(SECRET, "focal@example.org")
    assert stored["expires_at"] == NOW + timedelta(minutes=30)
    assert stored["recipient"] == "secretariat"
    # the two purposes never give the same hash for the same text
    assert domain.keyed(SECRET, "code", "x") != domain.keyed(SECRET, "address", "x")


def test_who_signs_in_for_a_member():
    for status in ("CANDIDATE", "ACTIVE", "SUSPENDED"):
        person = domain.focal_point_person({"id": "m1", "status": status, "language": "EN"})
        assert person == {"id": "focal-point:m1", "role": "MEMBER", "member_id": "m1"}
        assert domain.recipient_of(person) == "m1"
    for found in (None, {}, {"id": "m1", "status": "WITHDRAWN"}, {"id": "m1", "status": "REJECTED"}):
        assert domain.focal_point_person(found) is None
    assert domain.member_acts([{"id": "m1", "status": "SUSPENDED"}], "m1")
    assert not domain.member_acts([{"id": "m1", "status": "WITHDRAWN"}], "m1")
    assert not domain.member_acts([], "m1")


def test_a_code_signs_in_while_pending_and_unexpired():
    doc = {"status": CodeStatus.PENDING, "expires_at": NOW + timedelta(seconds=1)}
    assert domain.usable(doc, NOW)
    assert not domain.usable({**doc, "expires_at": NOW}, NOW)
    assert not domain.usable({**doc, "status": CodeStatus.USED}, NOW)
    assert not domain.usable({**doc, "status": CodeStatus.VOID}, NOW)
    assert not domain.usable(None, NOW)


def test_the_per_address_limit_is_a_sliding_hour():
    times = []
    for _ in range(5):
        times, taken = domain.take(times, NOW, 5)
        assert taken
    times, taken = domain.take(times, NOW + timedelta(minutes=59), 5)
    assert not taken and len(times) == 5  # a refused request is not counted
    times, taken = domain.take(times, NOW + timedelta(hours=1, seconds=1), 5)
    assert taken and times == [NOW + timedelta(hours=1, seconds=1)]
    assert domain.take([], NOW, 0) == ([], False)


def test_wrong_codes_are_tallied_over_the_hour():
    times = domain.tally([NOW - timedelta(hours=2), NOW - timedelta(minutes=10)], NOW, 100)
    assert times == [NOW - timedelta(minutes=10), NOW]
    assert len(domain.tally([NOW] * 10, NOW, 3)) == 3


def test_sessions_live_until_expiry_or_revocation():
    session = domain.new_session("sid", {"id": "focal-point:m1", "role": "MEMBER",
                                         "member_id": "m1"}, NOW, 12, "10.0.0.1")
    assert session["expires_at"] == NOW + timedelta(hours=12)
    assert domain.live(session, NOW + timedelta(hours=11))
    assert not domain.live(session, NOW + timedelta(hours=12))
    assert not domain.live({**session, "revoked_at": NOW}, NOW)
    assert not domain.live(None, NOW)


def test_withdrawn_and_rejected_members_lose_their_sessions():
    assert domain.revokes("WITHDRAWN") and domain.revokes("REJECTED")
    assert not any(domain.revokes(s) for s in ("CANDIDATE", "ACTIVE", "SUSPENDED"))


def test_an_audit_entry_holds_no_address_and_no_code():
    entry = domain.audit_entry("a1", "SIGNED_IN", "p1", "10.0.0.1", NOW)
    assert set(entry) == {"_id", "at", "action", "person_id", "client"}


def test_a_person_is_kept_with_a_case_folded_key():
    person = domain.new_person("p1", "  Ana@Example.ORG ", "Ana", "cli", NOW)
    assert person["email"] == "Ana@Example.ORG" and person["email_key"] == "ana@example.org"
