"""REPORT notifications end to end (DOMAIN.md sections 8 and 10): the
beneficiary's focal point is told once when a report falls due within 7
days, once when it is overdue (and only that, if it already was when first
seen), and when changes are requested, with the secretariat's note; nothing
on a submission or an acceptance, and nothing twice, whatever the
redeliveries. Mail is observed on the stack's real SMTP server."""
import re
import time
from datetime import date

import pytest

from tests.helpers.notifications import (
    founders_with_addresses, inbox, received_of, set_preferences)
from tests.helpers.reports import (
    approved_allocation, day, review, schedule, submit, unique_title)
from tests.support import PUBLIC_URL, isolate_voters, start_service, wait_for

CYRILLIC = re.compile("[а-яА-ЯёЁ]")
TIMER_CHECKS = 3  # seconds: six reminder checks (REMINDER_CHECK_SECONDS is 0.5 in tests)


@pytest.fixture(scope="module")
def beneficiary(stack):
    """(member id, its focal point's address, grant, APPROVED allocation)."""
    isolate_voters(stack)
    (member_id, address), _voter = founders_with_addresses(stack, 2)
    g, a = approved_allocation(stack, member_id, "5000.00", title=unique_title("Report mails"))
    return member_id, address, g, a


def written(iso_date):
    """A date as an English mail writes it: "7 December 2026"."""
    d = date.fromisoformat(iso_date)
    return f"{d.day} {d:%B %Y}"


def report_mails(stack, member_id, address, report_id):
    """The REPORT messages the SMTP server accepted for `address` about `report_id`."""
    return [m for m in received_of(stack, member_id, "REPORT", address)
            if f"/reports/{report_id}" in m.text]


def wait_report_mails(stack, member_id, address, report_id, count=1, timeout=30):
    """Exactly `count` REPORT messages about the report, once they came and
    the server and the reminder timer have had time to send more."""
    wait_for(lambda: len(report_mails(stack, member_id, address, report_id)) >= count, timeout,
             0.1, f"{count} REPORT mail(s) about report {report_id}")
    time.sleep(TIMER_CHECKS)
    stack.mail.settle(quiet=0.5)
    found = report_mails(stack, member_id, address, report_id)
    assert len(found) == count, [m.subject for m in found]
    return found


def no_report_mail(stack, member_id, address, report_id):
    time.sleep(TIMER_CHECKS)
    stack.mail.settle(quiet=0.5)
    assert report_mails(stack, member_id, address, report_id) == []


def test_a_report_due_in_three_days_is_told_once_with_its_link(stack, beneficiary):
    member_id, address, g, a = beneficiary
    r = schedule(stack, a["id"], day(3))
    [message] = wait_report_mails(stack, member_id, address, r["id"])
    link = f"{PUBLIC_URL}/reports/{r['id']}"
    assert link in message.text and link in message.html
    assert g["title"] in message.subject + message.text and written(r["dueOn"]) in message.text
    assert "overdue" not in message.subject.lower()
    [notice] = [e["node"] for e in inbox(stack, stack.member_token(member_id))["edges"]
                if e["node"]["kind"] == "REPORT" and e["node"]["link"] == link]
    assert not notice["read"]


def test_report_mails_cannot_be_turned_off(stack, beneficiary):
    member_id, address, _, a = beneficiary
    token = stack.member_token(member_id)
    set_preferences(stack, token, consultationOpened=False, reminders=False, outcomes=False)
    try:
        r = schedule(stack, a["id"], day(-5))
        wait_report_mails(stack, member_id, address, r["id"])
    finally:
        set_preferences(stack, token, consultationOpened=True, reminders=True, outcomes=True)


def test_seven_days_ahead_is_told_and_eight_is_not_yet(stack, beneficiary):
    member_id, address, _, a = beneficiary
    week = schedule(stack, a["id"], day(7))
    later = schedule(stack, a["id"], day(8))
    wait_report_mails(stack, member_id, address, week["id"])
    assert report_mails(stack, member_id, address, later["id"]) == []


def test_an_overdue_report_gets_only_the_overdue_mail(stack, beneficiary):
    member_id, address, g, a = beneficiary
    r = schedule(stack, a["id"], day(-1))
    [message] = wait_report_mails(stack, member_id, address, r["id"])
    assert "overdue" in (message.subject + message.text).lower()
    assert g["title"] in message.subject + message.text


def test_submitting_and_accepting_tell_nobody_but_a_request_for_changes_does(stack, beneficiary):
    member_id, address, _, a = beneficiary
    r = schedule(stack, a["id"], day(30))
    submit(stack, r["id"], member_id)
    no_report_mail(stack, member_id, address, r["id"])
    review(stack, r["id"], False, "Please add the figures for Osh and Bishkek.")
    [message] = wait_report_mails(stack, member_id, address, r["id"])
    assert "Please add the figures for Osh and Bishkek." in message.text
    assert f"{PUBLIC_URL}/reports/{r['id']}" in message.text
    submit(stack, r["id"], member_id)
    review(stack, r["id"], True, "Thank you.")
    wait_report_mails(stack, member_id, address, r["id"], count=1)


