"""Reports in the notifications (services/notifications/reports.py and the
REPORT template): which reminder is due on which day, a report first seen
overdue, events in any order, the guarded claim, and the words in EN and RU."""
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from services.common import events
from services.common.vocabulary import (REPORT_DUE_SOON_DAYS, Language, NotificationKind,
                                        ReportStatus)
from services.notifications import domain, reports
from services.notifications.content import render
from services.notifications.domain import Reminder
from services.notifications.reports import CHANGES_REQUESTED, DUE_SOON, OVERDUE

K = NotificationKind
S = ReportStatus
URL = "https://coalition.example.org/"
DUE = date(2026, 12, 11)
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def report_data(status=S.DUE, due_on=DUE, note=None, **changes):
    """A ReportChanged event's data, checked against the events catalogue."""
    data = {"report_id": "r-5", "allocation_id": "a-9", "grant_id": "g-3", "member_id": "m-7",
            "due_on": due_on.isoformat(), "status": status,
            "grant_title": "Robert Carr Fund 2026", "note": note, **changes}
    return events.validate_data("report_scheduled", data)


def held(status=S.DUE, soon=Reminder.PENDING, overdue=Reminder.PENDING, due_on=DUE):
    return {"_id": "r-5", **reports.event_fields(report_data(status, due_on), T0),
            "soon": soon, "overdue": overdue}


def mails_over(doc, first, last):
    """[(day, mail)] the daily checks from `first` to `last` send, the
    states kept between them as the store would."""
    sent, day = [], first
    while day <= last:
        found = reports.claim(doc, day)
        if found is not None:
            doc = {**doc, **found.changes}
            if found.mail is not None:
                sent.append((day, found.mail))
        day += timedelta(days=1)
    return sent


# ---- which reminder on which day -----------------------------------------------------

def test_the_window_opens_seven_days_before_the_due_date():
    assert REPORT_DUE_SOON_DAYS == 7
    assert reports.soon_from(DUE) == date(2026, 12, 4)
    assert held()["soon_on"] == "2026-12-04" and held()["due_on"] == "2026-12-11"


@pytest.mark.parametrize("today,mail", [
    (date(2026, 12, 3), None), (date(2026, 12, 4), DUE_SOON), (date(2026, 12, 8), DUE_SOON),
    (DUE, DUE_SOON), (date(2026, 12, 12), OVERDUE), (date(2027, 3, 1), OVERDUE)])
def test_the_reminder_due_each_day_on_a_fresh_report(today, mail):
    found = reports.claim(held(), today)
    assert (found.mail if found else None) == mail


def test_each_reminder_goes_once_the_due_date_itself_is_not_overdue():
    assert mails_over(held(), date(2026, 11, 20), date(2027, 1, 31)) == [
        (date(2026, 12, 4), DUE_SOON), (date(2026, 12, 12), OVERDUE)]


@pytest.mark.parametrize("status", [S.SUBMITTED, S.ACCEPTED])
def test_a_submitted_or_accepted_report_is_reminded_of_nothing(status):
    assert mails_over(held(status), date(2026, 11, 20), date(2027, 1, 31)) == []


def test_a_report_sent_back_is_reminded_as_a_due_one():
    assert mails_over(held(S.CHANGES_REQUESTED), date(2026, 12, 10), date(2026, 12, 20)) == [
        (date(2026, 12, 10), DUE_SOON), (date(2026, 12, 12), OVERDUE)]


def test_a_report_submitted_in_the_window_then_sent_back_late_is_only_overdue():
    doc = {**held(S.SUBMITTED)}
    assert mails_over(doc, date(2026, 12, 1), date(2026, 12, 14)) == []
    assert mails_over({**doc, "status": S.CHANGES_REQUESTED}, date(2026, 12, 15),
                      date(2026, 12, 20)) == [(date(2026, 12, 15), OVERDUE)]


def test_a_report_first_seen_overdue_gets_only_the_overdue_mail():
    states = reports.first_seen(DUE.isoformat(), date(2026, 12, 12))
    assert states == {"soon": Reminder.NONE, "overdue": Reminder.PENDING}
    doc = {**held(), **states}
    assert mails_over(doc, date(2026, 12, 12), date(2027, 1, 31)) == [
        (date(2026, 12, 12), OVERDUE)]


def test_a_report_first_seen_on_its_due_date_or_in_the_window_gets_both():
    for today in (date(2026, 12, 1), date(2026, 12, 6), DUE):
        assert reports.first_seen(DUE.isoformat(), today) == {"soon": Reminder.PENDING,
                                                              "overdue": Reminder.PENDING}


