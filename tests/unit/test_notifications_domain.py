"""Who is told what (DOMAIN.md section 8), reminders, back-off and the
Message-ID: the pure rules of services/notifications/domain.py."""
import inspect
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.common import events
from services.common.errors import BadUserInput
from services.common.vocabulary import SECRETARIAT, Language, MailStatus, NotificationKind, Outcome
from services.notifications import delivery, domain
from services.notifications.delivery import RetryPolicy
from services.notifications.domain import Reminder

K = NotificationKind
T0 = datetime(2026, 12, 1, 18, 0, tzinfo=timezone.utc)
URL = "https://coalition.example.org/"


# ---- who is told ---------------------------------------------------------------------

@pytest.mark.parametrize("event,expected", [
    ("membership_applied", [("m1", False), (SECRETARIAT, True)]),
    ("member_admitted", [("m1", False)]),
    ("member_rejected", [("m1", False)]),
    ("member_suspended", [("m1", False)]),
    ("member_reinstated", [("m1", False)]),
    ("member_registered", []), ("mou_signed", []), ("member_withdrawn", []),
    ("member_language_set", []),
])
def test_membership_events_tell_the_member_and_an_application_the_secretariat(event, expected):
    assert domain.membership_recipients(event, "m1") == expected


def test_every_member_event_is_either_told_or_only_kept():
    assert set(domain.MEMBERSHIP_EVENTS) <= set(events.MEMBER_EVENTS)


def test_allocation_news_goes_to_the_beneficiary_if_the_event_names_one():
    assert domain.allocation_recipient({"member_id": "m7"}) == "m7"
    assert domain.allocation_recipient({"member_id": None}) is None  # an older disbursement
    assert domain.allocation_recipient({}) is None


def test_a_round_closes_for_its_snapshot_and_the_secretariat():
    assert domain.round_closed_recipients(["a", "b"]) == ["a", "b", SECRETARIAT]
    assert domain.round_closed_recipients([]) == [SECRETARIAT]


def test_a_reminder_goes_to_those_who_have_not_responded_in_snapshot_order():
    assert domain.reminder_recipients(["c", "a", "b", "d"], {"a", "d"}, set()) == ["c", "b"]
    assert domain.reminder_recipients(["a"], {"a"}, set()) == []


def test_a_reminder_leaves_out_members_that_can_no_longer_respond():
    assert domain.reminder_recipients(["c", "a", "b", "d"], {"a"}, {"b", "a"}) == ["c", "d"]


@pytest.mark.parametrize("status,can", [("ACTIVE", True), (None, True), ("SUSPENDED", False),
                                        ("WITHDRAWN", False), ("CANDIDATE", False),
                                        ("REJECTED", False)])
def test_only_an_active_member_or_one_not_heard_of_since_the_snapshot_can_respond(status, can):
    assert domain.can_respond(status) is can


@pytest.mark.parametrize("kind,switch", [(K.CONSULTATION_OPENED, "consultation_opened"),
                                         (K.REMINDER, "reminders"), (K.ROUND_CLOSED, "outcomes")])
def test_each_switch_turns_off_its_kind_only(kind, switch):
    off = {switch: False}
    assert not domain.receives(off, kind)
    assert domain.receives({switch: True}, kind) and domain.receives(None, kind)
    assert domain.receives({}, kind)  # never set: on
    others = set(K) - {kind}
    assert all(domain.receives(off, other) for other in others)


@pytest.mark.parametrize("kind", [K.MEMBERSHIP, K.ALLOCATION, K.SIGN_IN, K.REPORT])
def test_decisions_about_the_member_and_sign_in_codes_are_always_sent(kind):
    everything_off = {"consultation_opened": False, "reminders": False, "outcomes": False}
    assert domain.opt_out_switch(kind) is None
    assert domain.receives(everything_off, kind)


# ---- preferences ---------------------------------------------------------------------

def test_preferences_never_set_are_all_on():
    assert domain.preferences_view(None, Language.RU) == {
        "consultation_opened": True, "reminders": True, "outcomes": True, "language": "RU"}
    assert domain.preferences_view({"reminders": False}, Language.EN)["reminders"] is False


def test_only_the_secretariat_keeps_its_language_here():
    changes = {"language": "RU", "reminders": False, "outcomes": None}
    assert domain.preference_changes(SECRETARIAT, changes) == {"language": "RU",
                                                               "reminders": False}
    assert domain.preference_changes("m1", {"reminders": False, "language": None}) == {
        "reminders": False}
    with pytest.raises(BadUserInput) as refused:
        domain.preference_changes("m1", {"language": "RU"})
    assert "language" in refused.value.fields


