"""The grants service's boundaries: input validation and view shapes."""
from datetime import date, datetime, timezone

import pytest

from services.common.errors import BadUserInput
from services.common.validation import load
from services.grants import domain
from services.grants.schemas import (AllocationInput, AllocationView, DisbursementInput,
                                     DisbursementView, GrantInput, GrantView, ListFilter)

NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
GRANT = {"title": " Robert Carr Fund ", "donor": "RCF", "currency": "usd", "amount": "1455000",
         "startDate": "2016-01-01", "endDate": "2016-12-31"}


def fields_of(schema, data):
    with pytest.raises(BadUserInput) as info:
        load(schema, data)
    return info.value.fields


def test_grant_input_loads_cents_dates_and_upper_case_currency():
    data = load(GrantInput(), GRANT)
    assert data == {"title": "Robert Carr Fund", "donor": "RCF", "currency": "USD",
                    "amount_cents": 145500000, "start_date": date(2016, 1, 1),
                    "end_date": date(2016, 12, 31)}


@pytest.mark.parametrize("change, field", [
    ({"title": ""}, "title"), ({"title": "x" * 201}, "title"), ({"donor": {"$gt": ""}}, "donor"),
    ({"currency": "ZZZ"}, "currency"), ({"currency": "US"}, "currency"), ({"currency": "XXX"}, "currency"),
    ({"amount": 1455000.0}, "amount"), ({"amount": "0"}, "amount"), ({"amount": "1e309"}, "amount"),
    ({"amount": "NaN"}, "amount"), ({"amount": "-1"}, "amount"), ({"amount": "1.001"}, "amount"),
    ({"startDate": "20160101"}, "startDate"), ({"startDate": "2016-02-30"}, "startDate"),
    ({"endDate": "2015-12-31"}, "endDate"), ({"extra": 1}, "extra"),
])
def test_grant_input_refusals_name_the_client_field(change, field):
    assert field in fields_of(GrantInput(), {**GRANT, **change})


def test_allocation_input():
    data = load(AllocationInput(), {"grantId": "g", "memberId": "m", "amount": "86454.2",
                                    "purpose": "CLM", "closesAt": "2030-01-01T10:00:00+02:00"})
    assert data["amount_cents"] == 8645420 and data["closes_at"].utcoffset().total_seconds() == 7200
    assert load(AllocationInput(), {"grantId": "g", "memberId": "m", "amount": "1",
                                    "purpose": "p"})["closes_at"] is None
    bad = fields_of(AllocationInput(), {"grantId": {"$gt": ""}, "memberId": "m", "amount": "0",
                                        "purpose": "x" * 2001, "closesAt": "2030-01-01T10:00:00"})
    assert set(bad) == {"grantId", "amount", "purpose", "closesAt"}


def test_disbursement_input():
    data = load(DisbursementInput(), {"allocationId": "a", "amount": "0.01", "paidOn": "2026-02-01",
                                      "reference": ""})
    assert data == {"allocation_id": "a", "amount_cents": 1, "paid_on": date(2026, 2, 1),
                    "reference": None}
    bad = fields_of(DisbursementInput(), {"allocationId": "a", "amount": 0.5, "paidOn": "yesterday",
                                          "reference": "x" * 201})
    assert set(bad) == {"amount", "paidOn", "reference"}


def test_list_filter():
    assert load(ListFilter(), {"status": "ACTIVE"}) == {"status": "ACTIVE"}
    assert "status" in fields_of(ListFilter(), {"status": {"$gt": ""}})
    assert "status" in fields_of(ListFilter(), {"status": "OPEN"})


def test_views_render_money_as_two_place_strings():
    grant = {"_id": "g1", **domain.new_grant(load(GrantInput(), GRANT), NOW),
             "allocated_cents": 8645420, "disbursed_cents": 10}
    assert GrantView().dump(grant) == {
        "id": "g1", "title": "Robert Carr Fund", "donor": "RCF", "currency": "USD",
        "amount": "1455000.00", "start_date": "2016-01-01", "end_date": "2016-12-31",
        "status": "PIPELINE", "allocated": "86454.20", "disbursed": "0.10", "available": "1368545.80"}
    allocation = {"_id": "a1", **domain.new_allocation(
        {"member_id": "m1", "amount_cents": 500, "purpose": "p"}, grant, NOW)}
    assert AllocationView().dump(allocation) == {
        "id": "a1", "grant_id": "g1", "member_id": "m1", "amount": "5.00", "purpose": "p",
        "status": "PROPOSED", "disbursed": "0.00", "created_at": "2026-01-01T12:00:00+00:00"}
    disbursement = {"_id": "d1", **domain.new_disbursement(
        {"amount_cents": 250, "paid_on": date(2026, 2, 1), "reference": "TT-1"}, allocation, NOW)}
    assert DisbursementView().dump(disbursement) == {
        "id": "d1", "allocation_id": "a1", "amount": "2.50", "paid_on": "2026-02-01",
        "reference": "TT-1", "recorded_at": "2026-01-01T12:00:00+00:00"}