def test_a_due_soon_reminder_never_sent_in_time_is_dropped_not_sent_late():
    """The service was away through the whole window: only the overdue mail."""
    found = reports.claim(held(), date(2026, 12, 13))
    assert found.mail == OVERDUE
    assert found.changes == {"soon": Reminder.NONE, "overdue": Reminder.DONE}
    dropped = reports.claim(held(overdue=Reminder.DONE), date(2026, 12, 13))
    assert dropped.mail is None and dropped.changes == {"soon": Reminder.NONE}
    assert reports.claim(held(soon=Reminder.NONE, overdue=Reminder.DONE),
                         date(2026, 12, 13)) is None


def test_a_claim_is_guarded_by_the_states_it_read():
    found = reports.claim(held(), date(2026, 12, 5))
    assert found.guard == {"soon": Reminder.PENDING, "overdue": Reminder.PENDING}
    assert found.changes == {"soon": Reminder.DONE}


# ---- the read model: events in any order ---------------------------------------------

def matches(doc, query):
    for field, want in query.items():
        have = doc.get(field)
        if isinstance(want, dict):
            if "$lt" in want and not (have is not None and have < want["$lt"]):
                return False
            if "$in" in want and have not in want["$in"]:
                return False
        elif have != want:
            return False
    return True


class Reports:
    """The few calls of a pymongo collection that reports.py makes."""

    def __init__(self):
        self.docs = {}

    def find_one(self, query, projection=None, session=None):
        doc = self.docs.get(query["_id"])
        return dict(doc) if doc is not None and matches(doc, query) else None

    def update_one(self, query, update, session=None):
        doc = self.find_one(query)
        if doc is not None:
            self.docs[doc["_id"]].update(update["$set"])
        return SimpleNamespace(matched_count=int(doc is not None))

    def insert_one(self, doc, session=None):
        assert doc["_id"] not in self.docs
        self.docs[doc["_id"]] = dict(doc)

    def find_one_and_update(self, query, update, return_document=None, session=None):
        doc = self.find_one(query)
        if doc is not None:
            self.docs[doc["_id"]].update(update["$set"])
        return self.find_one({"_id": query["_id"]}) if doc is not None else None


def tx():
    return SimpleNamespace(db=SimpleNamespace(reports=Reports()), session=None)


LIFE = [(S.DUE, T0), (S.SUBMITTED, T0 + timedelta(days=2)),
        (S.CHANGES_REQUESTED, T0 + timedelta(days=3)), (S.SUBMITTED, T0 + timedelta(days=4)),
        (S.ACCEPTED, T0 + timedelta(days=5))]


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 0, 3, 4, 2],
                                   [2, 4, 0, 1, 3]])
def test_the_latest_event_wins_whatever_the_order(order):
    t = tx()
    for index in order:
        status, at = LIFE[index]
        reports.keep(t, report_data(status), at, date(2026, 11, 1))
    kept = t.db.reports.docs["r-5"]
    assert kept["status"] == S.ACCEPTED and kept["at"] == LIFE[-1][1]
    assert kept["member_id"] == "m-7" and kept["grant_title"] == "Robert Carr Fund 2026"


def test_an_event_no_later_than_the_one_held_changes_nothing():
    t = tx()
    assert reports.keep(t, report_data(S.SUBMITTED), T0, date(2026, 11, 1))
    assert not reports.keep(t, report_data(S.SUBMITTED), T0, date(2026, 11, 1))
    assert not reports.keep(t, report_data(S.DUE), T0 - timedelta(seconds=1), date(2026, 11, 1))
    # the store keeps milliseconds: the same moment to the microsecond is no later
    assert not reports.keep(t, report_data(S.DUE), T0 + timedelta(microseconds=400),
                            date(2026, 11, 1))
    assert t.db.reports.docs["r-5"]["status"] == S.SUBMITTED


def test_the_reminder_states_are_set_when_first_seen_and_kept_after():
    t = tx()
    reports.keep(t, report_data(S.SUBMITTED), T0 + timedelta(days=1), date(2026, 12, 20))
    reports.keep(t, report_data(S.DUE), T0, date(2026, 12, 20))  # late, and older
    reports.keep(t, report_data(S.CHANGES_REQUESTED), T0 + timedelta(days=2), date(2026, 12, 20))
    kept = t.db.reports.docs["r-5"]
    assert (kept["soon"], kept["overdue"]) == (Reminder.NONE, Reminder.PENDING)
    assert kept["status"] == S.CHANGES_REQUESTED


def test_a_claim_moves_the_states_once_another_instance_finds_nothing():
    t = tx()
    reports.keep(t, report_data(), T0, date(2026, 11, 1))
    now = datetime(2026, 12, 5, 8, tzinfo=timezone.utc)
    found, doc = reports.claim_report(t, "r-5", now.date(), now)
    assert found.mail == DUE_SOON and doc["member_id"] == "m-7"
    assert reports.claim_report(t, "r-5", now.date(), now) is None
    assert t.db.reports.docs["r-5"]["soon"] == Reminder.DONE


