"""Reports on allocations and IATI exports (DOMAIN.md section 10) as the
tests drive and observe them: allocations approved the real way (a vote and
a close), the report mutations and reads through the gateway, closeGrant,
the IATI XML validated with lxml against the official 2.03 schema
(../shared/iati/), and the operator CLI's exports."""
import uuid
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from click.testing import CliRunner
from lxml import etree

from services.cli import coalition
from tests.helpers.grants import approve, create_grant, propose
from tests.support import founders, isolate_voters, refusal, wait_for

# tests/helpers/reports.py -> the folder that holds the project and ../shared
IATI_DIR = Path(__file__).resolve().parents[3] / "shared" / "iati"
XSD = IATI_DIR / "iati-activities-schema.xsd"

REPORT_FIELDS = """id dueOn status overdue narrative spent submittedAt reviewNote
    indicators { name unit target actual }
    allocation { id amount status member { id } grant { id } }"""
SCHEDULE = f"""mutation($a: ID!, $d: Date!) {{ scheduleReport(allocationId: $a, dueOn: $d) {{
    {REPORT_FIELDS} }} }}"""
SUBMIT = f"""mutation($id: ID!, $i: ReportInput!) {{ submitReport(id: $id, input: $i) {{
    {REPORT_FIELDS} }} }}"""
REVIEW = f"""mutation($id: ID!, $accept: Boolean!, $note: String) {{
    reviewReport(id: $id, accept: $accept, note: $note) {{ {REPORT_FIELDS} }} }}"""
GET_REPORT = f"query($id: ID!) {{ report(id: $id) {{ {REPORT_FIELDS} }} }}"
ALLOCATION_REPORTS = """query($id: ID!) { grant(id: $id) { allocations { id
    reports { id status dueOn overdue narrative } } } }"""
CLOSE_GRANT = "mutation($id: ID!) { closeGrant(id: $id) { id status } }"
IATI = "query($id: ID!) { grant(id: $id) { id status sectorCode iatiXml } }"
OVERDUE = "{ overdueReports { id dueOn status overdue } }"


def day(offset=0):
    """The date `offset` days from today (UTC), as the API takes it."""
    return (datetime.now(timezone.utc).date() + timedelta(days=offset)).isoformat()


def ok(body, field):
    """The `field` of an answer that must have succeeded."""
    assert not body.get("errors"), body
    return body["data"][field]


def refused(body, code, field=None):
    """(message, fields) of a refusal with `code`, naming `field` if given."""
    got, message, fields = refusal(body)
    assert got == code, body
    if field is not None:
        assert fields and field in fields, body
    return message, fields


def report_input(**overrides):
    """A valid ReportInput: a narrative, money spent, three indicator rows."""
    data = {"narrative": "Trained 40 lawyers; the campaign video had 150,000 views.",
            "spent": "2500.00",
            "indicators": [
                {"name": "Lawyers trained", "unit": "people", "target": "40", "actual": "40"},
                {"name": "Campaign video views", "unit": "views", "target": None,
                 "actual": "150000"},
                {"name": "Share of sites reporting", "unit": None, "target": "12.5",
                 "actual": "12.5"}]}
    data.update(overrides)
    return data


def approved_allocation(stack, member_id, allocated="10000.00", **grant_overrides):
    """(grant, allocation) of a new ACTIVE USD grant (`grant_overrides` to its
    GrantInput) and an allocation of `allocated` to `member_id`, APPROVED
    through its consultation (some other member must be able to vote)."""
    grant_overrides.setdefault("currency", "USD")
    g = create_grant(stack, activate=True, **grant_overrides)
    a = propose(stack, g["id"], member_id, allocated)
    return g, approve(stack, g["id"], a["id"])


def schedule_body(stack, allocation_id, due_on, token=None):
    return stack.post(SCHEDULE, {"a": allocation_id, "d": due_on}, token or stack.admin()).json()


def schedule(stack, allocation_id, due_on):
    return ok(schedule_body(stack, allocation_id, due_on), "scheduleReport")


def submit_body(stack, report_id, member_id=None, data=None, token=None):
    """The answer to a submitReport by `member_id` (its own token) or `token`."""
    token = token or stack.member_token(member_id)
    return stack.post(SUBMIT, {"id": report_id, "i": data or report_input()}, token).json()


