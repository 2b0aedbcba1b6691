"""Grants through the gateway, as a client sends them: creation, activation,
validation of exact money, access, NOT_FOUND for ids of any shape,
pagination, totals, nested fields, and every CONFLICT on disbursements, each
refusal checked to leave nothing half-done behind."""
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers.grants import (
    ACTIVATE, CREATE, DISBURSE, GET_GRANT, PROPOSE, approve, assert_books_balance, create_grant,
    disburse_body, get_allocation, get_grant, grant_input, grants_snapshot, propose, propose_body)
from tests.support import announced, founders, isolate_voters, refusal

LIST = """query($s: GrantStatus, $f: Int, $a: String) { grants(status: $s, first: $f, after: $a) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id status title } } } }"""
MEMBER_ALLOCATIONS = "query($id: ID!) { member(id: $id) { id status allocations { id status amount grant { id } } } }"

ODD_ID = '{"$gt": ""}'
AMOUNT_IN_MESSAGE = re.compile(r"Only ([0-9]+\.[0-9]{2}) ([A-Z]{3})")


# ---- fixtures ------------------------------------------------------------------

@pytest.fixture(scope="module")
def people(stack):
    """Three voting members of our own (no one else's votes needed)."""
    isolate_voters(stack)
    return [m["id"] for m in founders(stack, 3)]


# ---- creation, activation -----------------------------------------------------------

def test_create_grant_is_pipeline_with_exact_amounts(stack):
    before = grants_snapshot(stack)
    g = create_grant(stack, title="RCF Eurasia 2026", currency="eur", amount="1455000")
    assert g["status"] == "PIPELINE" and g["currency"] == "EUR" and g["title"] == "RCF Eurasia 2026"
    assert (g["amount"], g["allocated"], g["disbursed"], g["available"]) == \
        ("1455000.00", "0.00", "0.00", "1455000.00")
    assert (g["startDate"], g["endDate"]) == ("2026-01-01", "2027-12-31")
    stored = stack.db("grants").grants.find_one({"_id": g["id"]})
    assert stored["amount_cents"] == 145500000 and isinstance(stored["amount_cents"], int)
    assert len(announced(stack.db("grants"), "grant_created", grant_id=g["id"])) == 1
    assert grants_snapshot(stack)["grants"] == before["grants"] + 1
    # anyone, also anonymous, may read it, with the same exact strings
    seen = get_grant(stack, g["id"])
    assert seen["amount"] == "1455000.00" and seen["allocations"] == []
    # cents survive exactly
    g2 = create_grant(stack, amount="86454.2")
    assert (g2["amount"], g2["available"]) == ("86454.20", "86454.20")
    # a Decimal written as a GraphQL literal number is taken as its text
    body = stack.post("""mutation { createGrant(input: {title: "Literal", donor: "UNODC",
        currency: "USD", amount: 250000, startDate: "2026-01-01", endDate: "2026-12-31"}) {
        amount } }""", None, stack.admin()).json()
    assert body["data"]["createGrant"]["amount"] == "250000.00", body


def test_activate_grant_then_again_is_conflict(stack):
    g = create_grant(stack)
    active = stack.gql(ACTIVATE, {"id": g["id"]}, stack.admin())["activateGrant"]
    assert active["status"] == "ACTIVE" and active["id"] == g["id"]
    assert get_grant(stack, g["id"])["status"] == "ACTIVE"
    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(stack.post(ACTIVATE, {"id": g["id"]}, stack.admin()).json())
    assert code == "CONFLICT" and "ACTIVE" in message
    assert grants_snapshot(stack, g["id"]) == before
    assert len(announced(stack.db("grants"), "grant_activated", grant_id=g["id"])) == 1


