"""The operator CLI (services/cli.py, services/cli_admin.py) against the real
stack: tokens, the demo coalition through the gateway, the CSV export, the
dead-letter queue, the outbox, the mail queue and the secretariat's people
(`coalition admin`). Other tests share this stack's database: assertions
are on the demo's own data (by name and title), never on global counts except
as lower bounds."""
import csv
import io
import uuid
from datetime import datetime, timezone

import jwt
import pytest
from click.testing import CliRunner

from services import demo
from services import local as local_module
from services.cli import coalition
from services.cli_admin import CLI_ADDER
from services.common.vocabulary import SERVICES
from services.stack import free_port
from tests.helpers.reports import transactions, valid_iati
from tests.support import PUBLIC_URL, SECRET, founders, isolate_voters, member_input, wait_for

FIND_MEMBERS = """query($s: String, $after: String) { members(search: $s, first: 50, after: $after) {
  totalCount edges { node { id name status canVote } } pageInfo { hasNextPage endCursor } } }"""
GRANTS = """query($after: String) { grants(first: 50, after: $after) {
  edges { node { id title donor currency amount status
                 allocations { id amount status member { name } consultation { id status kind } } } }
  pageInfo { hasNextPage endCursor } } }"""
DEMO_GRANT = """query($id: ID!) { grant(id: $id) { sectorCode iatiXml
  budgetLines { periodStart periodEnd amount }
  allocations { amount member { name } disbursements { amount paidOn }
                reports { status dueOn overdue spent indicators { name actual } } } } }"""
GENERAL = """query($after: String) { consultations(kind: GENERAL, first: 50, after: $after) {
  edges { node { id title status round rounds { number outcome } } }
  pageInfo { hasNextPage endCursor } } }"""


def run(stack, *args, env=None):
    """The CLI as an operator runs it: its own settings, its own broker user."""
    return CliRunner().invoke(coalition, list(args), env={**stack.cli_env, **(env or {})},
                              catch_exceptions=False)


def nodes(stack, query, field, variables=None):
    after = None
    while True:
        page = stack.gql(query, {**(variables or {}), "after": after}, stack.admin())[field]
        yield from (e["node"] for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


def members_named(stack, name):
    return [m for m in nodes(stack, FIND_MEMBERS, "members", {"s": name})
            if m["name"].casefold() == name.casefold() and m["status"] != "REJECTED"]


# ---- token ------------------------------------------------------------------------

def test_token_admin_and_member(stack):
    result = run(stack, "token", "--role", "ADMIN", "--sub", "secretariat")
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["role"] == "ADMIN" and claims["sub"] == "secretariat"
    assert "member_id" not in claims
    assert 11.9 * 3600 < claims["exp"] - datetime.now(timezone.utc).timestamp() <= 12 * 3600

    (member,) = founders(stack, 1)
    result = run(stack, "token", "--role", "MEMBER", "--sub", "idpc", "--member-id", member["id"],
                 "--hours", "1")
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])
    assert (claims["role"], claims["sub"], claims["member_id"]) == ("MEMBER", "idpc", member["id"])
    assert claims["exp"] - datetime.now(timezone.utc).timestamp() <= 3600
    # the gateway accepts it
    assert stack.gql("{ viewer { role } }", token=result.stdout.strip())["viewer"]["role"] == "MEMBER"


def test_member_token_needs_member_id(stack):
    result = run(stack, "token", "--role", "MEMBER", "--sub", "idpc")
    assert result.exit_code != 0
    assert "--member-id" in result.output
    assert not result.stdout.startswith("eyJ")


def test_bad_setting_is_one_line(stack):
    result = run(stack, "token", "--role", "ADMIN", "--sub", "x",
                 env={"COALITION_ENV": "production", "COALITION_JWT_SECRET": "short"})
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "COALITION_JWT_SECRET" in result.stderr


@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_no_secret_no_token_whatever_the_environment(stack, tmp_path, monkeypatch, environment):
    monkeypatch.setattr(local_module, "LOCAL_VAR", tmp_path / "var")  # no `make up` here
    for secret in (None, "", "s" * 31):
        result = run(stack, "token", "--role", "ADMIN", "--sub", "x",
                     env={"COALITION_ENV": environment, "COALITION_JWT_SECRET": secret})
        assert result.exit_code == 2, (environment, secret)
        assert result.stderr.strip().count("\n") == 0 and "COALITION_JWT_SECRET" in result.stderr
        assert not result.stdout


