"""The grants service without the gateway: its entrypoints run in a nameko
container (tests/service/host.py) against the real store and broker. The
members it may allocate to reach it as the members service announces them:
as member events, here handed to its handlers."""
import uuid

import pytest

from services.common.errors import BadUserInput, Conflict, NotFound
from tests.helpers.events import member_event, round_closed
from tests.helpers.grants import grant_input
from tests.support import announced

HOSTED = ("grants",)


@pytest.fixture(scope="module")
def grants(host):
    return host.service("grants")


@pytest.fixture(scope="module")
def active_member(grants):
    """A member grants has heard of as ACTIVE."""
    registered = member_event("member_registered", status="ACTIVE")
    grants.handle(registered)
    return registered["data"]["member_id"]


def proposal(grant_id, member_id, amount):
    return {"grantId": grant_id, "memberId": member_id, "amount": amount,
            "purpose": "Community-led monitoring"}


def books(grants, grant_id):
    """Everything a refused request must leave as it was."""
    return {"grant": grants.db.grants.find_one({"_id": grant_id}),
            "allocations": grants.db.allocations.count_documents({"grant_id": grant_id}),
            "outbox": grants.db.outbox.count_documents({})}


def test_a_grant_is_stored_in_cents_and_announced(grants):
    created = grants.create_grant(grant_input(currency="usd", amount="86454.2"))
    assert (created["status"], created["currency"], created["amount"]) == \
        ("PIPELINE", "USD", "86454.20")
    stored = grants.db.grants.find_one({"_id": created["id"]})
    assert stored["amount_cents"] == 8645420 and stored["allocated_cents"] == 0
    (event,) = announced(grants.db, "grant_created", grant_id=created["id"])
    assert (event["data"]["amount"], event["data"]["currency"]) == ("86454.20", "USD")


def test_refusals_are_typed_and_change_nothing(grants, active_member):
    data = grant_input(currency="XYZ")
    with pytest.raises(BadUserInput) as refused:
        grants.create_grant(data)
    assert "currency" in refused.value.fields
    assert grants.db.grants.count_documents({"title": data["title"]}) == 0

    grant = grants.create_grant(grant_input())
    grants.activate_grant(grant["id"])
    before = books(grants, grant["id"])
    with pytest.raises(Conflict) as refused:
        grants.activate_grant(grant["id"])
    assert "ACTIVE" in refused.value.message
    with pytest.raises(NotFound) as refused:
        grants.propose_allocation(proposal(grant["id"], uuid.uuid4().hex, "10"))
    assert "member" in refused.value.message
    assert books(grants, grant["id"]) == before


def test_a_reservation_is_stored_announced_and_never_beyond_the_grant(grants, active_member):
    grant = grants.create_grant(grant_input(amount="1000", currency="USD"))
    allocation = grants.propose_allocation(proposal(grant["id"], active_member, "999.99"))
    assert allocation["status"] == "PROPOSED"
    stored = grants.db.allocations.find_one({"_id": allocation["id"]})
    assert (stored["status"], stored["amount_cents"]) == ("PROPOSED", 99999)
    assert grants.db.grants.find_one({"_id": grant["id"]})["allocated_cents"] == 99999
    (event,) = announced(grants.db, "allocation_proposed", allocation_id=allocation["id"])
    assert (event["data"]["amount"], event["data"]["member_id"]) == ("999.99", active_member)

    before = books(grants, grant["id"])
    with pytest.raises(Conflict) as refused:
        grants.propose_allocation(proposal(grant["id"], active_member, "0.02"))
    assert refused.value.message == \
        "Only 0.01 USD of this grant is available; 0.02 was asked."
    assert books(grants, grant["id"]) == before


def test_a_member_event_handled_twice_is_applied_once(grants):
    registered = member_event("member_registered", status="ACTIVE")
    member_id = registered["data"]["member_id"]
    grants.handle(registered)
    known = grants.db.members.find_one({"_id": member_id})
    assert (known["status"], known["revision"]) == ("ACTIVE", 1)
    grants.handle(registered)  # redelivered
    assert grants.db.members.find_one({"_id": member_id}) == known


def test_an_adopted_allocation_handled_twice_is_approved_once(grants, active_member):
    grant = grants.create_grant(grant_input(amount="500"))
    allocation = grants.propose_allocation(proposal(grant["id"], active_member, "100"))
    envelope = round_closed("GRANT_ALLOCATION", allocation["id"], "ADOPTED")

    grants.handle(envelope)
    approved = grants.db.allocations.find_one({"_id": allocation["id"]})
    assert approved["status"] == "APPROVED"
    assert [h["status"] for h in approved["history"]][-1] == "APPROVED"
    grant_after = grants.db.grants.find_one({"_id": grant["id"]})

    grants.handle(envelope)  # redelivered
    assert grants.db.allocations.find_one({"_id": allocation["id"]}) == approved
    assert grants.db.grants.find_one({"_id": grant["id"]}) == grant_after
    assert len(announced(grants.db, "allocation_approved", allocation_id=allocation["id"])) == 1


def test_decisions_and_payments_are_announced_with_what_the_beneficiary_is_told(
        grants, active_member):
    grant = grants.create_grant(grant_input(amount="5000", currency="EUR"))
    grants.activate_grant(grant["id"])
    allocation = grants.propose_allocation(proposal(grant["id"], active_member, "1000"))
    grants.handle(round_closed("GRANT_ALLOCATION", allocation["id"], "ADOPTED"))
    (approved,) = announced(grants.db, "allocation_approved", allocation_id=allocation["id"])
    assert {k: approved["data"][k] for k in ("member_id", "grant_title", "amount", "currency")} \
        == {"member_id": active_member, "grant_title": grant["title"], "amount": "1000.00",
            "currency": "EUR"}

    paid = grants.record_disbursement({"allocationId": allocation["id"], "amount": "250.5",
                                       "paidOn": "2026-03-01"})
    (event,) = announced(grants.db, "disbursement_recorded", disbursement_id=paid["id"])
    assert {k: event["data"][k] for k in ("member_id", "grant_title", "amount", "currency")} \
        == {"member_id": active_member, "grant_title": grant["title"], "amount": "250.50",
            "currency": "EUR"}