def test_an_unknown_or_missing_language_is_the_default():
    assert domain.language_of("RU") is Language.RU
    assert domain.language_of(None) is Language.EN
    assert domain.language_of("FR") is Language.EN
    assert domain.language_of({"$ne": 1}) is Language.EN


# ---- rounds and reminders ------------------------------------------------------------

def test_decimal_hours_are_exact():
    assert domain.hours(Decimal("0.01")) == timedelta(seconds=36)
    assert domain.hours(Decimal("24")) == timedelta(days=1)
    assert domain.hours(Decimal("1.0000001")) == timedelta(hours=1, microseconds=360)


def test_the_reminder_is_due_reminder_hours_before_the_deadline():
    closes = T0 + timedelta(days=3)
    assert domain.reminder_at(T0, closes, Decimal(24)) == closes - timedelta(hours=24)
    assert domain.reminder_at(T0, closes, Decimal("0.01")) == closes - timedelta(seconds=36)


def test_a_round_shorter_than_reminder_hours_gets_no_reminder():
    assert domain.reminder_at(T0, T0 + timedelta(hours=23, minutes=59), Decimal(24)) is None
    # exactly REMINDER_HOURS long: the reminder is due when the round opens
    assert domain.reminder_at(T0, T0 + timedelta(hours=24), Decimal(24)) == T0


def opened(closes_at, closed=False, hours=Decimal(24)):
    data = {"consultation_id": "c1", "round": 2, "kind": "GENERAL", "subject_id": None,
            "title": "Budget", "proposal": "Adopt it", "eligible": 2}
    return domain.opened_round(data, ["a", "b"], T0, closes_at, hours, closed)


def test_an_opened_round_keeps_its_snapshot_and_a_pending_reminder():
    doc = opened(T0 + timedelta(days=2))
    assert doc["_id"] == "c1:2" and doc["eligible"] == ["a", "b"] and not doc["closed"]
    assert doc["reminder"] == Reminder.PENDING
    assert doc["reminder_at"] == T0 + timedelta(days=1)


def test_no_reminder_for_a_short_round_nor_for_one_already_closed():
    short = opened(T0 + timedelta(hours=1))
    assert short["reminder"] == Reminder.NONE and short["reminder_at"] is None
    closed = opened(T0 + timedelta(days=2), closed=True)
    assert closed["reminder"] == Reminder.NONE and closed["closed"]


def test_a_round_closed_before_its_opening_was_heard_has_no_reminder():
    doc = domain.closed_round({"consultation_id": "c1", "round": 1, "kind": "GENERAL",
                               "subject_id": None, "title": None}, ["a"])
    assert doc["closed"] and doc["reminder"] == Reminder.NONE and doc["eligible"] == ["a"]


def test_a_round_opened_past_its_deadline_announces_no_opening():
    assert domain.opened_notice_due(T0, T0 + timedelta(seconds=1), T0, closed=False)
    assert not domain.opened_notice_due(T0, T0, T0, closed=False)
    assert not domain.opened_notice_due(T0, T0 - timedelta(minutes=5), T0, closed=False)


def test_an_opening_handled_after_the_deadline_or_the_close_announces_nothing():
    closes = T0 + timedelta(hours=1)
    assert domain.opened_notice_due(T0, closes, closes - timedelta(seconds=1), closed=False)
    assert not domain.opened_notice_due(T0, closes, closes, closed=False)  # handled late
    assert not domain.opened_notice_due(T0, closes, T0 + timedelta(hours=2), closed=False)
    assert not domain.opened_notice_due(T0, closes, T0, closed=True)  # round_closed came first


def test_both_round_documents_name_the_round_alike():
    data = {"consultation_id": "c1", "round": 2, "kind": "GENERAL", "subject_id": "s",
            "title": "Budget", "proposal": "Adopt it"}
    opened = domain.opened_round(data, ["a"], T0, T0 + timedelta(days=2), Decimal(24), False)
    closed = domain.closed_round(data, ["a"])
    common = ("_id", "consultation_id", "round", "kind", "subject_id", "title", "eligible")
    assert [opened[k] for k in common] == [closed[k] for k in common] == [
        "c1:2", "c1", 2, "GENERAL", "s", "Budget", ["a"]]
    assert closed["closed"] and closed["reminder"] == Reminder.NONE