def test_without_the_variable_the_cli_reads_make_ups_secret(stack, tmp_path, monkeypatch):
    monkeypatch.setattr(local_module, "LOCAL_VAR", tmp_path / "var")
    secret = local_module.local_secret()  # what `make up` does on first start
    path = tmp_path / "var" / "jwt-secret"
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_text().strip() == secret
    assert len(secret) >= 32 and local_module.local_secret() == secret  # reused, not remade
    result = run(stack, "token", "--role", "ADMIN", "--sub", "dev",
                 env={"COALITION_JWT_SECRET": None})
    assert result.exit_code == 0, result.output
    assert jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "dev"
    # the variable, when set, wins over the file
    result = run(stack, "token", "--role", "ADMIN", "--sub", "dev")
    assert jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])["sub"] == "dev"
    # a file others can read is refused, in one line
    path.chmod(0o644)
    result = run(stack, "token", "--role", "ADMIN", "--sub", "dev",
                 env={"COALITION_JWT_SECRET": None})
    assert result.exit_code == 1 and "chmod 600" in result.stderr
    assert result.stderr.strip().count("\n") == 0


# ---- demo load ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def loaded(stack):
    # the demo's members alone must make the quorum of its allocations' rounds
    isolate_voters(stack)
    result = run(stack, "demo", "load", "--url", stack.url)
    assert result.exit_code == 0, result.output
    yield result
    release_demo(stack)


def release_demo(stack):
    """Leave the shared database usable for the tests after us: the demo's
    members withdraw (so they vote nowhere) and their real-world names are
    freed again, as a rejected applicant's is (other tests register e.g.
    "Tais Plus" themselves). The name is freed in the store directly: no API
    frees the name of a withdrawn member, by design."""
    ids = []
    with stack.rpc() as rpc:
        for data in demo.ALL_MEMBERS:
            for member in members_named(stack, data["name"]):
                if member["status"] in ("ACTIVE", "SUSPENDED", "CANDIDATE"):
                    rpc.members.withdraw_membership(member["id"], "end of the CLI tests")
                ids.append(member["id"])
    stack.db("members").members.update_many({"_id": {"$in": ids}}, {"$set": {"name_key": None}})
    # and the demo's secretariat person goes, so that the sign-in tests find
    # only their own people (no API removes a person without an ADMIN session)
    forget_people(stack, [demo.SECRETARIAT_PERSON["email"]])


def forget_people(stack, addresses):
    stack.db("accounts").people.delete_many(
        {"email_key": {"$in": [a.casefold() for a in addresses]}})


def test_demo_load_registers_the_coalition(stack, loaded):
    assert f"{stack.url}/graphql" in loaded.output
    # the demo's secretariat person, and how to sign in as them or as a member
    person = demo.SECRETARIAT_PERSON
    assert f"secretariat person: {person['name']}: " in loaded.stdout
    assert f"{PUBLIC_URL.rstrip('/')}/signin" in loaded.stdout
    assert f"{PUBLIC_URL.rstrip('/')}/dev/mail" in loaded.stdout
    assert person["email"] in loaded.stdout
    assert demo.FOUNDERS[0]["focalPoint"]["email"] in loaded.stdout
    with stack.rpc() as rpc:
        people = {p["email"].casefold(): p for p in rpc.accounts.secretariat()}
    assert people[person["email"].casefold()]["name"] == person["name"]
    # each demo member's focal point has an address of its own: each can sign in
    addresses = [m["focalPoint"]["email"].casefold() for m in demo.ALL_MEMBERS]
    assert len(set(addresses)) == len(addresses) and person["email"] not in addresses
    # counted as ADMIN: a visitor is not told of the demo's MEMBERS_ONLY member
    total = stack.gql("{ members(first: 1) { totalCount } }",
                      token=stack.admin())["members"]["totalCount"]
    assert total >= len(demo.ALL_MEMBERS) >= 20
    for data in demo.FOUNDERS:
        found = members_named(stack, data["name"])
        assert len(found) == 1, data["name"]
        assert found[0]["status"] == "ACTIVE" and found[0]["canVote"], found[0]
    applicant = members_named(stack, demo.APPLICANT["name"])
    assert [m["status"] for m in applicant] == ["CANDIDATE"]
    with stack.rpc() as rpc:
        admission = wait_for(lambda: rpc.consultations.get_by_subjects(
            [applicant[0]["id"]]).get(applicant[0]["id"]), message="admission consultation")
    assert admission["kind"] == "MEMBERSHIP_ADMISSION" and admission["status"] == "OPEN"