# ---- validation ------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,bad", [
    ("currency", "XYZ", "currency"),
    ("currency", "XXX", "currency"),
    ("currency", "", "currency"),
    ("amount", "1e309", "amount"),
    ("amount", "-5", "amount"),
    ("amount", "0", "amount"),
    ("amount", "0.00", "amount"),
    ("amount", "10.005", "amount"),
    ("amount", "NaN", "amount"),
    ("amount", "Infinity", "amount"),
    ("amount", "1,000.00", "amount"),
    ("amount", " ", "amount"),
    ("amount", "1" * 16, "amount"),
    ("amount", "١٢٣", "amount"),            # Arabic-Indic digits are not ASCII digits
    ("endDate", "2025-12-31", "endDate"),  # before startDate 2026-01-01
    ("title", "", "title"),
    ("donor", "d" * 201, "donor"),
])
def test_create_grant_refuses_bad_input_and_stores_nothing(stack, field, value, bad):
    data = grant_input(**{field: value})
    before = grants_snapshot(stack)
    code, message, fields = refusal(stack.post(CREATE, {"i": data}, stack.admin()).json())
    assert code == "BAD_USER_INPUT", message
    assert bad in fields and all(isinstance(m, str) and m for m in fields[bad]), fields
    assert grants_snapshot(stack) == before
    assert stack.db("grants").grants.count_documents({"title": data["title"]}) == 0


def test_a_bad_amount_as_a_literal_is_refused_on_the_field(stack):
    before = grants_snapshot(stack)
    body = stack.post("""mutation { createGrant(input: {title: "Exponent", donor: "D", currency: "USD",
        amount: 1e309, startDate: "2026-01-01", endDate: "2026-12-31"}) { id } }""",
                      None, stack.admin()).json()
    code, _, fields = refusal(body)
    assert code == "BAD_USER_INPUT" and "amount" in fields
    assert grants_snapshot(stack) == before


@pytest.mark.parametrize("amount", [1455000.5, 0.1, 100.0, 1.0e20, True])
def test_a_json_float_for_a_decimal_is_refused(stack, amount):
    data = grant_input(amount=amount)
    before = grants_snapshot(stack)
    r = stack.post(CREATE, {"i": data}, stack.admin())
    code, message, _ = refusal(r.json())
    assert code == "BAD_USER_INPUT" and "Decimal" in message, message
    assert r.json().get("data") is None
    assert grants_snapshot(stack) == before
    assert stack.db("grants").grants.count_documents({"title": data["title"]}) == 0


def test_bad_dates_are_refused(stack):
    before = grants_snapshot(stack)
    for start, end in [("2026-02-30", "2026-12-31"), ("01/01/2026", "2026-12-31"),
                       ("2026-01-01", "tomorrow")]:
        r = stack.post(CREATE, {"i": grant_input(startDate=start, endDate=end)}, stack.admin())
        code, _, _ = refusal(r.json())
        assert code == "BAD_USER_INPUT"
    assert grants_snapshot(stack) == before


def test_proposal_and_disbursement_inputs_are_validated(stack, people):
    g = create_grant(stack, activate=True, amount="1000")
    before = grants_snapshot(stack, g["id"])
    for amount in ["0", "-1", "1.001", "1e3", "100000000000000000"]:
        code, _, fields = refusal(propose_body(stack, g["id"], people[0], amount))
        assert code == "BAD_USER_INPUT" and "amount" in fields, (amount, fields)
    code, _, fields = refusal(propose_body(stack, g["id"], people[0], "10", purpose=" "))
    assert code == "BAD_USER_INPUT" and "purpose" in fields
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    code, _, fields = refusal(propose_body(stack, g["id"], people[0], "10", closesAt=past))
    assert code == "BAD_USER_INPUT" and "closesAt" in fields
    r = stack.post(PROPOSE, {"i": {"grantId": g["id"], "memberId": people[0], "amount": 10.5,
                                   "purpose": "float"}}, stack.admin())
    assert refusal(r.json())[0] == "BAD_USER_INPUT"
    for amount, paid_on, bad in [("0", "2026-03-01", "amount"), ("5.555", "2026-03-01", "amount"),
                                 ("5", "2026-13-01", None)]:
        code, _, fields = refusal(disburse_body(stack, "whatever", amount, paid_on))
        assert code == "BAD_USER_INPUT", (amount, paid_on)
        if bad:
            assert bad in fields
    assert grants_snapshot(stack, g["id"]) == before


