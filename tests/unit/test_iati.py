"""IATI 2.03 exports of grants (services/grants/iati.py), each validated with
lxml against the official schema in ../shared/iati/, and the codes that the
schema cannot check spot-checked: transaction types 2 and 3, participating
org roles 1 and 4, activity status, activity-date types 2 and 3, amounts,
organisation types."""
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from services.common import config
from services.common.validation import load
from services.common.vocabulary import AllocationStatus, GrantStatus
from services.grants import domain, iati
from services.grants.schemas import GrantInput

IATI_DIR = Path(__file__).resolve().parents[3] / "shared" / "iati"
NOW = datetime(2026, 12, 4, 12, 30, 15, 123000, tzinfo=timezone.utc)
SETTINGS = {"COALITION_NAME": "Eurasian Harm Reduction Coalition",
            "COALITION_IATI_REF": "NL-KVK-41207989", "COALITION_ORG_TYPE": "21"}
APPROVED, ON_HOLD = AllocationStatus.APPROVED, AllocationStatus.ON_HOLD
PROPOSED, REJECTED = AllocationStatus.PROPOSED, AllocationStatus.REJECTED

# the seed consortium: seven partners of the 2016-2018 grant
PARTNERS = {
    "m1": ("Eurasian Harm Reduction Network", "REGIONAL_NETWORK"),
    "m2": ("Positive Women Kazakhstan", "NATIONAL_NETWORK"),
    "m3": ("Harm Reduction Ukraine", "NGO"),
    "m4": ("Community Friends Tbilisi", "COMMUNITY_ORGANISATION"),
    "m5": ("Other Allies", "OTHER"),
    "m6": ("Sex Workers' Rights Advocacy Network", "REGIONAL_NETWORK"),
    "m7": ("Armenian Youth Network", "NATIONAL_NETWORK"),
}
MEMBERS = {mid: {"id": mid, "name": name, "org_type": kind}
           for mid, (name, kind) in PARTNERS.items()}


@pytest.fixture(scope="module")
def schema():
    xsd = IATI_DIR / "iati-activities-schema.xsd"
    assert xsd.exists(), f"the IATI schema must lie next to the project: {xsd}"
    return etree.XMLSchema(etree.parse(str(xsd)))


def grant(status=GrantStatus.ACTIVE, lines=None, **over):
    data = load(GrantInput(), {
        "title": "Harm reduction advocacy in Eastern Europe and Central Asia",
        "donor": "Robert Carr civil society Networks Fund", "currency": "USD",
        "amount": "1455000", "startDate": "2016-01-01", "endDate": "2018-12-31",
        **({"budgetLines": lines} if lines is not None else {})})
    doc = {"_id": "g1", **domain.new_grant(data, NOW - timedelta(days=300)), "status": status}
    doc.update(over)
    return doc


def allocation(aid, member_id, cents, status=APPROVED, approved=datetime(2016, 2, 1, 23, 0,
                                                                         tzinfo=timezone.utc)):
    g = grant()
    doc = {"_id": aid, **domain.new_allocation(
        {"member_id": member_id, "amount_cents": cents, "purpose": "Advocacy"}, g, NOW), }
    doc["status"] = status
    if status in (APPROVED, ON_HOLD):
        doc["history"].append({"at": approved, "status": APPROVED, "note": "Approved"})
    return doc


def disbursement(did, allocation_doc, cents, paid_on):
    return {"_id": did, **domain.new_disbursement(
        {"amount_cents": cents, "paid_on": date.fromisoformat(paid_on)}, allocation_doc, NOW)}


def export(grant_doc, allocations=(), disbursements=(), members=MEMBERS, settings=SETTINGS):
    element = iati.activity(grant_doc, list(allocations), list(disbursements), members,
                            settings, NOW)
    text = iati.to_text(iati.document([element], NOW))
    return etree.fromstring(text.encode("utf-8")), text


def valid(schema, root):
    ok = schema.validate(root)
    assert ok, schema.error_log.filter_from_errors()
    return root


def activity_of(root):
    (activity,) = root.findall("iati-activity")
    return activity


SEED_ALLOCATIONS = [allocation("a1", "m1", 8645420)] + [
    allocation(f"a{i}", f"m{i}", 10000000 + i) for i in range(2, 8)]


# ---- every kind of grant validates --------------------------------------------