def test_each_reminder_goes_once_whatever_comes_after(stack, beneficiary):
    """Overdue, then sent back: the changes mail, but the overdue mail not again
    (the report is still overdue); the same for one due soon."""
    member_id, address, _, a = beneficiary
    for offset in (-1, 4):
        r = schedule(stack, a["id"], day(offset))
        wait_report_mails(stack, member_id, address, r["id"])
        submit(stack, r["id"], member_id)
        review(stack, r["id"], False, f"Sent back {offset}.")
        _, changes = wait_report_mails(stack, member_id, address, r["id"], count=2)
        assert f"Sent back {offset}." in changes.text


def test_when_the_due_date_passes_the_overdue_mail_follows_once(stack, beneficiary):
    """Time passes: the due date moves into the past where each service
    keeps it (the grants store and the notifications read model), as
    tomorrow's clock would see it."""
    member_id, address, _, a = beneficiary
    r = schedule(stack, a["id"], day(3))
    [soon] = wait_report_mails(stack, member_id, address, r["id"])
    stack.db("grants").reports.update_one({"_id": r["id"]}, {"$set": {"due_on": day(-1)}})
    moved = stack.db("notifications").reports.update_one(
        {"_id": r["id"]}, {"$set": {"due_on": day(-1), "soon_on": day(-8)}})
    assert moved.matched_count == 1
    _, late = wait_report_mails(stack, member_id, address, r["id"], count=2)
    assert "overdue" in (late.subject + late.text).lower() and late.subject != soon.subject


def redeliver(stack, event_type, report_id):
    """The grants relay publishes the report's `event_type` event again; its envelope."""
    outbox = stack.db("grants").outbox
    event = wait_for(lambda: outbox.find_one({"event_type": event_type,
                                              "envelope.data.report_id": report_id,
                                              "status": "sent"}), 20, 0.1, "event sent")
    outbox.update_one({"_id": event["_id"]}, {"$set": {"status": "pending"}})
    wait_for(lambda: outbox.find_one({"_id": event["_id"], "status": "sent"}), 20, 0.1, "resent")
    return event["envelope"]


def test_events_delivered_twice_mail_nothing_twice(stack, beneficiary):
    member_id, address, _, a = beneficiary
    late = schedule(stack, a["id"], day(-2))
    sent_back = schedule(stack, a["id"], day(30))
    submit(stack, sent_back["id"], member_id)
    review(stack, sent_back["id"], False, "Once only.")
    wait_report_mails(stack, member_id, address, late["id"])
    wait_report_mails(stack, member_id, address, sent_back["id"])
    copies = [redeliver(stack, "report_scheduled", late["id"]),
              redeliver(stack, "report_changes_requested", sent_back["id"])]
    # a barrier: a later request for changes comes through the same queue, after the copies
    barrier = schedule(stack, a["id"], day(30))
    submit(stack, barrier["id"], member_id)
    review(stack, barrier["id"], False, "After the copies.")
    wait_report_mails(stack, member_id, address, barrier["id"])
    for report in (late, sent_back):
        assert len(report_mails(stack, member_id, address, report["id"])) == 1
    assert not stack.mail.duplicates()
    for envelope in copies:
        assert not stack.db("notifications").dead_letters.find_one(
            {"payload.event_id": envelope["event_id"]})


def test_a_russian_member_is_told_in_russian(stack, beneficiary):
    [(member_id, address)] = founders_with_addresses(stack, 1, language="RU")
    _, a = approved_allocation(stack, member_id, "300.00", title=unique_title("Отчёты"))
    r = schedule(stack, a["id"], day(2))
    [message] = wait_report_mails(stack, member_id, address, r["id"])
    assert CYRILLIC.search(message.subject) and CYRILLIC.search(message.text)
    assert f"{PUBLIC_URL}/reports/{r['id']}" in message.text


def test_two_notifications_instances_send_each_reminder_once(stack, beneficiary, tmp_path):
    member_id, address, _, a = beneficiary
    second = start_service(stack, "notifications", tmp_path / "notifications-2.log")
    try:
        time.sleep(3)  # let it start its timer
        reports = [schedule(stack, a["id"], day(offset)) for offset in (-3, -1, 1, 2, 5, 6)]
        for r in reports:
            wait_for(lambda: report_mails(stack, member_id, address, r["id"]), 30, 0.1,
                     f"the mail about report {r['id']}")
        time.sleep(TIMER_CHECKS)  # more timer ticks of both instances
        stack.mail.settle(quiet=0.5)
        for r in reports:
            assert len(report_mails(stack, member_id, address, r["id"])) == 1, r
    finally:
        second.terminate()
        second.wait(20)
