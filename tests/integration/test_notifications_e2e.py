"""Notifications end to end (DOMAIN.md section 8): events from the real
services, the notifications service, and a real SMTP server started by the
harness (tests/helpers/mail.py). Every member here has an address of its own,
so what one test sends never counts in another's."""
import re
import time
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from services.cli import coalition
from tests.helpers.consultations import admission_of, cast, close, open_consultation
from tests.helpers.grants import approve, create_grant, disburse_body, propose, wait_allocation
from tests.helpers.notifications import (
    MARK_READ, SECRETARIAT, founders_with_addresses, inbox, mails, member_data, received,
    received_of, set_preferences, wait_received)
from tests.support import isolate_voters, wait_for

PUBLIC_URL = "https://coalition.test"
CYRILLIC = re.compile("[а-яА-ЯёЁ]")
SUSPEND = """mutation($m: ID!, $r: String!) { proposeSuspension(memberId: $m, reason: $r) { id } }"""
REINSTATE = "mutation($m: ID!) { reinstateMember(memberId: $m) { id status } }"
CANCEL = "mutation($id: ID!, $r: String!) { cancelConsultation(id: $id, reason: $r) { status } }"
APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id status language } }"
LANGUAGE = "query($id: ID!) { member(id: $id) { id language } }"


def coalition_of(stack, count, language=None):
    isolate_voters(stack)
    return founders_with_addresses(stack, count, language)