CASES = {
    "pipeline, nothing yet": dict(status=GrantStatus.PIPELINE),
    "active, no allocation": dict(status=GrantStatus.ACTIVE),
    "active, allocations": dict(allocations=SEED_ALLOCATIONS),
    "active, allocations and disbursements": dict(
        allocations=SEED_ALLOCATIONS,
        disbursements=[disbursement("d1", SEED_ALLOCATIONS[0], 4000000, "2016-03-01"),
                       disbursement("d2", SEED_ALLOCATIONS[0], 4645420, "2016-09-01")]),
    "closed, with budget lines": dict(status=GrantStatus.CLOSED, lines=[
        {"periodStart": "2016-01-01", "periodEnd": "2016-12-31", "amount": "485000"},
        {"periodStart": "2017-01-01", "periodEnd": "2017-12-31", "amount": "485000"},
        {"periodStart": "2018-01-01", "periodEnd": "2018-12-31", "amount": "485000"}],
        allocations=SEED_ALLOCATIONS[:2],
        disbursements=[disbursement("d1", SEED_ALLOCATIONS[1], 100, "2017-01-15")]),
    "pipeline, proposed and rejected only": dict(
        status=GrantStatus.PIPELINE,
        allocations=[allocation("a1", "m1", 100, PROPOSED), allocation("a2", "m2", 100, REJECTED)]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_export_validates_against_the_iati_schema(schema, case):
    spec = dict(CASES[case])
    g = grant(status=spec.pop("status", GrantStatus.ACTIVE), lines=spec.pop("lines", None))
    root, text = export(g, **spec)
    valid(schema, root)
    assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>")
    assert root.get("version") == "2.03"
    assert root.get("generated-datetime") == "2026-12-04T12:30:15+00:00"


@pytest.mark.parametrize("status, code", [(GrantStatus.PIPELINE, "1"), (GrantStatus.ACTIVE, "2"),
                                          (GrantStatus.CLOSED, "3")])
def test_activity_status_follows_the_grant(schema, status, code):
    activity = activity_of(valid(schema, export(grant(status=status))[0]))
    assert activity.find("activity-status").get("code") == code


def test_identity_reporting_org_title_dates_and_sector(schema):
    activity = activity_of(valid(schema, export(grant(sector_code="12263"))[0]))
    assert activity.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert activity.get("default-currency") == "USD"
    assert activity.findtext("iati-identifier") == "NL-KVK-41207989-g1"
    reporting = activity.find("reporting-org")
    assert (reporting.get("ref"), reporting.get("type"), reporting.findtext("narrative")) == \
        ("NL-KVK-41207989", "21", "Eurasian Harm Reduction Coalition")
    assert activity.findtext("title/narrative").startswith("Harm reduction advocacy")
    assert {d.get("type"): d.get("iso-date") for d in activity.findall("activity-date")} == \
        {"2": "2016-01-01", "3": "2018-12-31"}
    sector = activity.find("sector")
    assert (sector.get("vocabulary"), sector.get("code")) == ("1", "12263")


def test_an_old_grant_has_the_default_sector_and_default_settings_apply(schema):
    old = grant()
    del old["sector_code"], old["budget_lines"]
    defaults = config.load({"COALITION_JWT_SECRET": "s" * 32})
    activity = activity_of(valid(schema, export(old, settings=defaults)[0]))
    assert activity.find("sector").get("code") == "13040"
    assert activity.findtext("iati-identifier") == "XX-DEV-COALITION-g1"
    assert activity.find("reporting-org").findtext("narrative") == "Coalition (development)"


def test_the_child_elements_follow_the_schema_sequence(schema):
    root, _ = export(grant(), SEED_ALLOCATIONS, [disbursement("d1", SEED_ALLOCATIONS[0], 1,
                                                              "2016-03-01")])
    tags = [child.tag for child in activity_of(valid(schema, root))]
    order = ["iati-identifier", "reporting-org", "title", "description", "participating-org",
             "activity-status", "activity-date", "sector", "budget", "transaction"]
    assert sorted(tags, key=order.index) == tags and set(tags) == set(order)


# ---- who takes part, and the money --------------------------------------------

def test_the_donor_funds_and_each_committed_member_implements_once(schema):
    allocations = SEED_ALLOCATIONS + [allocation("a8", "m1", 500, ON_HOLD),
                                      allocation("a9", "m2", 700, PROPOSED),
                                      allocation("b1", "m3", 900, REJECTED)]
    activity = activity_of(valid(schema, export(grant(), allocations)[0]))
    orgs = [(o.get("role"), o.get("type"), o.findtext("narrative"))
            for o in activity.findall("participating-org")]
    assert orgs[0] == ("1", None, "Robert Carr civil society Networks Fund")
    assert orgs[1:] == [("4", {"REGIONAL_NETWORK": "23", "NATIONAL_NETWORK": "22", "NGO": "22",
                               "COMMUNITY_ORGANISATION": "24", "OTHER": "90"}[kind], name)
                        for name, kind in PARTNERS.values()]


def transactions(activity):
    return [(t.find("transaction-type").get("code"), t.find("transaction-date").get("iso-date"),
             t.findtext("value"), t.find("value").get("currency"),
             t.find("value").get("value-date"), t.find("receiver-org").get("type"),
             t.find("receiver-org").findtext("narrative"))
            for t in activity.findall("transaction")]


def test_the_seed_consortium_commitments_and_disbursements(schema):
    """EHRN's year-one USD 86,454.20: committed on the day it was approved
    (UTC), then paid in two parts."""
    paid = [disbursement("d2", SEED_ALLOCATIONS[0], 4645420, "2016-09-01"),
            disbursement("d1", SEED_ALLOCATIONS[0], 4000000, "2016-03-01")]
    activity = activity_of(valid(schema, export(grant(), SEED_ALLOCATIONS, paid)[0]))
    moves = transactions(activity)
    assert len(moves) == 9
    assert moves[0] == ("2", "2016-02-01", "86454.20", "USD", "2016-02-01", "23",
                        "Eurasian Harm Reduction Network")
    assert [m[0] for m in moves] == ["2"] * 7 + ["3"] * 2
    assert moves[7:] == [
        ("3", "2016-03-01", "40000.00", "USD", "2016-03-01", "23", "Eurasian Harm Reduction Network"),
        ("3", "2016-09-01", "46454.20", "USD", "2016-09-01", "23", "Eurasian Harm Reduction Network")]


def test_a_held_allocation_stays_committed_proposed_and_rejected_do_not(schema):
    allocations = [allocation("a1", "m1", 100, ON_HOLD), allocation("a2", "m2", 200, PROPOSED),
                   allocation("a3", "m3", 300, REJECTED)]
    activity = activity_of(valid(schema, export(grant(), allocations)[0]))
    assert [(m[0], m[2]) for m in transactions(activity)] == [("2", "1.00")]
    assert [o.get("role") for o in activity.findall("participating-org")] == ["1", "4"]


def test_a_member_the_members_service_does_not_know_is_named_as_undisclosed(schema):
    # the safe side: it may be a MEMBERS_ONLY member members could not answer for
    activity = activity_of(valid(schema, export(grant(), [allocation("a1", "zz", 100)],
                                                members={})[0]))
    receiver = activity.find("transaction/receiver-org")
    assert receiver.get("type") is None and receiver.get("ref") is None
    assert receiver.findtext("narrative") == "Undisclosed member organisation"
    assert "zz" not in etree.tostring(activity, encoding="unicode")


def budgets(activity):
    return [(b.get("type"), b.get("status"), b.find("period-start").get("iso-date"),
             b.find("period-end").get("iso-date"), b.findtext("value"),
             b.find("value").get("currency"), b.find("value").get("value-date"))
            for b in activity.findall("budget")]


def test_one_budget_for_the_whole_period_without_lines(schema):
    activity = activity_of(valid(schema, export(grant())[0]))
    assert budgets(activity) == [("1", "1", "2016-01-01", "2018-12-31", "1455000.00", "USD",
                                  "2016-01-01")]


def test_one_budget_per_line_in_date_order(schema):
    lines = [{"periodStart": "2017-01-01", "periodEnd": "2017-12-31", "amount": "500000"},
             {"periodStart": "2016-01-01", "periodEnd": "2016-12-31", "amount": "86454.2"}]
    activity = activity_of(valid(schema, export(grant(lines=lines))[0]))
    assert budgets(activity) == [
        ("1", "1", "2016-01-01", "2016-12-31", "86454.20", "USD", "2016-01-01"),
        ("1", "1", "2017-01-01", "2017-12-31", "500000.00", "USD", "2017-01-01")]


def test_text_is_escaped_by_the_xml_library(schema):
    tricky = 'Fund <"A&B"> ]]> \u0416'
    root, text = export(grant(title=tricky, donor=tricky))
    activity = activity_of(valid(schema, root))
    assert activity.findtext("title/narrative") == tricky
    assert "<\"A&B\">" not in text


def test_last_updated_is_the_latest_change(schema):
    later = NOW - timedelta(days=1)
    allocations = [allocation("a1", "m1", 100)]
    allocations[0]["updated_at"] = later
    activity = activity_of(valid(schema, export(grant(), allocations)[0]))
    assert activity.get("last-updated-datetime") == later.replace(microsecond=0).isoformat()


def test_a_portfolio_holds_every_grant_in_one_document(schema):
    elements = [iati.activity(grant(_id=f"g{i}", status=status), [], [], MEMBERS, SETTINGS, NOW)
                for i, status in enumerate(GrantStatus)]
    root = valid(schema, etree.fromstring(iati.to_text(iati.document(elements, NOW)).encode()))
    assert [a.findtext("iati-identifier") for a in root] == \
        [f"NL-KVK-41207989-g{i}" for i in range(3)]


def test_an_empty_portfolio_is_well_formed_but_holds_no_activity():
    root = etree.fromstring(iati.to_text(iati.document([], NOW)).encode())
    assert root.tag == "iati-activities" and len(root) == 0


def test_member_ids_asked_once_each():
    a = [allocation("a1", "m1", 1), allocation("a2", "m1", 1), allocation("a3", "m2", 1, PROPOSED)]
    d = [disbursement("d1", a[0], 1, "2016-03-01")]
    assert iati.member_ids(a, d) == ["m1"]


# ---- the entrypoints: one call to members per export ------------------------------