def test_a_claim_loses_to_a_state_moved_meanwhile():
    t = tx()
    reports.keep(t, report_data(), T0, date(2026, 11, 1))
    original = t.db.reports.find_one

    def read_then_moved(query, projection=None, session=None):
        doc = original(query, projection, session)
        t.db.reports.docs["r-5"]["soon"] = Reminder.DONE  # another instance's claim
        return doc
    t.db.reports.find_one = read_then_moved
    assert reports.claim_report(t, "r-5", date(2026, 12, 5), T0) is None


def test_a_submitted_report_is_never_claimed():
    t = tx()
    reports.keep(t, report_data(S.SUBMITTED), T0, date(2026, 11, 1))
    assert reports.claim_report(t, "r-5", date(2026, 12, 20), T0) is None


def test_each_mail_of_a_report_has_its_own_key():
    keys = {domain.notification_key(reports.reminder_source(mail, "r-5"), "m-7", K.REPORT)
            for mail in (DUE_SOON, OVERDUE)}
    assert keys == {"report-report_due_soon-r-5:m-7:REPORT",
                    "report-report_overdue-r-5:m-7:REPORT"}


# ---- the words -----------------------------------------------------------------------

def context(mail, note="Please add the people reached.\nAnd the videos' views."):
    return reports.report_context(mail, "r/5", report_data(S.CHANGES_REQUESTED, note=note), URL)


def test_the_context_links_to_the_report_and_keeps_the_note_only_for_changes():
    changes = context(CHANGES_REQUESTED)
    assert changes["link"] == "https://coalition.example.org/reports/r%2F5"
    assert changes["due_on"] == DUE and changes["note"].startswith("Please add")
    assert context(OVERDUE)["note"] is None and context(DUE_SOON)["note"] is None
    assert context(CHANGES_REQUESTED, note="")["note"] is None


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("mail", sorted(reports.REPORT_MAILS))
def test_each_mail_names_the_grant_the_due_date_and_the_link(mail, language):
    rendered = render(K.REPORT, language, context(mail))
    shown = {Language.EN: "11 December 2026", Language.RU: "11 декабря 2026\u202fг."}[language]
    assert "Robert Carr Fund 2026" in rendered.subject
    assert f"{shown} (UTC)" in rendered.text and f"{shown} (UTC)" in rendered.html
    assert "https://coalition.example.org/reports/r%2F5" in rendered.text
    assert ("Please add the people reached." in rendered.text) == (mail == CHANGES_REQUESTED)


def test_the_english_words():
    soon = render(K.REPORT, Language.EN, context(DUE_SOON))
    assert soon.subject == "Report due on 11 December 2026: Robert Carr Fund 2026"
    late = render(K.REPORT, Language.EN, context(OVERDUE))
    assert late.subject == "Report overdue: Robert Carr Fund 2026"
    assert "was due on 11 December 2026 (UTC) and has not been submitted" in late.text
    changes = render(K.REPORT, Language.EN, context(CHANGES_REQUESTED))
    assert changes.subject == "Changes requested to your report: Robert Carr Fund 2026"
    assert "The secretariat's note:\n\n    Please add the people reached.\n" \
           "    And the videos' views.\n" in changes.text
    assert "And the videos&#39; views.</blockquote>" in changes.html


def test_the_russian_words():
    soon = render(K.REPORT, Language.RU, context(DUE_SOON))
    assert soon.subject == ("Отчёт по гранту «Robert Carr Fund 2026»: срок сдачи — "
                            "11 декабря 2026\u202fг.")
    assert render(K.REPORT, Language.RU, context(OVERDUE)).subject == \
        "Просрочен отчёт по гранту «Robert Carr Fund 2026»"
    changes = render(K.REPORT, Language.RU, context(CHANGES_REQUESTED))
    assert changes.subject == "Требуются изменения в отчёте по гранту «Robert Carr Fund 2026»"
    assert "Примечание секретариата:" in changes.text and "Открыть отчёт: " in changes.text


def test_a_changes_request_without_a_note_says_no_note():
    rendered = render(K.REPORT, Language.EN, context(CHANGES_REQUESTED, note=None))
    assert "note" not in rendered.text.split("-- ")[0]


def test_a_grant_title_is_escaped_in_html():
    data = report_data(grant_title="<b>Fund</b> & co")
    rendered = render(K.REPORT, Language.EN, reports.report_context(OVERDUE, "r-5", data, URL))
    assert "&lt;b&gt;Fund&lt;/b&gt; &amp; co" in rendered.html and "<b>" not in rendered.html
    assert "<b>Fund</b> & co" in rendered.subject
