"""The pure parts of a member's export and erasure in the notifications
(DOMAIN.md section 11): what is declared for the export, the words of an
erasure, what an erased mail loses, which mails are the member's."""
import re
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from services.common.errors import BadUserInput
from services.common.member_data import TECHNICAL
from services.common.validation import load
from services.common.vocabulary import SECRETARIAT, MailStatus, NotificationKind
from services.notifications import domain, erasure
from services.notifications.dependencies import INDEXES, MEMBER_DATA
from services.notifications.schemas import MemberIdInput

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)
RENDERED = SimpleNamespace(subject="S", text="T", html="<p>T</p>")
PARTS = {part.collection: part for part in MEMBER_DATA}


# ---- what the export declares ------------------------------------------------------

def test_every_collection_that_names_a_member_is_declared_and_no_technical_one():
    assert set(PARTS) == {"members", "preferences", "notifications", "mails", "reports",
                          "rounds", "responses"}
    assert not set(PARTS) & TECHNICAL
    assert set(INDEXES) <= set(PARTS)  # every collection with indexes of its own
    assert len(PARTS) == len(MEMBER_DATA)


def test_each_field_is_said_in_a_sentence():
    for part in MEMBER_DATA:
        assert part.fields, part.collection
        for name, meaning in part.fields.items():
            assert meaning[0].isupper() and meaning.endswith("."), (part.collection, name)
            assert name != "_id", "exported as id"


def test_no_secret_no_words_of_a_mail_and_no_other_member_is_exported():
    mails = set(PARTS["mails"].fields)
    # a sign-in mail's text and link hold its code; claims and leases are the sender's
    assert not mails & {"text", "html", "link", "claim", "lease_until", "error", "message_id",
                        "expires_at", "member_id"}
    assert {"kind", "subject", "status", "language", "created_at", "sent_at", "address"} <= mails
    # a round's snapshot names the other members
    assert "eligible" not in PARTS["rounds"].fields


def test_the_queries_find_the_members_documents():
    m = "m1"
    assert PARTS["members"].query(m) == {"_id": m}
    assert PARTS["preferences"].query(m) == {"_id": m}
    assert PARTS["notifications"].query(m) == {"recipient": m}
    assert PARTS["mails"].query(m) == {"$or": [{"recipient": m}, {"member_id": m}]}
    assert PARTS["reports"].query(m) == {"member_id": m}
    assert PARTS["rounds"].query(m) == {"$or": [{"eligible": m}, {"subject_id": m}]}
    assert PARTS["responses"].query(m) == {"_id": {"$regex": domain.response_pattern(m)}}


@pytest.mark.parametrize("member, other", [("b", "ab"), ("ab", "b"), ("a.b", "axb"),
                                           ("m1", "m10"), ("m+1", "m1")])
def test_the_response_pattern_matches_the_members_responses_only(member, other):
    pattern = re.compile(domain.response_pattern(member))
    assert pattern.match(domain.response_id("c1", 1, member))
    assert pattern.match(domain.response_id("64f0c1", 12, member))
    assert not pattern.match(domain.response_id("c1", 1, other))
    assert not pattern.match(f"c1:x:{member}")


# ---- which mails are the member's -------------------------------------------------------

def test_a_sign_in_mail_names_the_member_whose_focal_point_it_goes_to():
    mail = domain.sign_in_mail("signin-1:person:SIGN_IN", "a@example.org", "EN", RENDERED, "L",
                               T0, "<id@x>", 30.0, "m1")
    assert mail["member_id"] == "m1" and mail["recipient"] == domain.SIGN_IN_RECIPIENT
    assert mail["address"] == "a@example.org"
    plain = domain.sign_in_mail("signin-2:person:SIGN_IN", "b@example.org", "EN", RENDERED, "L",
                                T0, "<id@x>", 30.0)
    assert plain["member_id"] is None


def test_sign_in_member_is_a_member_id_never_the_secretariat():
    assert domain.sign_in_member("m1") == "m1"
    assert domain.sign_in_member(SECRETARIAT) is None
    assert domain.sign_in_member(None) is None
    assert domain.sign_in_member(domain.SIGN_IN_RECIPIENT) is None


def test_the_members_mails_and_its_sign_in_mails():
    assert erasure.mails_of("m1") == {"recipient": "m1"}
    assert erasure.sign_in_mails_of("m1") == {"member_id": "m1",
                                              "kind": NotificationKind.SIGN_IN}
    assert erasure.UNSENT == [MailStatus.QUEUED, MailStatus.SENDING]


# ---- what an erased mail and notification keep -------------------------------------------

def test_an_erased_mail_loses_its_words_and_keeps_the_rest():
    mail = domain.new_mail("e1:m1:REMINDER", "m1", NotificationKind.REMINDER, "EN", RENDERED,
                           "L", T0, "<id@x>")
    changes = erasure.stripped_mail(T0)
    erased = {**mail, **changes}
    assert all(erased[name] is None for name in ("subject", "text", "html", "link", "error"))
    assert erased["erased_at"] == T0
    kept = {"_id", "recipient", "kind", "language", "status", "created_at", "sent_at",
            "attempts", "message_id"}
    assert kept.isdisjoint(changes)


def test_an_erased_notification_keeps_non_null_words():
    assert erasure.stripped_notification(T0) == {"subject": "", "body": "", "erased_at": T0}


# ---- the words ---------------------------------------------------------------------------

def test_nothing_erased_says_nothing():
    assert erasure.words(erasure.Erased()) == []
    assert not erasure.Erased().any()


def test_the_words_count_each_thing_erased():
    said = erasure.words(erasure.Erased(unsent=2, sent=5, failed=1, sign_in=1, notifications=7))
    assert said == ["2 queued mails", "1 sign-in mail with the focal point's address",
                    "the subject and text of 5 sent mails",
                    "the subject and text of 1 failed mail",
                    "the subject and text of 7 in-app notifications"]
    assert erasure.words(erasure.Erased(unsent=1)) == ["1 queued mail"]
    assert erasure.Erased(failed=1).any()


# ---- the id ------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [None, "", {"$gt": ""}, 42, "x" * 101, SECRETARIAT,
                                 domain.SIGN_IN_RECIPIENT])
def test_only_a_members_id_is_taken(bad):
    with pytest.raises(BadUserInput):
        load(MemberIdInput(), {"memberId": bad})


def test_a_members_id_is_taken():
    assert load(MemberIdInput(), {"memberId": " m1 "}) == {"member_id": "m1"}