def soon(seconds):
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def run_cli(stack, *args):
    result = CliRunner().invoke(coalition, list(args), env=stack.cli_env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# ---- a round opens, closes; the in-app notifications ------------------------------------

def test_a_round_opening_mails_each_member_of_its_snapshot_with_title_and_link(stack):
    people = coalition_of(stack, 3)
    c = open_consultation(stack, title="Regional strategy 2027", proposal="Adopt the strategy.")
    for member_id, address in people:
        [message] = wait_received(stack, member_id, "CONSULTATION_OPENED", address)
        assert "Regional strategy 2027" in message.subject + message.text
        assert f"{PUBLIC_URL}/consultations/{c['id']}" in message.text
        assert f"{PUBLIC_URL}/consultations/{c['id']}" in message.html
        assert "UTC" in message.text and f"{PUBLIC_URL}/preferences" in message.text
    # the same text in the app, unread, newest first
    member_id, _ = people[0]
    token = stack.member_token(member_id)
    box = inbox(stack, token)
    [opened] = [e["node"] for e in box["edges"] if e["node"]["kind"] == "CONSULTATION_OPENED"]
    assert opened["link"] == f"{PUBLIC_URL}/consultations/{c['id']}" and not opened["read"]
    assert "Regional strategy 2027" in opened["subject"] + opened["body"]
    assert box["unreadCount"] >= 1 and box["totalCount"] >= 1


def test_marking_read_is_seen_by_the_next_read_and_only_for_the_reader(stack):
    people = coalition_of(stack, 2)
    open_consultation(stack, title="Read marks")
    (first, _), (second, _) = people
    for member_id, address in people:
        wait_received(stack, member_id, "CONSULTATION_OPENED", address)
    mine = inbox(stack, stack.member_token(first), unread=True)
    ids = [e["node"]["id"] for e in mine["edges"]]
    assert ids
    # someone else's ids change nothing
    other = stack.gql(MARK_READ, {"ids": ids}, stack.member_token(second))
    assert other["markNotificationsRead"] == 0
    changed = stack.gql(MARK_READ, {"ids": ids}, stack.member_token(first))
    assert changed["markNotificationsRead"] == len(ids)
    after = inbox(stack, stack.member_token(first), unread=True)  # at once: read your writes
    assert after["unreadCount"] == mine["unreadCount"] - len(ids) and not after["edges"]
    assert stack.gql(MARK_READ, {"ids": ids}, stack.member_token(first))["markNotificationsRead"] == 0
    code, _ = stack.gql_error("{ notifications { totalCount } }")
    assert code == "UNAUTHENTICATED"


def test_a_round_closing_mails_its_snapshot_and_the_secretariat_with_outcome_and_why(stack):
    people = coalition_of(stack, 2)
    c = open_consultation(stack, title="Closing words")
    for member_id, _ in people:
        assert not cast(stack, c["id"], member_id, "AGREE").get("errors")
    assert close(stack, c["id"])["outcome"] == "ADOPTED"
    for member_id, address in people:
        [message] = wait_received(stack, member_id, "ROUND_CLOSED", address)
        assert "Closing words" in message.subject + message.text
        assert "Adopted with 2 agree and 0 with reservations." in message.text
    [to_secretariat] = wait_received(stack, "secretariat", "ROUND_CLOSED", SECRETARIAT,
                                     about=f"/consultations/{c['id']}")
    assert "Closing words" in to_secretariat.subject + to_secretariat.text
    admin_box = inbox(stack, stack.admin())
    assert any(e["node"]["kind"] == "ROUND_CLOSED" and c["id"] in (e["node"]["link"] or "")
               for e in admin_box["edges"])


# ---- reminders ---------------------------------------------------------------------------

def test_the_reminder_goes_only_to_those_who_have_not_responded(stack):
    """REMINDER_HOURS is 0.01 (36 s) in the tests' stack: a round of 60 s is
    reminded about 24 s after it opens."""
    (voted, voted_at), (silent, silent_at) = coalition_of(stack, 2)
    c = open_consultation(stack, title="Remind me", closesAt=soon(60))
    assert not cast(stack, c["id"], voted, "RESERVATIONS").get("errors")
    [reminder] = wait_received(stack, silent, "REMINDER", silent_at, timeout=45)
    assert "Remind me" in reminder.subject + reminder.text and "UTC" in reminder.text
    # the reminder's mails are queued in one transaction: the voter's would be there now
    assert not mails(stack, recipient=voted, kind="REMINDER")
    assert not received_of(stack, voted, "REMINDER", voted_at)
    assert "RESERVATIONS" not in reminder.text  # no stance value, ever
    close(stack, c["id"])


def test_no_reminder_for_a_round_shorter_than_the_reminder_time(stack):
    (member_id, address), _ = coalition_of(stack, 2)
    c = open_consultation(stack, title="Too short to remind", closesAt=soon(30))
    wait_received(stack, member_id, "CONSULTATION_OPENED", address)
    time.sleep(3)  # six reminder checks
    close(stack, c["id"])
    wait_received(stack, member_id, "ROUND_CLOSED", address)
    assert not mails(stack, recipient=member_id, kind="REMINDER")


# ---- opt-outs ---------------------------------------------------------------------------

def test_each_opt_out_stops_its_kind_and_nothing_else(stack):
    people = coalition_of(stack, 3)
    (no_open, a1), (no_remind, a2), (no_outcome, a3) = people
    assert set_preferences(stack, stack.member_token(no_open), consultationOpened=False) == {
        "language": "EN", "consultationOpened": False, "reminders": True, "outcomes": True}
    set_preferences(stack, stack.member_token(no_remind), reminders=False)
    set_preferences(stack, stack.member_token(no_outcome), outcomes=False)
    c = open_consultation(stack, title="Opt-outs", closesAt=soon(60))
    wait_received(stack, no_remind, "CONSULTATION_OPENED", a2)
    wait_received(stack, no_outcome, "CONSULTATION_OPENED", a3)
    wait_received(stack, no_open, "REMINDER", a1, timeout=45)
    wait_received(stack, no_outcome, "REMINDER", a3, timeout=45)
    close(stack, c["id"])
    wait_received(stack, no_open, "ROUND_CLOSED", a1)
    wait_received(stack, no_remind, "ROUND_CLOSED", a2)
    time.sleep(1)
    assert not mails(stack, recipient=no_open, kind="CONSULTATION_OPENED")
    assert not mails(stack, recipient=no_remind, kind="REMINDER")
    assert not mails(stack, recipient=no_outcome, kind="ROUND_CLOSED")
    assert not [e for e in inbox(stack, stack.member_token(no_open))["edges"]
                if e["node"]["kind"] == "CONSULTATION_OPENED"]


# ---- membership -------------------------------------------------------------------------

def test_membership_applied_admitted_and_rejected(stack):
    voters = coalition_of(stack, 2)
    admitted_in = member_data()
    candidate = stack.gql(APPLY, {"i": admitted_in})["applyForMembership"]
    address = admitted_in["focalPoint"]["email"]
    [applied] = wait_received(stack, candidate["id"], "MEMBERSHIP", address)
    assert f"{PUBLIC_URL}/members/{candidate['id']}" in applied.text
    wait_for(lambda: [m for m in received_of(stack, "secretariat", "MEMBERSHIP", SECRETARIAT)
                      if admitted_in["name"] in m.text], 30, 0.1, "the secretariat told")
    admission = admission_of(stack, candidate["id"])
    for member_id, _ in voters:
        assert not cast(stack, admission["_id"], member_id).get("errors")
    close(stack, admission["_id"])
    wait_received(stack, candidate["id"], "MEMBERSHIP", address, count=2)

    rejected_in = member_data()
    other = stack.gql(APPLY, {"i": rejected_in})["applyForMembership"]
    other_address = rejected_in["focalPoint"]["email"]
    admission = admission_of(stack, other["id"])
    close(stack, admission["_id"])  # nobody responded: NO_QUORUM
    stack.gql(CANCEL, {"id": admission["_id"], "r": "No consensus"}, stack.admin())
    messages = wait_received(stack, other["id"], "MEMBERSHIP", other_address, count=2)
    assert len({m.message_id for m in messages}) == 2


def test_suspended_and_reinstated_are_told(stack):
    people = coalition_of(stack, 3)
    (subject, address), voters = people[0], people[1:]
    set_preferences(stack, stack.member_token(subject), consultationOpened=False,
                    reminders=False, outcomes=False)  # decisions about itself still come
    s = stack.gql(SUSPEND, {"m": subject, "r": "Reports missing"}, stack.admin())["proposeSuspension"]
    for member_id, _ in voters:
        assert not cast(stack, s["id"], member_id).get("errors")
    close(stack, s["id"])
    wait_received(stack, subject, "MEMBERSHIP", address)
    assert stack.gql(REINSTATE, {"m": subject}, stack.admin())["reinstateMember"]["status"] == "ACTIVE"
    wait_received(stack, subject, "MEMBERSHIP", address, count=2)


# ---- allocations ------------------------------------------------------------------------

def test_allocation_decisions_and_disbursements_reach_the_beneficiary(stack):
    people = coalition_of(stack, 3)
    (beneficiary, address), voters = people[0], people[1:]
    set_preferences(stack, stack.member_token(beneficiary), consultationOpened=False,
                    reminders=False, outcomes=False)
    g = create_grant(stack, activate=True, amount="10000", currency="USD")
    a = propose(stack, g["id"], beneficiary, "2500.50")
    approve(stack, g["id"], a["id"])
    [approved] = wait_received(stack, beneficiary, "ALLOCATION", address)
    assert f"{PUBLIC_URL}/grants/{g['id']}#allocation-{a['id']}" in approved.text
    assert g["title"] in approved.text
    assert "2,500.50" in approved.text or "2500.50" in approved.text, approved.text
    assert not disburse_body(stack, a["id"], "1000").get("errors")
    wait_received(stack, beneficiary, "ALLOCATION", address, count=2)

    s = stack.gql(SUSPEND, {"m": beneficiary, "r": "Audit"}, stack.admin())["proposeSuspension"]
    for member_id, _ in voters:
        assert not cast(stack, s["id"], member_id).get("errors")
    close(stack, s["id"])
    wait_allocation(stack, g["id"], a["id"], "ON_HOLD")
    wait_received(stack, beneficiary, "ALLOCATION", address, count=3)  # held
    stack.gql(REINSTATE, {"m": beneficiary}, stack.admin())
    wait_allocation(stack, g["id"], a["id"], "APPROVED")
    wait_received(stack, beneficiary, "ALLOCATION", address, count=4)  # released


# ---- language ----------------------------------------------------------------------------

def test_a_russian_member_gets_russian_mails_and_can_change_its_language(stack):
    [(member_id, address), _] = coalition_of(stack, 2, language="RU")
    assert stack.gql(LANGUAGE, {"id": member_id}, stack.admin())["member"]["language"] == "RU"
    open_consultation(stack, title="Стратегия 2027")
    [message] = wait_received(stack, member_id, "CONSULTATION_OPENED", address)
    words = re.sub("Стратегия 2027", "", message.subject + message.text)
    assert CYRILLIC.search(words), message.text
    assert "UTC" in message.text
    prefs = set_preferences(stack, stack.member_token(member_id), language="EN")
    assert prefs["language"] == "EN"
    assert stack.gql(LANGUAGE, {"id": member_id}, stack.admin())["member"]["language"] == "EN"
    wait_for(lambda: stack.db("notifications").members.find_one(
        {"_id": member_id, "language": "EN"}), 20, 0.1, "notifications heard of the language")
    open_consultation(stack, title="Strategy 2028")
    [later_one] = [m for m in wait_received(stack, member_id, "CONSULTATION_OPENED", address,
                                            count=2) if "2028" in m.subject + m.text]
    assert not CYRILLIC.search(later_one.subject + later_one.text)


def test_an_application_in_russian_keeps_its_language(stack):
    data = member_data(language="RU")
    member = stack.gql(APPLY, {"i": data})["applyForMembership"]
    assert member["language"] == "RU"
    [message] = wait_received(stack, member["id"], "MEMBERSHIP", data["focalPoint"]["email"])
    assert CYRILLIC.search(message.subject + message.text)


# ---- exactly once ----------------------------------------------------------------------------

def test_an_event_delivered_twice_sends_nothing_twice(stack):
    people = coalition_of(stack, 2)
    c = open_consultation(stack, title="Twice delivered")
    for member_id, address in people:
        wait_received(stack, member_id, "CONSULTATION_OPENED", address)
    outbox = stack.db("consultations").outbox
    event = outbox.find_one({"event_type": "consultation_opened",
                             "envelope.data.consultation_id": c["id"]})
    outbox.update_one({"_id": event["_id"]}, {"$set": {"status": "pending"}})  # the relay sends it again
    wait_for(lambda: outbox.find_one({"_id": event["_id"], "status": "sent"}), 20, 0.1, "resent")
    # a barrier: the next opening comes through the same queue, after the copy
    barrier = open_consultation(stack, title="After the copy")
    for member_id, address in people:
        wait_received(stack, member_id, "CONSULTATION_OPENED", address, count=2)
    for member_id, address in people:
        texts = [m.text for m in received_of(stack, member_id, "CONSULTATION_OPENED", address)]
        assert sum(c["id"] in t for t in texts) == 1 and sum(barrier["id"] in t for t in texts) == 1
        assert len(mails(stack, recipient=member_id, kind="CONSULTATION_OPENED")) == 2
    # the copy was recognised as one, not refused and parked
    assert not stack.db("notifications").dead_letters.find_one(
        {"payload.event_id": event["envelope"]["event_id"]})


def test_smtp_down_then_up_delivers_everything_once(stack):
    people = coalition_of(stack, 3)
    stack.mail.stop()
    try:
        open_consultation(stack, title="While the mail server was down")
        wait_for(lambda: all(m["attempts"] >= 1 and m["status"] == "QUEUED"
                             for member_id, _ in people
                             for m in mails(stack, recipient=member_id) or [{"attempts": 0,
                                                                             "status": "?"}]),
                 30, 0.2, "failed attempts kept in the queue")
    finally:
        stack.mail.start()
    for member_id, address in people:
        wait_received(stack, member_id, "CONSULTATION_OPENED", address, timeout=30)
    time.sleep(1.5)
    for member_id, address in people:
        assert len(received(stack, address)) == 1
        [mail] = mails(stack, recipient=member_id)
        assert mail["status"] == "SENT"


def test_a_permanent_refusal_is_failed_listed_and_retried_by_the_operator(stack):
    (refused, refused_at), (fine, fine_at) = coalition_of(stack, 2)
    stack.mail.refuse(lambda address: address == refused_at)
    try:
        open_consultation(stack, title="Refused once")
        wait_received(stack, fine, "CONSULTATION_OPENED", fine_at)
        [failed] = wait_for(lambda: mails(stack, recipient=refused, status="FAILED"), 30, 0.2,
                            "the refused mail FAILED")
        assert "550" in failed["error"] and refused_at not in failed["error"]
        listing = run_cli(stack, "mail", "failed")
        assert failed["_id"] in listing and "@" not in listing.replace("@coalition", "")
        assert failed["_id"] in run_cli(stack, "mail", "show", failed["_id"])
    finally:
        stack.mail.accept()
    assert not received(stack, refused_at)
    run_cli(stack, "mail", "retry", failed["_id"])
    wait_received(stack, refused, "CONSULTATION_OPENED", refused_at)
    assert mails(stack, _id=failed["_id"])[0]["status"] == "SENT"


def test_no_email_address_is_in_any_log_file(stack):
    """Every focal point of the tests is @example.org (tests/support.py and
    tests/helpers/notifications.py); mails went to many of them by now."""
    assert stack.db("notifications").mails.count_documents({"status": "SENT"}) > 0
    logs = stack.stack.var / "logs"
    for path in logs.glob("*.log"):
        text = path.read_text(errors="replace")
        assert "@example.org" not in text, path.name
        assert SECRETARIAT not in text, path.name