def test_a_reminder_found_after_the_deadline_is_dropped():
    assert domain.reminder_still_useful(T0 + timedelta(seconds=1), T0)
    assert not domain.reminder_still_useful(T0, T0)


def test_moments_come_as_iso_text_or_aware_datetimes_only():
    assert domain.moment("2026-12-01T18:00:00+00:00") == T0
    assert domain.moment(T0) is T0
    for bad in ("2026-12-01T18:00:00", datetime(2026, 12, 1), 17, None):
        with pytest.raises(ValueError):
            domain.moment(bad)


# ---- keys, links and contexts --------------------------------------------------------

def test_keys_name_the_source_the_recipient_and_the_kind():
    assert domain.notification_key("e1", "m1", K.ROUND_CLOSED) == "e1:m1:ROUND_CLOSED"
    assert domain.reminder_source("c1", 3) == "reminder-c1-3"
    assert domain.sign_in_source("u") == "signin-u"
    assert domain.response_id("c1", 3, "m1") == "c1:3:m1"


def test_links_are_absolute_under_public_url_with_the_web_apps_paths():
    assert domain.consultation_link(URL, "c1") == "https://coalition.example.org/consultations/c1"
    assert domain.allocation_link(URL, "g1", "a1") == \
        "https://coalition.example.org/grants/g1#allocation-a1"
    assert domain.member_link(URL, "m1") == "https://coalition.example.org/members/m1"
    assert domain.preferences_link(URL) == "https://coalition.example.org/preferences"
    assert domain.sign_in_link(URL, "K7QF-2M9D&x") == \
        "https://coalition.example.org/signin?code=K7QF-2M9D%26x"


def contexts():
    opened_data = {"consultation_id": "c1", "round": 1, "title": "Budget 2027",
                   "proposal": "Adopt the budget", "closes_at": "2026-12-03T18:00:00+00:00"}
    closed_data = {"consultation_id": "c1", "round": 1, "title": "Budget 2027",
                   "outcome": "ADOPTED", "explanation": {"key": "adopted",
                                                         "params": {"agree": 3, "reservations": 1}}}
    member = {"member_id": "m1", "name": "Network A", "note": "Applied for membership"}
    allocation = {"allocation_id": "a1", "grant_id": "g1", "member_id": "m1",
                  "grant_title": "Harm reduction", "amount": "1000.00", "currency": "EUR"}
    round_doc = {"consultation_id": "c1", "title": "Budget 2027", "closes_at": T0}
    return {
        K.CONSULTATION_OPENED: domain.opened_context(opened_data, T0, URL),
        K.REMINDER: domain.reminder_context(round_doc, URL),
        K.ROUND_CLOSED: domain.closed_context(closed_data, URL),
        K.MEMBERSHIP: domain.membership_context("membership_applied", member, True, URL),
        K.ALLOCATION: domain.allocation_context("allocation_approved", allocation, URL),
        K.SIGN_IN: domain.sign_in_context("K7QF-2M9D", URL, 30.0),
    }


def test_every_kind_but_sign_in_links_to_the_preferences_page():
    for kind, context in contexts().items():
        assert context["link"].startswith("https://coalition.example.org/")
        assert ("preferences_link" in context) == (kind != K.SIGN_IN)


def test_a_closed_rounds_context_names_the_outcome_and_why():
    context = contexts()[K.ROUND_CLOSED]
    assert context["outcome"] is Outcome.ADOPTED and context["explanation"]["key"] == "adopted"


@pytest.mark.parametrize("explanation", [
    {"key": "adopted", "params": {"agree": 3}},            # a number missing from its sentence
    {"key": "adopted", "params": []}, {"key": "no_such_key", "params": {}},
    {"key": ["adopted"], "params": {}}, {"params": {}}, "adopted", 7,
])
def test_an_explanation_that_cannot_be_said_is_left_out_and_the_rest_is_said(explanation):
    data = {"consultation_id": "c1", "round": 1, "title": "Budget", "outcome": "BLOCKED",
            "explanation": explanation}
    context = domain.closed_context(data, URL)
    assert context["explanation"] is None
    from services.notifications.content import render
    for language in Language:
        rendered = render(K.ROUND_CLOSED, language, context)
        assert "Budget" in rendered.text and context["link"] in rendered.text