def test_demo_load_grants_and_allocations(stack, loaded):
    grants = [g for g in nodes(stack, GRANTS, "grants") if g["title"] == demo.RCNF_GRANT["title"]]
    assert len(grants) == 1
    rcnf = grants[0]
    assert (rcnf["amount"], rcnf["currency"], rcnf["status"]) == ("1455000.00", "USD", "ACTIVE")
    assert rcnf["donor"].startswith("Robert Carr")
    allocations = {a["member"]["name"]: a for a in rcnf["allocations"]}
    assert set(allocations) == {a["member"] for a in demo.ALLOCATIONS}
    assert len(allocations) == 7
    for allocation in allocations.values():
        assert allocation["status"] == "APPROVED"  # adopted by its round
        assert allocation["consultation"]["kind"] == "GRANT_ALLOCATION"
        assert allocation["consultation"]["status"] == "CLOSED"
    assert allocations[demo.EHRN]["amount"] == demo.EHRN_YEAR_ONE == "86454.20"


def test_demo_load_pays_reports_and_exports_iati(stack, loaded):
    rcnf = next(g for g in nodes(stack, GRANTS, "grants") if g["title"] == demo.RCNF_GRANT["title"])
    grant = stack.gql(DEMO_GRANT, {"id": rcnf["id"]}, stack.admin())["grant"]
    assert grant["sectorCode"] == "13040"
    assert [b["amount"] for b in grant["budgetLines"]] == ["485000.00"] * 3
    by_name = {a["member"]["name"]: a for a in grant["allocations"]}
    ehrn = by_name[demo.EHRN]
    assert [(d["amount"], d["paidOn"]) for d in ehrn["disbursements"]] == [("86454.20", "2016-03-15")]
    [report] = ehrn["reports"]
    assert (report["status"], report["spent"], report["overdue"]) == ("ACCEPTED", "86454.20", False)
    assert {i["name"] for i in report["indicators"]} >= {"People reached", "Lawyers trained"}
    [late] = by_name["Middle East and North Africa Harm Reduction Association"]["reports"]
    assert (late["status"], late["overdue"]) == ("DUE", True)
    [later] = by_name["International Drug Policy Consortium"]["reports"]
    assert (later["status"], later["overdue"]) == ("DUE", False)
    root = valid_iati(grant["iatiXml"])
    [activity] = root.findall("iati-activity")
    assert len(transactions(activity, "2")) == 7 and len(transactions(activity, "3")) == 2


def general(stack):
    found = [c for c in nodes(stack, GENERAL, "consultations")
             if c["title"] == demo.CONSULTATION["title"]]
    assert len(found) == 1
    return found[0]


def test_demo_load_consultation_with_a_closed_round(stack, loaded):
    consultation = general(stack)
    assert consultation["status"] == "OPEN" and consultation["round"] == 2
    assert [r["number"] for r in consultation["rounds"]] == [1]
    assert consultation["rounds"][0]["outcome"] in ("BLOCKED", "NO_QUORUM")


def test_demo_load_twice_duplicates_nothing(stack, loaded):
    again = run(stack, "demo", "load", "--url", stack.url)
    assert again.exit_code == 0, again.output
    assert f"secretariat person: {demo.SECRETARIAT_PERSON['name']}: already there" in again.stdout
    with stack.rpc() as rpc:
        emails = [p["email"].casefold() for p in rpc.accounts.secretariat()]
    assert emails.count(demo.SECRETARIAT_PERSON["email"].casefold()) == 1
    for data in demo.ALL_MEMBERS:
        assert len(members_named(stack, data["name"])) == 1, data["name"]
    titles = [g["title"] for g in nodes(stack, GRANTS, "grants")]
    for data in demo.GRANTS:
        assert titles.count(data["title"]) == 1
    rcnf = next(g for g in nodes(stack, GRANTS, "grants") if g["title"] == demo.RCNF_GRANT["title"])
    assert len(rcnf["allocations"]) == len(demo.ALLOCATIONS)
    assert general(stack)["round"] == 2


def test_demo_load_without_a_gateway_fails_in_one_line(stack):
    url = f"http://127.0.0.1:{free_port()}"
    result = run(stack, "demo", "load", "--url", url)
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "does not answer" in result.stderr and url in result.stderr


