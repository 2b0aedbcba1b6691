"""Reports and IATI in the gateway, on the real schema with the grants and
members services replaced by their answers (the pattern of the other
tests/unit/test_gateway_*.py): who sees which report (services/gateway/reports.py),
who may make each report mutation, what is sent to grants, the new Grant
fields, and the cost of the web app's report pages. The rules themselves
(grants) and the whole way through the real services are
tests/integration/."""
import asyncio
from types import SimpleNamespace

import pytest
from graphql import parse

from services.common import config
from services.common.errors import BadUserInput
from services.gateway.auth import Viewer
from services.gateway.limits import check_cost
from services.gateway.loaders import Loaders
from services.gateway.reports import ONLY_THE_MEMBER, OVERDUE_LIMIT, sees
from services.gateway.schema import schema
from tests.helpers.recorded import RecordedServices
from tests.unit.test_gateway_limits import cost

ADMIN = Viewer(role="ADMIN", sub="secretariat")
M1 = Viewer(role="MEMBER", member_id="m1", sub="m1")
M2 = Viewer(role="MEMBER", member_id="m2", sub="m2")
M3 = Viewer(role="MEMBER", member_id="m3", sub="m3")  # no allocation of its own
ANONYMOUS = Viewer()

GRANT = {"id": "g1", "title": "Robert Carr Fund 2016-2018", "donor": "RCNF", "currency": "USD",
         "amount": "1455000.00", "start_date": "2016-01-01", "end_date": "2018-12-31",
         "status": "ACTIVE", "allocated": "200000.00", "disbursed": "86454.20",
         "available": "1255000.00", "sector_code": "13040", "closed_at": None,
         "budget_lines": [{"period_start": "2016-01-01", "period_end": "2016-12-31",
                           "amount": "485000.00"}]}
ALLOCATIONS = [
    {"id": "a1", "grant_id": "g1", "member_id": "m1", "amount": "100000.00", "purpose": "x",
     "status": "APPROVED", "disbursed": "86454.20"},
    {"id": "a2", "grant_id": "g1", "member_id": "m2", "amount": "100000.00", "purpose": "y",
     "status": "APPROVED", "disbursed": "0.00"},
]


def report_view(report_id, allocation, status, **more):
    return {"id": report_id, "allocation_id": allocation["id"], "grant_id": "g1",
            "member_id": allocation["member_id"], "due_on": "2017-01-31", "status": status,
            "overdue": False, "narrative": None, "spent": None, "indicators": [],
            "submitted_at": None, "review_note": None, "reviewed_at": None, **more}


REPORTS = [
    report_view("r1", ALLOCATIONS[0], "DUE", overdue=True),
    report_view("r2", ALLOCATIONS[0], "ACCEPTED", narrative="Trained 40 lawyers.",
                spent="86454.20", submitted_at="2017-01-20T10:00:00+00:00",
                indicators=[{"name": "Views of the campaign video", "unit": None,
                             "target": None, "actual": "150000"}]),
    report_view("r3", ALLOCATIONS[1], "SUBMITTED", narrative="Draft.", spent="10.00"),
    report_view("r4", ALLOCATIONS[1], "ACCEPTED", narrative="Done.", spent="0.00"),
]


class FakeServices(RecordedServices):
    """The answers of grants and members, and every call made (service, method, args)."""

    def grants_get_many(self, ids):
        return [GRANT] if "g1" in ids else []

    def grants_allocations_by_grants(self, ids):
        return {"g1": ALLOCATIONS} if "g1" in ids else {}

    def grants_get_allocations(self, ids):
        return [a for a in ALLOCATIONS if a["id"] in ids]

    def grants_reports_by_allocations(self, ids):
        return {i: [r for r in REPORTS if r["allocation_id"] == i] for i in ids}

    def grants_get_reports(self, ids):
        return [r for r in REPORTS if r["id"] in ids]

    def grants_overdue_reports(self, limit):
        return [REPORTS[0]]

    def grants_iati_many(self, ids):
        return {i: f"<iati-activities version=\"2.03\"><!-- {i} --></iati-activities>"
                for i in ids if i == "g1"}

    def grants_schedule_report(self, allocation_id, due_on):
        return report_view("r9", ALLOCATIONS[0], "DUE", due_on=due_on)

    def grants_submit_report(self, report_id, member_id, data):
        if not data["narrative"].strip():
            raise BadUserInput("The report is not valid.", {"narrative": ["Write what was done."]})
        return {**REPORTS[0], "status": "SUBMITTED", "narrative": data["narrative"],
                "spent": data["spent"], "indicators": data["indicators"]}

    def grants_review_report(self, report_id, accept, note):
        return {**REPORTS[2], "status": "ACCEPTED" if accept else "CHANGES_REQUESTED",
                "review_note": note}

    def grants_close_grant(self, grant_id):
        return {**GRANT, "status": "CLOSED", "closed_at": "2019-01-02T00:00:00+00:00"}

    def members_get_many(self, ids):
        return [{"id": i, "name": f"Member {i}", "status": "ACTIVE"} for i in ids]