# ---- ids that name nothing ------------------------------------------------------------

@pytest.mark.parametrize("unknown", ["nope", "0" * 24, ODD_ID, "x" * 500])
def test_unknown_ids_are_not_found_and_null(stack, people, unknown):
    g = create_grant(stack, activate=True, amount="1000")
    before = grants_snapshot(stack, g["id"])
    assert stack.gql(GET_GRANT, {"id": unknown})["grant"] is None
    code, message, _ = refusal(stack.post(ACTIVATE, {"id": unknown}, stack.admin()).json())
    assert code == "NOT_FOUND" and "grant" in message
    code, message, _ = refusal(propose_body(stack, unknown, people[0], "10"))
    assert code == "NOT_FOUND" and "grant" in message
    code, message, _ = refusal(propose_body(stack, g["id"], unknown, "10"))
    assert code == "NOT_FOUND" and "member" in message
    code, message, _ = refusal(disburse_body(stack, unknown, "10"))
    assert code == "NOT_FOUND" and "allocation" in message
    assert grants_snapshot(stack, g["id"]) == before


def test_an_operator_object_as_an_id_matches_nothing(stack, people):
    """A JSON object where an ID goes is not an ID (and never a query)."""
    create_grant(stack)  # there is something a {"$gt": ""} could match
    before = grants_snapshot(stack)
    op = {"$gt": ""}
    r = stack.post(GET_GRANT, {"id": op})
    assert r.json().get("errors") and not (r.json().get("data") or {}).get("grant")
    assert refusal(stack.post(ACTIVATE, {"id": op}, stack.admin()).json())[0] == "BAD_USER_INPUT"
    r = stack.post(PROPOSE, {"i": {"grantId": op, "memberId": people[0], "amount": "1",
                                   "purpose": "p"}}, stack.admin())
    assert refusal(r.json())[0] == "BAD_USER_INPUT"
    r = stack.post(DISBURSE, {"i": {"allocationId": op, "amount": "1", "paidOn": "2026-01-01"}},
                   stack.admin())
    assert refusal(r.json())[0] == "BAD_USER_INPUT"
    assert grants_snapshot(stack) == before


# ---- access ----------------------------------------------------------------------------

def test_only_admin_may_change_grants(stack, people):
    g = create_grant(stack, activate=True, amount="1000")
    pipeline = create_grant(stack)
    before = grants_snapshot(stack, g["id"])
    member = stack.member_token(people[0])
    cases = [
        (CREATE, {"i": grant_input()}),
        (ACTIVATE, {"id": pipeline["id"]}),
        (PROPOSE, {"i": {"grantId": g["id"], "memberId": people[0], "amount": "10", "purpose": "p"}}),
        (DISBURSE, {"i": {"allocationId": "any", "amount": "10", "paidOn": "2026-01-01"}}),
    ]
    for query, variables in cases:
        code, message, _ = refusal(stack.post(query, variables, member).json())
        assert code == "FORBIDDEN" and "ADMIN" in message, (query, message)
        code, _, _ = refusal(stack.post(query, variables).json())
        assert code == "UNAUTHENTICATED", query
    bad = stack.post(CREATE, {"i": grant_input()}, "not-a-jwt")
    assert bad.status_code == 401 and refusal(bad.json())[0] == "UNAUTHENTICATED"
    assert grants_snapshot(stack, g["id"]) == before
    assert get_grant(stack, pipeline["id"])["status"] == "PIPELINE"
    # but anyone may read grants
    assert get_grant(stack, g["id"], member)["amount"] == "1000.00"
    assert get_grant(stack, g["id"])["amount"] == "1000.00"


# ---- lists -----------------------------------------------------------------------------