def submit(stack, report_id, member_id, data=None):
    return ok(submit_body(stack, report_id, member_id, data), "submitReport")


def review_body(stack, report_id, accept, note=None, token=None):
    return stack.post(REVIEW, {"id": report_id, "accept": accept, "note": note},
                      token or stack.admin()).json()


def review(stack, report_id, accept, note=None):
    return ok(review_body(stack, report_id, accept, note), "reviewReport")


def get_report(stack, report_id, token="admin"):
    token = stack.admin() if token == "admin" else token
    return stack.gql(GET_REPORT, {"id": report_id}, token)["report"]


def allocation_reports(stack, grant_id, allocation_id, token="admin"):
    """The `reports` of one allocation, as `token` sees them."""
    token = stack.admin() if token == "admin" else token
    for a in stack.gql(ALLOCATION_REPORTS, {"id": grant_id}, token)["grant"]["allocations"]:
        if a["id"] == allocation_id:
            return a["reports"]
    raise AssertionError(f"allocation {allocation_id} not in grant {grant_id}")


def close_grant(stack, grant_id):
    return ok(stack.post(CLOSE_GRANT, {"id": grant_id}, stack.admin()).json(), "closeGrant")


def unique_title(prefix="Report grant"):
    return f"{prefix} {uuid.uuid4().hex[:8]}"


# ---- IATI ------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def iati_schema():
    assert XSD.exists(), f"the IATI schema must lie next to the project: {XSD}"
    return etree.XMLSchema(etree.parse(str(XSD)))


def valid_iati(text):
    """The root of an IATI document that validates against the 2.03 schema."""
    assert isinstance(text, str) and text.strip(), text
    root = etree.fromstring(text.encode("utf-8"))
    schema = iati_schema()
    assert schema.validate(root), "\n".join(str(e) for e in schema.error_log)
    assert root.tag == "iati-activities" and root.get("version") == "2.03", root.attrib
    assert root.get("generated-datetime"), root.attrib
    return root


def grant_iati(stack, grant_id, token="admin"):
    """(root, its one iati-activity) of Grant.iatiXml, validated."""
    token = stack.admin() if token == "admin" else token
    grant = stack.gql(IATI, {"id": grant_id}, token)["grant"]
    root = valid_iati(grant["iatiXml"])
    [activity] = root.findall("iati-activity")
    return root, activity


def narrative(element):
    return element.findtext("narrative")


def transactions(activity, code):
    """[(amount text, currency, value-date, transaction date, receiver name,
    receiver type)] of the transactions of type `code`, in document order."""
    found = []
    for t in activity.findall("transaction"):
        if t.find("transaction-type").get("code") != code:
            continue
        value, receiver = t.find("value"), t.find("receiver-org")
        found.append((value.text, value.get("currency"), value.get("value-date"),
                      t.find("transaction-date").get("iso-date"),
                      None if receiver is None else narrative(receiver),
                      None if receiver is None else receiver.get("type")))
    return found


def participants(activity, role):
    """[(name, type)] of the participating orgs of `role`."""
    return [(narrative(p), p.get("type")) for p in activity.findall("participating-org")
            if p.get("role") == role]


def budgets(activity):
    """[(start, end, amount text, currency, type, status)] of the budgets."""
    return [(b.find("period-start").get("iso-date"), b.find("period-end").get("iso-date"),
             b.find("value").text, b.find("value").get("currency"), b.get("type"), b.get("status"))
            for b in activity.findall("budget")]


def activity_dates(activity):
    return {d.get("type"): d.get("iso-date") for d in activity.findall("activity-date")}


# ---- the operator's CLI ------------------------------------------------------------------------

def run_cli(stack, *args):
    """The CLI as an operator runs it (its own broker user); the result."""
    return CliRunner().invoke(coalition, list(args), env=stack.cli_env, catch_exceptions=False)


def wait_mail_drained(stack, timeout=120):
    """Until the notifications service has no mail left to send."""
    wait_for(lambda: stack.db("notifications").mails.count_documents(
        {"status": {"$in": ["QUEUED", "SENDING"]}}) == 0, timeout, 0.5, "the mail queue drained")


def voting_pair(stack):
    """(beneficiary, another member): from now on only they may vote in the
    rounds a test module opens (isolate_voters)."""
    isolate_voters(stack)
    beneficiary, other = (m["id"] for m in founders(stack, 2))
    return beneficiary, other