def run(viewer, query, variables=None):
    """(data, errors, the fake services) of `query` run as `viewer`."""
    services = FakeServices()
    ctx = SimpleNamespace(viewer=viewer, call=services)
    ctx.loaders = Loaders(ctx)
    result = asyncio.run(schema.execute_async(query, context_value=ctx,
                                              variable_values=variables))
    return result.data, result.errors, services


def codes(errors):
    return [e.original_error.code for e in errors or ()]


# ---- who sees which report ----------------------------------------------------------------

ALLOCATION_REPORTS = "{ grant(id: \"g1\") { allocations { id reports { id status } } } }"


def seen(viewer):
    data, errors, services = run(viewer, ALLOCATION_REPORTS)
    assert not errors, errors
    return {a["id"]: [r["id"] for r in a["reports"]] for a in data["grant"]["allocations"]}, services


def test_admin_sees_every_report():
    assert seen(ADMIN)[0] == {"a1": ["r1", "r2"], "a2": ["r3", "r4"]}


@pytest.mark.parametrize("viewer,expected", [
    (M1, {"a1": ["r1", "r2"], "a2": ["r4"]}),   # all of its own, only ACCEPTED of another's
    (M2, {"a1": ["r2"], "a2": ["r3", "r4"]}),
    (M3, {"a1": ["r2"], "a2": ["r4"]}),         # no allocation: ACCEPTED only
])
def test_a_member_sees_its_own_reports_and_the_accepted_ones_of_others(viewer, expected):
    assert seen(viewer)[0] == expected


def test_anonymous_sees_no_report_and_nothing_is_asked_for_it():
    found, services = seen(ANONYMOUS)
    assert found == {"a1": [], "a2": []}
    assert "reports_by_allocations" not in services.methods()


def test_the_reports_of_every_allocation_cost_one_call():
    _, services = seen(ADMIN)
    assert services.methods().count("reports_by_allocations") == 1


@pytest.mark.parametrize("viewer,report_id,visible", [
    (ADMIN, "r3", True), (M2, "r3", True), (M1, "r3", False), (M1, "r4", True),
    (M1, "r1", True), (M2, "r1", False), (ANONYMOUS, "r4", False), (ADMIN, "nope", False),
    (ADMIN, "{\"$gt\": \"\"}", False),
])
def test_report_by_id_is_null_unless_the_viewer_sees_it(viewer, report_id, visible):
    data, errors, services = run(viewer, "query($id: ID!) { report(id: $id) { id status } }",
                                 {"id": report_id})
    assert not errors, errors
    assert (data["report"] is not None) == visible
    if viewer is ANONYMOUS:
        assert services.calls == []


def test_the_rule_in_one_table():
    accepted, due = REPORTS[1], REPORTS[0]  # both on m1's allocation
    assert [sees(v, accepted) for v in (ADMIN, M1, M2, ANONYMOUS)] == [True, True, True, False]
    assert [sees(v, due) for v in (ADMIN, M1, M2, ANONYMOUS)] == [True, True, False, False]


def test_a_report_shows_its_fields_and_its_allocation():
    q = ("{ report(id: \"r2\") { id dueOn status overdue narrative spent submittedAt reviewNote "
         "indicators { name unit target actual } allocation { id member { name } "
         "grant { title } } } }")
    data, errors, services = run(M2, q)
    assert not errors, errors
    assert data["report"] == {
        "id": "r2", "dueOn": "2017-01-31", "status": "ACCEPTED", "overdue": False,
        "narrative": "Trained 40 lawyers.", "spent": "86454.20",
        "submittedAt": "2017-01-20T10:00:00+00:00", "reviewNote": None,
        "indicators": [{"name": "Views of the campaign video", "unit": None, "target": None,
                        "actual": "150000"}],
        "allocation": {"id": "a1", "member": {"name": "Member m1"},
                       "grant": {"title": GRANT["title"]}}}
    assert ("grants", "get_allocations", (["a1"],)) in services.calls


# ---- the mutations ----------------------------------------------------------------------