def test_grants_paginate_by_status_without_duplicates(stack):
    pipeline = [create_grant(stack)["id"] for _ in range(5)]
    active = [create_grant(stack, activate=True)["id"] for _ in range(3)]

    def walk(status, first):
        seen, after, pages = [], None, 0
        while True:
            page = stack.gql(LIST, {"s": status, "f": first, "a": after})["grants"]
            pages += 1
            assert len(page["edges"]) <= first
            seen += [e["node"] for e in page["edges"]]
            if page["edges"]:
                assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
            if not page["pageInfo"]["hasNextPage"]:
                return seen, page["totalCount"], pages
            after = page["pageInfo"]["endCursor"]
            assert pages < 200

    nodes, total, pages = walk("PIPELINE", 2)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)) == total and pages >= 3
    assert set(pipeline) <= set(ids) and not set(active) & set(ids)
    assert {n["status"] for n in nodes} == {"PIPELINE"}
    nodes, total, _ = walk("ACTIVE", 2)
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids)) == total and set(active) <= set(ids)
    assert {n["status"] for n in nodes} == {"ACTIVE"}
    everything, total_all, _ = walk(None, 3)
    assert len({n["id"] for n in everything}) == total_all >= len(pipeline) + len(active)
    # created order: our pipeline grants come in the order we made them
    order = [i for i in (n["id"] for n in everything) if i in pipeline]
    assert order == pipeline
    empty = stack.gql(LIST, {"s": "CLOSED", "f": 5, "a": None})["grants"]
    assert empty["edges"] == [] or {e["node"]["status"] for e in empty["edges"]} == {"CLOSED"}
    assert stack.gql(LIST, {"s": None, "f": 0, "a": None})["grants"]["edges"] == []


def test_bad_cursors_and_page_sizes_are_bad_user_input(stack):
    for variables in [{"f": 2, "a": "garbage"}, {"f": 2, "a": ODD_ID}, {"f": -1}, {"f": 100000}]:
        body = stack.post(LIST, variables).json()
        code, _, fields = refusal(body)
        assert code == "BAD_USER_INPUT" and fields, (variables, body)


# ---- totals and nested fields -------------------------------------------------------------

def test_totals_and_nested_fields(stack, people):
    a_member, b_member, _ = people
    g = create_grant(stack, activate=True, amount="1000", currency="USD")
    a = propose(stack, g["id"], a_member, "300", purpose="Community-led monitoring")
    assert a["status"] == "PROPOSED" and a["amount"] == "300.00" and a["disbursed"] == "0.00"
    assert a["grant"]["id"] == g["id"] and a["member"]["id"] == a_member
    assert (a["grant"]["allocated"], a["grant"]["available"]) == ("300.00", "700.00")
    assert a["disbursements"] == []
    b = propose(stack, g["id"], b_member, "200.5", purpose="Advocacy")
    assert b["amount"] == "200.50"
    seen = get_grant(stack, g["id"])
    assert (seen["allocated"], seen["disbursed"], seen["available"]) == ("500.50", "0.00", "499.50")
    assert [x["id"] for x in seen["allocations"]] == [a["id"], b["id"]]

    approved = approve(stack, g["id"], a["id"])
    assert approved["consultation"]["kind"] == "GRANT_ALLOCATION"
    assert approved["consultation"]["subjectId"] == a["id"]
    assert approved["consultation"]["outcome"] == "ADOPTED"
    assert "300.00 USD" in approved["consultation"]["title"]
    assert a_member not in {m["id"] for m in approved["consultation"]["eligibleMembers"]}

    d1 = stack.gql(DISBURSE, {"i": {"allocationId": a["id"], "amount": "100", "paidOn": "2026-03-01",
                                    "reference": "TR-1"}}, stack.admin())["recordDisbursement"]
    assert d1 == {"id": d1["id"], "amount": "100.00", "paidOn": "2026-03-01", "reference": "TR-1"}
    d2 = stack.gql(DISBURSE, {"i": {"allocationId": a["id"], "amount": "50.25",
                                    "paidOn": "2026-04-01"}}, stack.admin())["recordDisbursement"]
    assert d2["reference"] is None and d2["amount"] == "50.25"

    seen = get_grant(stack, g["id"], stack.member_token(a_member))
    assert (seen["allocated"], seen["disbursed"], seen["available"]) == ("500.50", "150.25", "499.50")
    by_id = {x["id"]: x for x in seen["allocations"]}
    assert by_id[a["id"]]["disbursed"] == "150.25" and by_id[a["id"]]["status"] == "APPROVED"
    assert [(d["id"], d["amount"], d["paidOn"]) for d in by_id[a["id"]]["disbursements"]] == \
        [(d1["id"], "100.00", "2026-03-01"), (d2["id"], "50.25", "2026-04-01")]
    assert by_id[b["id"]]["disbursed"] == "0.00" and by_id[b["id"]]["status"] == "PROPOSED"
    assert by_id[b["id"]]["consultation"]["status"] == "OPEN"
    assert by_id[b["id"]]["member"]["id"] == b_member and by_id[b["id"]]["grant"]["id"] == g["id"]

    mine = stack.gql(MEMBER_ALLOCATIONS, {"id": a_member})["member"]["allocations"]
    assert a["id"] in {x["id"] for x in mine} and b["id"] not in {x["id"] for x in mine}
    assert {x["grant"]["id"] for x in mine if x["id"] == a["id"]} == {g["id"]}
    assert_books_balance(stack, g["id"])
    assert len(announced(stack.db("grants"), "disbursement_recorded", allocation_id=a["id"])) == 2


