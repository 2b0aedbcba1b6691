"""Grants with a sector and yearly budget lines through the gateway (DOMAIN.md
section 10), each refusal leaving nothing behind; and the seed consortium as
demo data (services/demo.py): the USD 1,455,000 Robert Carr Fund grant for
2016-2018 with its seven partners and EHRN's year-one USD 86,454.20, approved,
paid and reported on, which exports and validates as IATI."""
import uuid

import pytest

from services import demo
from tests.helpers.grants import CREATE, ACTIVATE, approve, grant_input, grants_snapshot, propose
from tests.helpers.reports import (
    budgets, grant_iati, ok, participants, refused, review, run_cli, schedule, submit,
    transactions, valid_iati, wait_mail_drained)
from tests.support import isolate_voters, refusal, wait_read_models

BUDGET = "id amount sectorCode budgetLines { periodStart periodEnd amount }"
CREATE_BUDGET = f"mutation($i: GrantInput!) {{ createGrant(input: $i) {{ {BUDGET} }} }}"
GET_BUDGET = f"query($id: ID!) {{ grant(id: $id) {{ {BUDGET} }} }}"
DISBURSE = "mutation($i: DisbursementInput!) { recordDisbursement(input: $i) { id amount } }"


def line(start, end, amount):
    return {"periodStart": start, "periodEnd": end, "amount": amount}


def create_body(stack, **overrides):
    return stack.post(CREATE_BUDGET, {"i": grant_input(**overrides)}, stack.admin()).json()


# ---- sector and budget lines -------------------------------------------------------------------

def test_budget_lines_are_kept_in_order_and_may_sum_to_the_grant(stack):
    g = ok(create_body(stack, amount="1000.50", sectorCode="15160", budgetLines=[
        line("2027-01-01", "2027-12-31", "400"), line("2026-01-01", "2026-12-31", "600.50")]),
        "createGrant")
    expected = [line("2026-01-01", "2026-12-31", "600.50"),
                line("2027-01-01", "2027-12-31", "400.00")]
    assert (g["sectorCode"], g["budgetLines"]) == ("15160", expected)
    assert stack.gql(GET_BUDGET, {"id": g["id"]})["grant"] == g  # the same to anyone, at once
    plain = ok(create_body(stack), "createGrant")
    assert (plain["sectorCode"], plain["budgetLines"]) == ("13040", [])
    for lines in ([], None):
        empty = ok(create_body(stack, sectorCode=None, budgetLines=lines), "createGrant")
        assert (empty["sectorCode"], empty["budgetLines"]) == ("13040", [])
    # lines may leave part of the grant unbudgeted, and a line may be one day
    ok(create_body(stack, amount="1000", budgetLines=[line("2026-05-01", "2026-05-01", "1")]),
       "createGrant")


YEAR_1, YEAR_2 = ("2026-01-01", "2026-12-31"), ("2027-01-01", "2027-12-31")


@pytest.mark.parametrize("lines", [
    [line("2025-12-31", "2026-06-30", "100")],                       # starts before the grant
    [line("2027-06-01", "2028-01-01", "100")],                       # ends after the grant
    [line(*YEAR_1, "100"), line("2026-12-31", "2027-06-30", "100")],  # overlapping by a day
    [line(*YEAR_1, "100"), line(*YEAR_1, "100")],                    # the same period twice
    [line(*YEAR_1, "600"), line(*YEAR_2, "400.01")],                 # over the grant's 1000.00
    [line(*YEAR_1, "1000.01")],
    [line("2026-06-30", "2026-01-01", "100")],                       # ends before it starts
    [line(*YEAR_1, "0")],
    [line(*YEAR_1, "-100")],
    [line(*YEAR_1, "10.001")],
    [line(f"2026-01-{d:02d}", f"2026-01-{d:02d}", "1") for d in range(1, 32)]
    + [line(f"2026-02-{d:02d}", f"2026-02-{d:02d}", "1") for d in range(1, 21)],  # 51 lines
])
def test_bad_budget_lines_are_refused_and_store_nothing(stack, lines):
    before = grants_snapshot(stack)
    title = f"Bad budget {uuid.uuid4().hex[:8]}"
    body = create_body(stack, title=title, amount="1000", budgetLines=lines)
    code, _, fields = refusal(body)
    assert code == "BAD_USER_INPUT" and fields and "budgetLines" in fields, body
    assert grants_snapshot(stack) == before
    assert stack.db("grants").grants.count_documents({"title": title}) == 0


@pytest.mark.parametrize("code", ["1304", "130400", "ABCDE", "13 40", "١٣٠٤٠", ""])
def test_a_bad_sector_code_is_refused_on_its_field(stack, code):
    before = grants_snapshot(stack)
    refused(create_body(stack, sectorCode=code), "BAD_USER_INPUT", "sectorCode")
    assert grants_snapshot(stack) == before


# ---- the seed consortium ------------------------------------------------------------------------