SUBMIT = ("mutation($id: ID!, $input: ReportInput!) { submitReport(id: $id, input: $input) "
          "{ id status narrative spent indicators { name unit target actual } } }")
REPORT_INPUT = {"narrative": "Trained 40 lawyers.", "spent": "86454.20",
                "indicators": [{"name": "Lawyers trained", "unit": "people", "actual": "40"},
                               {"name": "Views", "target": "100000", "actual": "150000"}]}


def test_admin_cannot_submit_a_report():
    _, errors, services = run(ADMIN, SUBMIT, {"id": "r1", "input": REPORT_INPUT})
    assert codes(errors) == ["FORBIDDEN"] and errors[0].message == ONLY_THE_MEMBER
    assert services.calls == []


def test_anonymous_cannot_submit_a_report():
    _, errors, services = run(ANONYMOUS, SUBMIT, {"id": "r1", "input": REPORT_INPUT})
    assert codes(errors) == ["UNAUTHENTICATED"] and services.calls == []


def test_a_member_submits_with_its_own_member_id():
    data, errors, services = run(M1, SUBMIT, {"id": "r1", "input": REPORT_INPUT})
    assert not errors, errors
    assert services.calls == [("grants", "submit_report", ("r1", "m1", {
        "narrative": "Trained 40 lawyers.", "spent": "86454.20",
        "indicators": [{"name": "Lawyers trained", "unit": "people", "target": None,
                        "actual": "40"},
                       {"name": "Views", "unit": None, "target": "100000",
                        "actual": "150000"}]}))]
    assert data["submitReport"]["status"] == "SUBMITTED"
    assert data["submitReport"]["indicators"][1]["target"] == "100000"


def test_a_refusal_of_grants_reaches_the_client_with_its_fields():
    _, errors, _ = run(M1, SUBMIT, {"id": "r1", "input": {**REPORT_INPUT, "narrative": " "}})
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0].original_error.fields == {"narrative": ["Write what was done."]}


SCHEDULE = 'mutation { scheduleReport(allocationId: "a1", dueOn: "2017-01-31") { id status dueOn } }'
REVIEW = 'mutation { reviewReport(id: "r3", accept: false, note: "Add the receipts.") { status reviewNote } }'
CLOSE = 'mutation { closeGrant(id: "g1") { status closedAt } }'


@pytest.mark.parametrize("query", [SCHEDULE, REVIEW, CLOSE])
@pytest.mark.parametrize("viewer,code", [(M1, "FORBIDDEN"), (ANONYMOUS, "UNAUTHENTICATED")])
def test_only_admin_schedules_reviews_and_closes(query, viewer, code):
    _, errors, services = run(viewer, query)
    assert codes(errors) == [code] and services.calls == []


def test_admin_schedules_reviews_and_closes():
    data, errors, services = run(ADMIN, SCHEDULE)
    assert not errors and data["scheduleReport"] == {"id": "r9", "status": "DUE",
                                                     "dueOn": "2017-01-31"}
    assert services.calls == [("grants", "schedule_report", ("a1", "2017-01-31"))]
    data, errors, services = run(ADMIN, REVIEW)
    assert not errors and data["reviewReport"] == {"status": "CHANGES_REQUESTED",
                                                   "reviewNote": "Add the receipts."}
    assert services.calls == [("grants", "review_report", ("r3", False, "Add the receipts."))]
    data, errors, services = run(ADMIN, CLOSE)
    assert not errors and data["closeGrant"]["status"] == "CLOSED"
    assert services.calls == [("grants", "close_grant", ("g1",))]


def test_a_malformed_due_date_is_refused_before_grants_is_asked():
    _, errors, services = run(ADMIN, SCHEDULE.replace("2017-01-31", "31/01/2017"))
    assert errors and services.calls == []


OVERDUE = "{ overdueReports { id overdue allocation { member { name } grant { title } } } }"


@pytest.mark.parametrize("viewer,code", [(M1, "FORBIDDEN"), (ANONYMOUS, "UNAUTHENTICATED")])
def test_overdue_reports_are_the_secretariats(viewer, code):
    _, errors, services = run(viewer, OVERDUE)
    assert codes(errors) == [code] and services.calls == []


def test_admin_lists_overdue_reports():
    data, errors, services = run(ADMIN, OVERDUE)
    assert not errors, errors
    assert data["overdueReports"] == [{"id": "r1", "overdue": True, "allocation": {
        "member": {"name": "Member m1"}, "grant": {"title": GRANT["title"]}}}]
    assert services.calls[0] == ("grants", "overdue_reports", (OVERDUE_LIMIT,))