def test_reservations_beyond_the_grant_are_conflict(stack, people):
    g = create_grant(stack, amount="1000", currency="USD")  # PIPELINE: proposals allowed
    propose(stack, g["id"], people[0], "999.99")
    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(propose_body(stack, g["id"], people[1], "0.02"))
    assert code == "CONFLICT" and "0.01 USD" in message and "available" in message, message
    assert grants_snapshot(stack, g["id"]) == before
    ok = propose(stack, g["id"], people[1], "0.01")
    assert ok["grant"]["available"] == "0.00" and ok["grant"]["allocated"] == "1000.00"
    code, message, _ = refusal(propose_body(stack, g["id"], people[1], "0.01"))
    assert code == "CONFLICT" and "0.00 USD" in message
    assert_books_balance(stack, g["id"])


def test_disbursement_conflicts_leave_nothing_behind(stack, people):
    g = create_grant(stack, amount="1000", currency="EUR")  # stays PIPELINE for now
    a = propose(stack, g["id"], people[0], "300")
    b = propose(stack, g["id"], people[1], "100")

    # on a PROPOSED allocation
    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(disburse_body(stack, b["id"], "10"))
    assert code == "CONFLICT" and "PROPOSED" in message
    assert grants_snapshot(stack, g["id"]) == before

    # on an APPROVED allocation of a PIPELINE grant
    approve(stack, g["id"], a["id"])
    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(disburse_body(stack, a["id"], "10"))
    assert code == "CONFLICT" and "PIPELINE" in message
    assert grants_snapshot(stack, g["id"]) == before

    stack.gql(ACTIVATE, {"id": g["id"]}, stack.admin())
    assert not disburse_body(stack, a["id"], "120.50").get("errors")
    # over the remaining amount: says how much remains
    before = grants_snapshot(stack, g["id"])
    code, message, _ = refusal(disburse_body(stack, a["id"], "179.51"))
    assert code == "CONFLICT" and "179.50 EUR" in message, message
    found = AMOUNT_IN_MESSAGE.search(message)
    assert found and found.groups() == ("179.50", "EUR")
    assert grants_snapshot(stack, g["id"]) == before
    a_now = get_allocation(stack, g["id"], a["id"])
    assert a_now["disbursed"] == "120.50" and len(a_now["disbursements"]) == 1
    # exactly the rest fits, and then nothing more
    assert not disburse_body(stack, a["id"], "179.50").get("errors")
    code, message, _ = refusal(disburse_body(stack, a["id"], "0.01"))
    assert code == "CONFLICT" and "0.00 EUR" in message
    seen = get_grant(stack, g["id"])
    assert (seen["allocated"], seen["disbursed"], seen["available"]) == ("400.00", "300.00", "600.00")
    assert_books_balance(stack, g["id"])