def register_partners(stack):
    """{name: member id} of the seven partners, founding members with
    addresses of their own (the demo's may be taken by its load)."""
    ids = {}
    with stack.rpc() as rpc:
        for data in demo.HARM_REDUCTION_CONSORTIUM:
            focal = {**data["focalPoint"], "email": f"fp-{uuid.uuid4().hex[:10]}@example.org"}
            ids[data["name"]] = rpc.members.register_founding_member(
                {**data, "focalPoint": focal})["id"]
    for member_id in ids.values():
        wait_read_models(stack, member_id, can_vote=True)
    return ids


def release(stack, ids):
    """The partners withdraw and their real names are free again for the
    demo's load (as tests/integration/test_cli.py does)."""
    with stack.rpc() as rpc:
        for member_id in ids.values():
            rpc.members.withdraw_membership(member_id, "end of the consortium test")
    stack.db("members").members.update_many({"_id": {"$in": list(ids.values())}},
                                            {"$set": {"name_key": None}})


def build_consortium(stack, ids):
    """The RCNF grant ACTIVE, its seven allocations APPROVED through their
    consultations, the demo's disbursements paid; (grant, {name: allocation})."""
    suffix = f" (test {uuid.uuid4().hex[:6]})"  # the demo's load makes one of that title
    data = {**demo.RCNF_GRANT, "title": demo.RCNF_GRANT["title"] + suffix}
    g = stack.gql(CREATE, {"i": data}, stack.admin())["createGrant"]
    g = stack.gql(ACTIVATE, {"id": g["id"]}, stack.admin())["activateGrant"]
    allocations = {}
    for proposal, (name, _, _) in zip(demo.partner_allocations(g["id"], ids), demo.RCNF_PARTNERS):
        a = propose(stack, g["id"], proposal["memberId"], proposal["amount"],
                    purpose=proposal["purpose"])
        allocations[name] = approve(stack, g["id"], a["id"])
    for paid in demo.DISBURSEMENTS:
        ok(stack.post(DISBURSE, {"i": {"allocationId": allocations[paid["member"]]["id"],
                                       "amount": paid["amount"], "paidOn": paid["paidOn"],
                                       "reference": paid["reference"]}}, stack.admin()).json(),
           "recordDisbursement")
    return g, allocations


@pytest.fixture(scope="module")
def consortium(stack):
    isolate_voters(stack)
    ids = register_partners(stack)
    try:
        g, allocations = build_consortium(stack, ids)
        yield g, allocations, ids
    finally:
        release(stack, ids)
        wait_mail_drained(stack)


def test_the_seed_consortium_exports_and_validates(stack, consortium):
    g, allocations, ids = consortium
    assert (g["amount"], g["currency"], g["startDate"], g["endDate"]) == \
        ("1455000.00", "USD", "2016-01-01", "2018-12-31")
    ehrn = allocations[demo.EHRN]
    assert (ehrn["amount"], ehrn["status"]) == ("86454.20", "APPROVED")
    _, activity = grant_iati(stack, g["id"])
    assert activity.find("activity-status").get("code") == "2"
    assert budgets(activity) == [(f"{y}-01-01", f"{y}-12-31", "485000.00", "USD", "1", "1")
                                 for y in (2016, 2017, 2018)]
    types = {d["name"]: {"NGO": "22", "REGIONAL_NETWORK": "23"}[d["orgType"]]
             for d in demo.HARM_REDUCTION_CONSORTIUM}
    assert sorted(participants(activity, "4")) == sorted(types.items())
    assert [name for name, _ in participants(activity, "1")] == [demo.RCNF_GRANT["donor"]]
    commitments = {t[4]: (t[0], t[1]) for t in transactions(activity, "2")}
    assert commitments == {name: (amount, "USD") for name, amount, _ in demo.RCNF_PARTNERS}
    assert commitments[demo.EHRN] == ("86454.20", "USD")
    paid = sorted((t[4], t[0], t[3]) for t in transactions(activity, "3"))
    assert paid == sorted((d["member"], d["amount"], d["paidOn"]) for d in demo.DISBURSEMENTS)
    assert (demo.EHRN, "86454.20", "2016-03-15") in paid


def test_the_seed_consortiums_report_and_portfolio(stack, consortium):
    g, allocations, ids = consortium
    r = schedule(stack, allocations[demo.EHRN]["id"], "2017-01-31")
    assert r["overdue"] is True
    sent = submit(stack, r["id"], ids[demo.EHRN], demo.EHRN_REPORT)
    assert sent["spent"] == "86454.20" and sent["overdue"] is False
    assert "150000" in [i["actual"] for i in sent["indicators"]]
    assert review(stack, r["id"], True, "Accepted.")["status"] == "ACCEPTED"
    result = run_cli(stack, "export", "iati")
    assert result.exit_code == 0, result.output
    root = valid_iati(result.stdout)
    mine = [a for a in root.findall("iati-activity")
            if a.findtext("iati-identifier").endswith("-" + g["id"])]
    assert len(mine) == 1 and len(mine[0].findall("transaction")) == 9
    result = run_cli(stack, "export", "grant", g["id"], "reports")
    assert result.exit_code == 0 and r["id"] in result.stdout and "86454.20" in result.stdout
