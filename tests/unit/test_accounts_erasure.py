"""The pure parts of a member's export and erasure in the accounts (DOMAIN.md
section 11): what is declared for the export (never a secret), and the
words of an erasure."""
import pytest

from services.accounts import domain
from services.accounts.dependencies import INDEXES, MEMBER_DATA
from services.accounts.schemas import MemberIdInput
from services.common.errors import BadUserInput
from services.common.member_data import TECHNICAL
from services.common.validation import load

PARTS = {part.collection: part for part in MEMBER_DATA}


def test_the_collections_that_name_a_member_are_declared_and_no_technical_one():
    # people are the secretariat's; tries are keyed by an address's hash (and TECHNICAL)
    assert set(PARTS) == {"codes", "sessions", "audit"}
    assert not set(PARTS) & TECHNICAL
    assert set(INDEXES) - set(PARTS) == {"people", "tries"}


def test_each_field_is_said_in_a_sentence():
    for part in MEMBER_DATA:
        for name, meaning in part.fields.items():
            assert meaning[0].isupper() and meaning.endswith("."), (part.collection, name)


def test_no_secret_is_exported():
    # a code's hash and locator, an address's keyed hash
    assert not set(PARTS["codes"].fields) & {"hash", "locator", "address_key"}
    # a session's id is what a token carries
    assert "id" not in PARTS["sessions"].fields
    # a failed code's client may be a stranger's
    assert "client" not in PARTS["audit"].fields


def test_the_queries_find_the_focal_points_documents():
    assert PARTS["codes"].query("m1") == {"person.member_id": "m1"}
    assert PARTS["sessions"].query("m1") == {"member_id": "m1"}
    assert PARTS["audit"].query("m1") == {"person_id": "focal-point:m1"}
    assert PARTS["audit"].query("m1")["person_id"] == domain.focal_point_id("m1")


def test_the_audit_is_read_by_person():
    keys = [tuple(index.document["key"]) for index in INDEXES["audit"]]
    assert ("person_id", "at") in keys


def test_the_words_of_an_erasure():
    assert domain.erasure_words(0, 0) == []
    assert domain.erasure_words(1, 0) == ["1 sign-in code"]
    assert domain.erasure_words(0, 1) == ["1 sign-in session"]
    assert domain.erasure_words(3, 2) == ["3 sign-in codes", "2 sign-in sessions"]


@pytest.mark.parametrize("bad", [None, "", {"$gt": ""}, 42, "x" * 101])
def test_only_an_id_is_taken(bad):
    with pytest.raises(BadUserInput):
        load(MemberIdInput(), {"member_id": bad})
