"""A grant's CSV tables (services/grant_export.py): one row per allocation,
disbursement or report, exact amounts, and text people wrote never run as a
spreadsheet formula. Then `coalition export grant` and `coalition export
iati` (services/cli_export.py) with the services replaced by their answers:
what they ask and what they print (through RabbitMQ: tests/integration/)."""
import csv
import io
from contextlib import contextmanager

import pytest
from click.testing import CliRunner

from services import cli, grant_export

GRANT = {"id": "g1", "title": "=HYPERLINK(\"http://evil\")", "currency": "USD",
         "amount": "1455000.00"}
ALLOCATIONS = [
    {"id": "a1", "grant_id": "g1", "member_id": "m1", "amount": "86454.20", "status": "APPROVED",
     "disbursed": "86454.20", "purpose": "+SUM(A1:A9)", "created_at": "2016-02-01T00:00:00+00:00"},
    {"id": "a2", "grant_id": "g1", "member_id": "m2", "amount": "1000.00", "status": "ON_HOLD",
     "disbursed": "0.00", "purpose": "Legal aid", "created_at": "2016-02-02T00:00:00+00:00"},
]
NAMES = {"m1": "@EHRN", "m2": "Sex Workers' Rights Advocacy Network"}
DISBURSEMENTS = {"a1": [
    {"id": "d1", "allocation_id": "a1", "amount": "50000.00", "paid_on": "2016-03-01",
     "reference": "-1+1", "recorded_at": "2016-03-02T00:00:00+00:00"},
    {"id": "d2", "allocation_id": "a1", "amount": "36454.20", "paid_on": "2016-09-01",
     "reference": None, "recorded_at": "2016-09-02T00:00:00+00:00"}]}
REPORTS = {"a1": [
    {"id": "r1", "allocation_id": "a1", "member_id": "m1", "due_on": "2017-01-31",
     "status": "ACCEPTED", "overdue": False, "narrative": "=cmd|' /C calc'!A0",
     "spent": "86454.20", "indicators": [
         {"name": "Views of the campaign video", "unit": None, "target": None,
          "actual": "150000"},
         {"name": "Lawyers trained", "unit": "people", "target": "50", "actual": "40"}],
     "submitted_at": "2017-01-20T10:00:00+00:00", "review_note": "\tThanks",
     "reviewed_at": "2017-01-25T10:00:00+00:00"}],
    "a2": [{"id": "r2", "allocation_id": "a2", "member_id": "m2", "due_on": "2017-01-31",
            "status": "DUE", "overdue": True, "narrative": None, "spent": None,
            "indicators": [], "submitted_at": None, "review_note": None, "reviewed_at": None}]}
CHILDREN = {"allocations": {}, "disbursements": DISBURSEMENTS, "reports": REPORTS}


def table(kind):
    text = grant_export.grant_csv(kind, GRANT, ALLOCATIONS, CHILDREN[kind], NAMES)
    return list(csv.DictReader(io.StringIO(text)))


def test_one_row_per_allocation():
    rows = table("allocations")
    assert [r["allocation_id"] for r in rows] == ["a1", "a2"]
    assert rows[0]["amount"] == "86454.20" and rows[0]["currency"] == "USD"
    assert rows[1]["member_name"] == NAMES["m2"] and rows[1]["status"] == "ON_HOLD"
    assert list(rows[0]) == grant_export.COLUMNS["allocations"]


def test_one_row_per_disbursement_with_its_member():
    rows = table("disbursements")
    assert [(r["disbursement_id"], r["member_id"], r["amount"]) for r in rows] == [
        ("d1", "m1", "50000.00"), ("d2", "m1", "36454.20")]
    assert rows[1]["reference"] == ""


def test_one_row_per_report_with_its_indicators_in_one_cell():
    rows = table("reports")
    assert [r["report_id"] for r in rows] == ["r1", "r2"]
    assert rows[0]["indicators"] == ("Views of the campaign video: 150000; "
                                     "Lawyers trained: 40 people (target 50)")
    assert rows[0]["spent"] == "86454.20" and rows[0]["overdue"] == "no"
    assert rows[1]["overdue"] == "yes" and rows[1]["narrative"] == "" and rows[1]["spent"] == ""


@pytest.mark.parametrize("kind,column,expected", [
    ("allocations", "grant_title", "'=HYPERLINK(\"http://evil\")"),
    ("allocations", "purpose", "'+SUM(A1:A9)"),
    ("allocations", "member_name", "'@EHRN"),
    ("disbursements", "reference", "'-1+1"),
    ("reports", "narrative", "'=cmd|' /C calc'!A0"),
    ("reports", "review_note", "'\tThanks"),
])
def test_text_people_wrote_never_starts_a_formula(kind, column, expected):
    assert table(kind)[0][column] == expected