def test_an_explanation_that_fits_its_sentence_is_kept():
    fits = {"key": "late", "params": {}}
    assert domain.sayable_explanation(fits) == fits
    assert domain.sayable_explanation(None) is None


@pytest.mark.parametrize("language", list(Language))
def test_every_context_renders_in_every_language(language):
    """The contexts built here are the ones content.render takes (its contract)."""
    from services.notifications.content import render
    for kind, context in contexts().items():
        rendered = render(kind, language, context)
        assert rendered.subject and rendered.text and rendered.html
        assert context["link"] in rendered.text


def test_a_title_missing_from_an_older_event_is_empty_text_not_none():
    context = domain.opened_context({"consultation_id": "c1", "round": 1}, T0, URL)
    assert context["title"] == "" and context["proposal"] == ""


# ---- documents -----------------------------------------------------------------------

RENDERED = SimpleNamespace(subject="Subject", text="Text", html="<p>Text</p>")


def test_a_mail_is_queued_due_now_without_an_address():
    mail = domain.new_mail("e:m1:REMINDER", "m1", K.REMINDER, "RU", RENDERED, "L", T0, "<id@x>")
    assert mail["_id"] == "e:m1:REMINDER" and mail["status"] == MailStatus.QUEUED
    assert mail["next_attempt_at"] == T0 and mail["attempts"] == 0
    assert "address" not in mail and "expires_at" not in mail


@pytest.mark.parametrize("minutes", [30.0, 12.5, 0.05])
def test_a_sign_in_mail_holds_its_address_as_long_as_its_code_lives(minutes):
    mail = domain.sign_in_mail("s:person:SIGN_IN", "a@example.org", "EN", RENDERED, "L", T0,
                               "<id@x>", minutes)
    assert mail["address"] == "a@example.org" and mail["recipient"] == domain.SIGN_IN_RECIPIENT
    assert mail["expires_at"] == T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize("minutes,shown", [(30.0, 30), (12.5, 12), (1.0, 1), (0.05, 1),
                                           (1440.0, 1440)])
def test_a_sign_in_mail_gives_the_codes_validity_in_whole_minutes_never_more(minutes, shown):
    context = domain.sign_in_context("K7QF-2M9D", URL, minutes)
    assert context["minutes"] == shown and isinstance(context["minutes"], int)


def test_a_sign_in_context_is_an_invitation_only_with_a_name():
    plain = domain.sign_in_context("K7QF-2M9D", URL, 30.0)
    invitation = domain.sign_in_context("K7QF-2M9D", URL, 30.0, "Aigul Sadykova")
    assert plain["invited"] is None and invitation["invited"] == "Aigul Sadykova"
    assert plain["signin_link"] == invitation["signin_link"] == \
        "https://coalition.example.org/signin"
    assert plain["link"] == invitation["link"] == \
        "https://coalition.example.org/signin?code=K7QF-2M9D"


@pytest.mark.parametrize("explicit,known,expected", [
    ("RU", Language.EN, "RU"), ("EN", Language.RU, "EN"), (None, Language.RU, "RU"),
    (None, Language.EN, "EN")])
def test_a_sign_in_mail_is_in_the_language_asked_for_else_the_recipients(explicit, known,
                                                                         expected):
    assert domain.sign_in_language(explicit, known) == expected


def test_the_in_app_notification_is_the_mails_subject_and_text():
    note = domain.new_notification("n1", "k", "m1", K.REMINDER, RENDERED, "L", T0)
    assert (note["subject"], note["body"], note["read"]) == ("Subject", "Text", False)


# ---- delivery ------------------------------------------------------------------------

def test_the_message_id_is_a_function_of_the_key_and_the_senders_domain():
    first = delivery.message_id("e1:m1:REMINDER", "Coalition <mail@coalition.example.org>")
    assert first == delivery.message_id("e1:m1:REMINDER", "mail@coalition.example.org")
    assert first.startswith("<") and first.endswith("@coalition.example.org>")
    assert len(first) == len("<@coalition.example.org>") + 64
    assert first != delivery.message_id("e2:m1:REMINDER", "mail@coalition.example.org")


@pytest.mark.parametrize("code,permanent", [(550, True), (554, True), (500, True),
                                            (451, False), (421, False), (452, False),
                                            (None, False), (250, False), (600, False)])
def test_5xx_is_for_good_and_everything_else_is_tried_again(code, permanent):
    assert delivery.is_permanent(code) is permanent


