"""What the grants service holds about one member (DOMAIN.md section 11,
`member_data`), on the real store: its entrypoints run in a nameko
container (tests/service/host.py) beside the members service, which
registers the members (grants hears of them by their events). Each
collection that names the member appears with the member's documents and no
one else's. And the IATI export of a grant with a MEMBERS_ONLY member, the
members service answering over the broker, names it only as an undisclosed
member organisation, its money included."""
import json
import re
import uuid

import pytest

from services.common.vocabulary import UNDISCLOSED_MEMBER
from services.grants.dependencies import INDEXES, MEMBER_DATA
from tests.helpers.events import round_closed
from tests.helpers.grants import hosted_allocation, hosted_member, proposal_input
from tests.helpers.reports import participants, transactions, valid_iati

HOSTED = ("members", "grants")
COLLECTIONS = {part.collection for part in MEMBER_DATA}
REPORT = {"narrative": "We trained 40 lawyers.", "spent": "86454.20",
          "indicators": [{"name": "Lawyers trained", "target": "40", "actual": "40"}]}


@pytest.fixture(scope="module")
def grants(host):
    return host.service("grants")


@pytest.fixture(scope="module")
def members(host, grants):
    return [hosted_member(host, grants) for _ in range(2)]


def payment(allocation_id, amount, paid_on="2026-03-01"):
    return {"allocationId": allocation_id, "amount": amount, "paidOn": paid_on,
            "reference": "TRF-0001"}


@pytest.fixture(scope="module")
def money(grants, members):
    """The first member's APPROVED allocation, paid in part and reported on,
    beside the second member's on the same grant."""
    me, other = members
    grant, mine = hosted_allocation(grants, me["id"], "86454.20")
    grants.record_disbursement(payment(mine["id"], "40000"))
    report = grants.schedule_report(mine["id"], "2026-12-31")
    grants.submit_report(report["id"], me["id"], REPORT)
    theirs = grants.propose_allocation({"grantId": grant["id"], "memberId": other["id"],
                                        "amount": "10", "purpose": "Other work"})
    return {"grant": grant, "allocation": mine, "report": report["id"], "theirs": theirs}


def exported(grants, member_id):
    data = grants.member_data(member_id)
    assert set(data) == COLLECTIONS
    json.dumps(data)  # plain JSON values only
    return data


def test_the_declarations_cover_every_collection_but_the_grants_own():
    """`grants` names no member (a donor is not one); every field is explained."""
    assert sorted(COLLECTIONS) == sorted(set(INDEXES) - {"grants"})
    for part in MEMBER_DATA:
        for name, meaning in part.fields.items():
            assert re.fullmatch(r"[A-Z][^\n]+\.", meaning), (part.collection, name)


def test_every_collection_that_names_the_member_holds_its_documents(grants, members, money):
    me = members[0]
    data = exported(grants, me["id"])
    (allocation,) = data["allocations"]
    assert (allocation["id"], allocation["grant_id"], allocation["amount_cents"],
            allocation["disbursed_cents"], allocation["status"]) == \
        (money["allocation"]["id"], money["grant"]["id"], 8645420, 4000000, "APPROVED")
    assert [h["status"] for h in allocation["history"]] == ["PROPOSED", "APPROVED"]
    assert isinstance(allocation["created_at"], str)
    (paid,) = data["disbursements"]
    assert (paid["allocation_id"], paid["amount_cents"], paid["paid_on"], paid["reference"]) == \
        (money["allocation"]["id"], 4000000, "2026-03-01", "TRF-0001")
    (report,) = data["reports"]
    assert (report["id"], report["status"], report["narrative"], report["spent_cents"]) == \
        (money["report"], "SUBMITTED", REPORT["narrative"], 8645420)
    assert [(row["name"], row["actual"]) for row in report["indicators"]] == \
        [("Lawyers trained", "40")]
    (copy,) = data["members"]
    assert copy["status"] == "ACTIVE" and copy["revision"] >= 1


def test_another_members_documents_stay_out(grants, members, money):
    other = exported(grants, members[1]["id"])
    assert [a["id"] for a in other["allocations"]] == [money["theirs"]["id"]]
    assert other["disbursements"] == other["reports"] == []
    assert money["allocation"]["id"] not in json.dumps(other)


def test_nothing_for_an_unknown_member_or_what_is_not_an_id(grants, money):
    for nobody in (uuid.uuid4().hex, None, {"$gt": ""}, "", ["x"]):
        assert grants.member_data(nobody) == {c: [] for c in COLLECTIONS}, nobody


def test_an_iati_export_names_a_members_only_member_only_as_undisclosed(host, grants, members):
    hidden = hosted_member(host, grants, visibility="MEMBERS_ONLY", countries=["UZ"],
                        constituencies=["SEX_WORKERS"], acronym="HIDDEN-ACRO")
    shown = members[0]
    grant, mine = hosted_allocation(grants, hidden["id"], "1000.50")
    theirs = grants.propose_allocation(proposal_input(grant["id"], shown["id"], "20"))
    grants.handle(round_closed("GRANT_ALLOCATION", theirs["id"], "ADOPTED"))
    grants.record_disbursement(payment(mine["id"], "1000.50", "2026-04-01"))
    text = grants.iati_many([grant["id"]])[grant["id"]]
    (activity,) = valid_iati(text).findall("iati-activity")
    for secret in (hidden["id"], hidden["name"], "HIDDEN-ACRO", "UZ", "SEX_WORKERS"):
        assert secret not in text, secret
    assert participants(activity, "4") == [(UNDISCLOSED_MEMBER, None), (shown["name"], "22")]
    assert [(t[0], t[4], t[5]) for t in transactions(activity, "2")] == \
        [("1000.50", UNDISCLOSED_MEMBER, None), ("20.00", shown["name"], "22")]
    assert [(t[0], t[4], t[5]) for t in transactions(activity, "3")] == \
        [("1000.50", UNDISCLOSED_MEMBER, None)]