def test_the_guard_is_the_one_of_services_export():
    assert grant_export.grant_cell("narrative", "=1") == "'=1"
    assert grant_export.grant_cell("amount", "86454.20") == "86454.20"


def test_an_allocation_without_children_has_no_rows():
    assert grant_export.grant_csv("reports", GRANT, ALLOCATIONS, {}, NAMES).count("\n") == 1
    with pytest.raises(KeyError):
        list(grant_export.rows("stances", GRANT, ALLOCATIONS, {}, NAMES))


def test_an_api_answer_gives_the_same_rows():
    answer = {"id": "g1", "title": GRANT["title"], "currency": "USD", "allocations": [
        {"id": a["id"], "amount": a["amount"], "status": a["status"],
         "disbursed": a["disbursed"], "purpose": a["purpose"], "createdAt": a["created_at"],
         "member": {"id": a["member_id"], "name": NAMES[a["member_id"]]},
         "disbursements": [{"id": d["id"], "amount": d["amount"], "paidOn": d["paid_on"],
                            "reference": d["reference"], "recordedAt": d["recorded_at"]}
                           for d in DISBURSEMENTS.get(a["id"], [])],
         "reports": [{"id": r["id"], "dueOn": r["due_on"], "status": r["status"],
                      "overdue": r["overdue"], "spent": r["spent"],
                      "submittedAt": r["submitted_at"], "reviewedAt": r["reviewed_at"],
                      "reviewNote": r["review_note"], "narrative": r["narrative"],
                      "indicators": r["indicators"]} for r in REPORTS.get(a["id"], [])]}
        for a in ALLOCATIONS]}
    for kind in grant_export.KINDS:
        assert (grant_export.grant_csv(kind, *grant_export.from_api(kind, answer))
                == grant_export.grant_csv(kind, GRANT, ALLOCATIONS, CHILDREN[kind], NAMES))


# ---- the CLI, with the services' answers ---------------------------------------------------

IATI = ('<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<iati-activities version="2.03">'
        '<iati-activity/><iati-activity/></iati-activities>\n')
ANSWERS = {
    ("grants", "get"): lambda i: GRANT if i == "g1" else None,
    ("grants", "allocations_by_grants"): lambda ids: {"g1": ALLOCATIONS},
    ("grants", "disbursements_by_allocations"): lambda ids: DISBURSEMENTS,
    ("grants", "reports_by_allocations"): lambda ids: REPORTS,
    ("grants", "iati_portfolio"): lambda: IATI,
    ("members", "get_many"): lambda ids: [{"id": i, "name": NAMES[i]} for i in ids],
}


@pytest.fixture
def asked(monkeypatch):
    """The RPCs the command sent, answered from ANSWERS."""
    calls = []

    @contextmanager
    def cluster(settings_, timeout=None):
        yield "rpc"

    def call(rpc, service, method, *args):
        calls.append((service, method))
        return ANSWERS[service, method](*args)
    monkeypatch.setattr(cli, "settings", lambda: {})
    monkeypatch.setattr(cli, "cluster", cluster)
    monkeypatch.setattr(cli, "call", call)
    return calls


@pytest.mark.parametrize("kind", grant_export.KINDS)
def test_export_grant_prints_the_csv(asked, kind):
    result = CliRunner().invoke(cli.coalition, ["export", "grant", "g1", kind])
    assert result.exit_code == 0, result.output
    expected = grant_export.grant_csv(kind, GRANT, ALLOCATIONS, CHILDREN[kind], NAMES)
    assert result.stdout_bytes.decode("utf-8") == expected  # CSV lines end with \r\n
    assert set(asked) <= {("grants", "get"), ("grants", "allocations_by_grants"),
                          ("grants", "disbursements_by_allocations"),
                          ("grants", "reports_by_allocations"), ("members", "get_many")}


def test_export_grant_of_an_unknown_grant_fails(asked):
    result = CliRunner().invoke(cli.coalition, ["export", "grant", "nope", "reports"])
    assert result.exit_code == 1 and "no grant with id 'nope'" in result.output


def test_export_iati_prints_or_writes_the_document(asked, tmp_path):
    result = CliRunner().invoke(cli.coalition, ["export", "iati"])
    assert result.exit_code == 0 and result.stdout_bytes.decode("utf-8") == IATI
    out = tmp_path / "activities.xml"
    result = CliRunner().invoke(cli.coalition, ["export", "iati", "--out", str(out)])
    assert result.exit_code == 0 and "2 grant(s)" in result.output
    assert out.read_text(encoding="utf-8") == IATI
    assert asked == [("grants", "iati_portfolio")] * 2