def test_demo_load_with_the_wrong_secret_says_so(stack):
    result = run(stack, "demo", "load", "--url", stack.url,
                 env={"COALITION_JWT_SECRET": "another-secret-" + "y" * 40})
    assert result.exit_code == 1
    assert "UNAUTHENTICATED" in result.stderr and "COALITION_JWT_SECRET" in result.stderr


# ---- export --------------------------------------------------------------------------------

def test_export_consultation_csv(stack, loaded, tmp_path):
    consultation = general(stack)
    out = tmp_path / "consultation.csv"
    result = run(stack, "export", "consultation", consultation["id"], "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row["record"], []).append(row)
    assert len(by_kind["consultation"]) == 1
    assert by_kind["consultation"][0]["title"] == demo.CONSULTATION["title"]
    rounds = {row["round"]: row for row in by_kind["round"]}
    assert set(rounds) == {"1", "2"}
    assert rounds["1"]["status"] == "CLOSED"
    assert rounds["1"]["outcome"] == consultation["rounds"][0]["outcome"]
    assert rounds["2"]["status"] == "OPEN" and rounds["2"]["outcome"] == ""
    assert int(rounds["1"]["responded"]) >= 1 and int(rounds["1"]["eligible"]) >= 1

    with stack.rpc() as rpc:
        audit = rpc.consultations.stance_audit(consultation["id"])
    assert audit
    exported = [(r["round"], r["member_id"], r["stance"], r["reason"], r["replaces"])
                for r in by_kind["stance"]]
    expected = [(str(a["round"]), a["member_id"], a["value"], a["reason"] or "",
                 a["replaces"] or "") for a in audit]
    assert exported == expected
    names = {row["member_name"] for row in by_kind["stance"]}
    assert "Youth RISE" in names
    block = next(r for r in by_kind["stance"] if r["stance"] == "BLOCK")
    assert block["round"] == "1" and block["member_name"] == "Youth RISE" and block["reason"]
    # the replaced stance is kept, marked superseded, and its replacement names it
    replaced = [r for r in by_kind["stance"] if r["superseded"] == "yes"]
    assert replaced and replaced[0]["member_name"] == "Eurasian Harm Reduction Network"
    replacement = [r for r in by_kind["stance"] if r["replaces"]]
    assert replacement[0]["member_id"] == replaced[0]["member_id"]
    assert replacement[0]["replaces"] == replaced[0]["stance"] == "RESERVATIONS"
    assert replacement[0]["superseded"] == "no"


def test_export_to_stdout_and_unknown_id(stack, loaded):
    consultation = general(stack)
    result = run(stack, "export", "consultation", consultation["id"])
    assert result.exit_code == 0
    assert result.stdout.startswith("record,consultation_id,")
    result = run(stack, "export", "consultation", "no-such-consultation")
    assert result.exit_code == 1
    assert "no consultation" in result.stderr and result.stderr.strip().count("\n") == 0


# ---- dlq and outbox ---------------------------------------------------------------------------

def test_dlq_list_and_replay(stack):
    result = run(stack, "dlq", "list")
    assert result.exit_code == 0, result.output
    for service in SERVICES:
        assert f"{service}: " in result.stdout
    result = run(stack, "dlq", "list", "--service", "grants", "--status", "all")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("grants: ") and "members:" not in result.stdout

    result = run(stack, "dlq", "replay")
    assert result.exit_code == 0, result.output
    for service in SERVICES:
        assert f"{service}: replayed " in result.stdout
    result = run(stack, "dlq", "replay", "--service", "members", "no-such-letter")
    assert result.exit_code == 1
    assert "no-such-letter" in result.stderr


def test_outbox(stack):
    result = run(stack, "outbox")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["service", "pending"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(SERVICES) and "notifications" in rows
    assert all(row[1].isdigit() for row in rows.values())


def test_rpc_commands_without_a_broker_fail_in_one_line(stack):
    env = {"AMQP_URI": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    for args in (["outbox"], ["dlq", "list"], ["export", "consultation", "x"],
                 ["mail", "list"], ["mail", "failed"], ["mail", "show", "x"], ["mail", "retry"],
                 ["admin", "list"], ["admin", "audit"],
                 ["admin", "add", "--email", "a@example.org", "--name", "A"]):
        result = run(stack, *args, env=env)
        assert result.exit_code == 1, args
        assert result.stderr.strip().count("\n") == 0
        assert "broker" in result.stderr and "guest:guest" not in result.stderr


# ---- the mail queue ------------------------------------------------------------------------

def applicant(stack, refused=None):
    """(member id, its focal point's address) of a new candidate, whose
    application mails it (MEMBERSHIP) through the stack's SMTP server; with
    `refused` (a set the server's refuse() predicate reads), the address is
    added to it first."""
    address = f"cli-{uuid.uuid4().hex[:12]}@example.org"
    if refused is not None:
        refused.add(address)
    data = member_input(focalPoint={"name": "Focal Point", "email": address, "phone": None})
    with stack.rpc() as rpc:
        return rpc.members.apply_for_membership(data)["id"], address


def refused_applicant(stack, mail, refused):
    """A candidate whose application mail the SMTP server refused for good (550)."""
    mail.refuse(lambda address: address in refused)
    candidate, address = applicant(stack, refused)
    wait_for(lambda: stack.mail_queue(recipient=candidate, status="FAILED"), 30, 0.2,
             "the refused mail FAILED")
    return candidate, address


def bare(message_id):
    return (message_id or "").strip().strip("<>")


def test_a_refused_mail_is_listed_shown_and_sent_again_by_retry(stack, mail):
    candidate, address = refused_applicant(stack, mail, set())
    [failed] = stack.mail_queue(recipient=candidate, status="FAILED")
    listing = run(stack, "mail", "failed")
    assert listing.exit_code == 0, listing.output
    assert failed["_id"] in listing.stdout and "FAILED" in listing.stdout
    assert "coalition mail retry" in listing.stdout
    assert "@example.org" not in listing.stdout  # recipients by id, never by address
    listed = run(stack, "mail", "list", "--status", "FAILED", "--limit", "500")
    assert failed["_id"] in listed.stdout and "@example.org" not in listed.stdout
    shown = run(stack, "mail", "show", failed["_id"])
    assert shown.exit_code == 0, shown.output
    assert f"recipient:   {candidate}" in shown.stdout and "MEMBERSHIP" in shown.stdout
    assert "550" in shown.stdout and "@example.org" not in shown.stdout
    assert failed["text"].strip().splitlines()[0] in shown.stdout  # its plain text follows

    mail.accept()
    retried = run(stack, "mail", "retry", failed["_id"])
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.strip() == f"queued again: 1: {failed['_id']}"
    [received] = mail.wait_for_messages(lambda m: m.to == (address,), timeout=30)
    [sent] = wait_for(lambda: stack.mail_queue(_id=failed["_id"], status="SENT"), 30, 0.2, "SENT")
    assert bare(received.message_id) == bare(sent["message_id"]) != ""
    again = run(stack, "mail", "retry", failed["_id"])  # no longer FAILED
    assert again.exit_code == 1 and failed["_id"] in again.stderr
    assert again.stderr.strip().count("\n") == 0


def test_retry_without_ids_queues_every_failed_mail(stack, mail):
    refused = set()
    ours = [refused_applicant(stack, mail, refused)[0] for _ in range(2)]
    failed = {m["_id"] for m in stack.mail_queue(status="FAILED")}
    assert {m["_id"] for m in stack.mail_queue(recipient={"$in": ours})} <= failed
    mail.accept()
    result = run(stack, "mail", "retry")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("queued again: ")
    assert failed <= set(result.stdout.strip().split(": ", 2)[2].split())
    wait_for(lambda: all(m["status"] == "SENT" for m in stack.mail_queue(recipient={"$in": ours})),
             30, 0.2, "every retried mail of ours sent")


def test_mail_list_limits_and_filters(stack, mail):
    candidate, _ = applicant(stack)
    wait_for(lambda: stack.mail_queue(recipient=candidate, status="SENT"), 30, 0.2, "sent")
    result = run(stack, "mail", "list", "--limit", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "1 mail(s) (at most 1)" and len(lines) == 2
    sent = run(stack, "mail", "list", "--status", "SENT")
    assert sent.exit_code == 0, sent.output
    header, *rows = sent.stdout.strip().splitlines()
    assert header.split()[1] == "SENT" and rows and all("  SENT " in row for row in rows)
    wrong = run(stack, "mail", "list", "--status", "LOST")
    assert wrong.exit_code == 2 and "LOST" in wrong.stderr


def test_mail_show_of_an_unknown_id_is_one_line(stack):
    result = run(stack, "mail", "show", "no-such-mail")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and "no-such-mail" in result.stderr


# ---- the secretariat's people and the sign-in audit ----------------------------------------

REQUEST_SIGN_IN = "mutation($e: String!) { requestSignIn(email: $e) }"


@pytest.fixture
def people(stack):
    """Addresses of the secretariat people a test adds: forgotten after it."""
    added = []
    yield added
    forget_people(stack, added)


def new_person(people):
    address = f"admin-{uuid.uuid4().hex[:12]}@example.org"
    people.append(address)
    return address, f"Secretariat {address[6:12]}"


def audit_rows(stack, limit=1000):
    result = run(stack, "admin", "audit", "--limit", str(limit))
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["at", "action", "person", "client"]
    return [row.split() for row in rows]


def test_admin_add_then_list(stack, people):
    address, name = new_person(people)
    result = run(stack, "admin", "add", "--email", address, "--name", name)
    assert result.exit_code == 0, result.output
    first, second = result.stdout.strip().splitlines()
    assert first.startswith("added ") and first.endswith(f"  {name}")
    person_id = first.split()[1]
    assert second == f"Sign in at {PUBLIC_URL.rstrip('/')}/signin"
    with stack.rpc() as rpc:
        [person] = [p for p in rpc.accounts.secretariat() if p["id"] == person_id]
    assert (person["email"], person["name"]) == (address, name)
    assert stack.db("accounts").people.find_one({"_id": person_id})["added_by"] == CLI_ADDER

    listing = run(stack, "admin", "list")
    assert listing.exit_code == 0, listing.output
    header, *lines = listing.stdout.strip().splitlines()
    assert header == f"{len(lines)} secretariat person(s)"
    [line] = [line for line in lines if person_id in line]
    assert line.split()[0] == person_id and f"  {name}  <{address}>" in line
    # by name: the service's order, shown as it is
    with stack.rpc() as rpc:
        assert [p["id"] for p in rpc.accounts.secretariat()] == [x.split()[0] for x in lines]


def test_admin_add_of_an_address_already_there_is_refused_in_one_line(stack, people):
    address, name = new_person(people)
    assert run(stack, "admin", "add", "--email", address, "--name", name).exit_code == 0
    again = run(stack, "admin", "add", "--email", address.upper(), "--name", "Someone Else")
    assert again.exit_code == 1
    assert again.stderr.startswith("coalition: accounts: ")
    assert again.stderr.strip().count("\n") == 0
    with stack.rpc() as rpc:
        found = [p for p in rpc.accounts.secretariat() if p["email"].casefold() == address]
    assert [p["name"] for p in found] == [name]


def test_admin_add_of_a_bad_address_names_the_field_not_the_input(stack):
    result = run(stack, "admin", "add", "--email", "not-an-address-xyz", "--name", "Nobody")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "email" in result.stderr and "not-an-address-xyz" not in result.stderr
    missing = run(stack, "admin", "add", "--name", "Nobody")
    assert missing.exit_code == 2 and "--email" in missing.stderr


def test_admin_audit_shows_whom_and_never_an_address(stack, people):
    address, name = new_person(people)
    added = run(stack, "admin", "add", "--email", address, "--name", name)
    assert added.exit_code == 0, added.output
    person_id = added.stdout.split()[1]
    rows = audit_rows(stack)
    assert [row[1:] for row in rows if row[2] == person_id] == [
        ["SECRETARIAT_ADDED", person_id, "-"]]  # the CLI has no client address

    # a code asked for through the gateway: CODE_SENT, from the test's client
    assert stack.gql(REQUEST_SIGN_IN, {"e": address})["requestSignIn"] is True
    sent = wait_for(lambda: [row for row in audit_rows(stack)
                             if row[1:3] == ["CODE_SENT", person_id]], 20, 0.3, "CODE_SENT")
    assert sent[0][3] == "127.0.0.1"
    rows = audit_rows(stack)
    assert rows.index(sent[0]) < rows.index(next(r for r in rows if r[1] == "SECRETARIAT_ADDED"
                                                 and r[2] == person_id)), "newest first"
    result = run(stack, "admin", "audit")
    assert "@" not in result.stdout and address.split("@")[0] not in result.stdout


def test_admin_audit_limit(stack, people):
    address, name = new_person(people)
    assert run(stack, "admin", "add", "--email", address, "--name", name).exit_code == 0
    assert len(audit_rows(stack, limit=1)) == 1
    assert len(audit_rows(stack, limit=2)) <= 2
    for wrong in ("0", "1001", "x"):
        result = run(stack, "admin", "audit", "--limit", wrong)
        assert result.exit_code == 2 and "--limit" in result.stderr, wrong