def test_error_texts_never_keep_an_address():
    text = "550 5.1.1 <Focal.Point+x@ngo.example.org>: Recipient address rejected\r\n for bob@x.io"
    kept = delivery.redact(text)
    assert "@" not in kept and "ngo.example" not in kept and "\n" not in kept
    assert kept.startswith("550 5.1.1 <<address>>: Recipient address rejected")
    assert len(delivery.redact("4" * 5000)) == delivery.ERROR_TEXT_LIMIT


POLICY = RetryPolicy(base_seconds=5, max_seconds=300, give_up_hours=72)


def test_the_back_off_doubles_from_the_base_up_to_the_maximum():
    assert [POLICY.delay(n).total_seconds() for n in range(8)] == [5, 10, 20, 40, 80, 160,
                                                                   300, 300]
    assert POLICY.delay(10_000) == timedelta(seconds=300)


def test_a_temporary_failure_queues_the_mail_again_after_the_back_off():
    mail = {"attempts": 2, "created_at": T0}
    now = T0 + timedelta(minutes=1)
    changes = POLICY.after_temporary_failure(mail, "451 4.3.0 later for a@b.org", now)
    assert changes["status"] == MailStatus.QUEUED and changes["attempts"] == 3
    assert changes["next_attempt_at"] == now + timedelta(seconds=20)
    assert "@" not in changes["error"] and changes["claim"] is None


def test_a_mail_that_waited_give_up_hours_fails():
    mail = {"attempts": 40, "created_at": T0}
    changes = POLICY.after_temporary_failure(mail, "451 later", T0 + timedelta(hours=72))
    assert changes["status"] == MailStatus.FAILED and changes["attempts"] == 41


def test_an_operators_retry_counts_the_wait_anew():
    mail = {"attempts": 0, "created_at": T0, "retried_at": T0 + timedelta(hours=100)}
    changes = POLICY.after_temporary_failure(mail, "451 later", T0 + timedelta(hours=101))
    assert changes["status"] == MailStatus.QUEUED
    assert delivery.retried(T0)["status"] == MailStatus.QUEUED
    assert delivery.retried(T0)["attempts"] == 0 and delivery.retried(T0)["retried_at"] == T0


def test_a_permanent_failure_fails_at_once_with_the_reply_redacted():
    changes = delivery.after_permanent_failure({"attempts": 0}, "550 no such user x@y.org", T0)
    assert changes["status"] == MailStatus.FAILED and changes["attempts"] == 1
    assert changes["error"] == "550 no such user <address>"


def test_the_policy_reads_its_settings():
    policy = RetryPolicy.from_config({"MAIL_RETRY_BASE_SECONDS": 0.2,
                                      "MAIL_RETRY_MAX_SECONDS": 1, "MAIL_GIVE_UP_HOURS": 72})
    assert policy.delay(0) == timedelta(seconds=0.2) and policy.delay(5) == timedelta(seconds=1)


# ---- the service's handlers are those of the subscription table ----------------------

def test_the_handlers_match_the_subscription_table():
    from services.notifications.service import NotificationsService
    found = {}
    for name, fn in inspect.getmembers(NotificationsService, inspect.isfunction):
        for source, event in getattr(fn, "__subscriptions__", []):
            assert events.CATALOGUE[event][0] == source
            found.setdefault(name, set()).add(event)
    declared = {method: set(types) for (service, method), types in events.SUBSCRIPTIONS.items()
                if service == "notifications"}
    assert found == declared


# ---- what an operator is shown of a mail ---------------------------------------------

def test_a_sign_in_mail_is_shown_without_its_text_or_its_link_both_hold_its_code():
    from services.notifications.service import mail_detail
    rendered = SimpleNamespace(subject="Your code", text="Code: K7QF-2M9D", html="<p>K7QF</p>")
    link = domain.sign_in_link(URL, "K7QF-2M9D")
    mail = domain.sign_in_mail("signin-1:person:SIGN_IN", "a@example.org", "EN", rendered,
                               link, T0, "<id@x>", 30.0)
    shown = mail_detail(mail)
    assert shown["text"] is None and shown["link"] is None
    assert "K7QF" not in repr(shown) and "a@example.org" not in repr(shown)
    other = mail_detail(domain.new_mail("e:m1:REMINDER", "m1", K.REMINDER, "EN", rendered,
                                        "https://x/consultations/c1", T0, "<id@x>"))
    assert other["text"] == "Code: K7QF-2M9D" and other["link"] == "https://x/consultations/c1"