# ---- grants: sector, budget lines, IATI ---------------------------------------------------

def test_a_grant_shows_its_sector_budget_lines_and_iati_xml():
    q = ('{ grant(id: "g1") { sectorCode closedAt budgetLines { periodStart periodEnd amount } '
         'iatiXml } }')
    data, errors, services = run(ANONYMOUS, q)
    assert not errors, errors
    assert data["grant"]["sectorCode"] == "13040" and data["grant"]["closedAt"] is None
    assert data["grant"]["budgetLines"] == [{"periodStart": "2016-01-01",
                                             "periodEnd": "2016-12-31", "amount": "485000.00"}]
    assert data["grant"]["iatiXml"].startswith("<iati-activities")
    assert ("grants", "iati_many", (["g1"],)) in services.calls


CREATE = ("mutation($input: GrantInput!) { createGrant(input: $input) { id sectorCode } }")
GRANT_INPUT = {"title": "T", "donor": "D", "currency": "USD", "amount": "100.00",
               "startDate": "2016-01-01", "endDate": "2018-12-31"}


def test_create_grant_sends_the_sector_code_and_budget_lines():
    services = FakeServices()
    services.grants_create_grant = lambda data: {**GRANT, "sector_code": data["sectorCode"]}
    ctx = SimpleNamespace(viewer=ADMIN, call=services)
    ctx.loaders = Loaders(ctx)
    lines = [{"periodStart": "2016-01-01", "periodEnd": "2016-12-31", "amount": "50.00"}]
    for given, sector, budget in [({}, "13040", None),
                                  ({"sectorCode": "12262", "budgetLines": lines}, "12262", lines)]:
        services.calls.clear()
        result = asyncio.run(schema.execute_async(
            CREATE, context_value=ctx, variable_values={"input": {**GRANT_INPUT, **given}}))
        assert not result.errors, result.errors
        (_, method, (data,)), = services.calls
        assert method == "create_grant" and data["sectorCode"] == sector
        assert data.get("budgetLines") == budget


# ---- the cost of the web app's report pages ----------------------------------------------

DEFAULTS = config.SettingsSchema().load({"COALITION_JWT_SECRET": "s" * 40})
PAGES = [
    # the member's organisation page: its allocations and their reports
    '{ member(id: "m1") { allocations { id amount grant { id title currency } '
    'reports { id dueOn status overdue } } } }',
    # a report's page (member and secretariat)
    '{ report(id: "r1") { id dueOn status overdue narrative spent submittedAt reviewNote '
    'indicators { name unit target actual } allocation { id amount member { id name } '
    'grant { id title currency } } } }',
    # the secretariat's grant page
    '{ grant(id: "g1") { id title sectorCode budgetLines { periodStart periodEnd amount } '
    'allocations { id amount status member { id name } disbursements { id amount paidOn } '
    'consultation { id status } reports { id dueOn status overdue submittedAt '
    'indicators { name actual } } } } }',
    # the dashboard
    '{ overdueReports { id dueOn allocation { member { name } grant { id title } } } '
    'grants(first: 50) { edges { node { id title status } } } }',
]


@pytest.mark.parametrize("query", PAGES)
def test_the_web_apps_report_pages_fit_the_default_cost(query):
    assert not check_cost(schema.graphql_schema, parse(query), None, None,
                          DEFAULTS["UNPAGED_LIST_ESTIMATE"], DEFAULTS["MAX_QUERY_COST"])


def test_the_new_lists_count_their_own_estimates():
    assert cost('{ grant(id: "g1") { budgetLines { amount } } }') == 1 + 10
    assert cost('{ report(id: "r1") { indicators { name } } }') == 1 + 20
    assert cost('{ grant(id: "g1") { allocations { reports { id } } } }') == 1 + 10 * (1 + 10)
    assert cost("{ overdueReports { id } }") == OVERDUE_LIMIT


def test_an_iati_document_counts_like_a_list():
    assert cost('{ grant(id: "g1") { id iatiXml } }') == 1 + 10
    assert cost("{ grants(first: 20) { edges { node { iatiXml } } } }") == 1 + 20 * (2 + 10)


def test_every_indicator_of_every_report_of_every_grant_is_too_much():
    q = "{ grants(first: 50) { edges { node { allocations { reports { indicators { name } } } } } } }"
    errors = check_cost(schema.graphql_schema, parse(q), None, None,
                        DEFAULTS["UNPAGED_LIST_ESTIMATE"], DEFAULTS["MAX_QUERY_COST"])
    assert errors and errors[0].extensions["code"] == "QUERY_TOO_COMPLEX"
