"""Who is told what and in which words (DOMAIN.md section 8), as pure
functions: no I/O and no clock (the caller passes `now`). How a mail's
delivery goes on (its Message-ID, the back-off) is in delivery.py.

Invariants:
- a notification and its mail are named by one key,
  "<source>:<recipient>:<kind>" (source: the event's id,
  "reminder-<cid>-<round>", "report-<mail>-<report id>" or "signin-<uuid>"),
  and the store keeps one of each per key: each (event, recipient, kind) is
  told at most once;
- only CONSULTATION_OPENED, REMINDER and ROUND_CLOSED can be turned off
  (vocabulary.OPT_OUTS); MEMBERSHIP, ALLOCATION, REPORT, PROXY and SIGN_IN
  always go out (who a PROXY goes to: proxies.py; a REPORT: reports.py);
- a notification never carries a stance value: the contexts are built from
  event fields that hold none, and `responses` keeps who responded, not how;
- an e-mail address is never part of a key, a context, a log line or an error
  text (delivery.redact): only a SIGN_IN mail holds one, until it is sent or
  expires;
- a SIGN_IN mail says its code is valid for the SIGN_IN_CODE_MINUTES setting
  (accounts' codes live that long) and is kept, with its address, no longer.
"""
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, Protocol
from urllib.parse import quote

from services.common.errors import BadUserInput
from services.common.explanations import SENTENCES, sentence
from services.common.vocabulary import (DEFAULT_LANGUAGE, OPT_OUTS, SECRETARIAT, Language,
                                        MailStatus, MemberStatus, NotificationKind, Outcome)

Doc = dict[str, Any]
K = NotificationKind

# the recipient a SIGN_IN mail names in the queue: a person, never an address
SIGN_IN_RECIPIENT: Final = "person"


class Reminder(StrEnum):
    """A round's reminder: still to send, sent (or no longer useful), or none at all."""
    PENDING, DONE, NONE = "PENDING", "DONE", "NONE"


class Rendered(Protocol):
    """What services/notifications/content.py `render` answers."""
    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str: ...


# member event -> whether the secretariat is told too; events not named here
# tell no one (they only feed the read model)
MEMBERSHIP_EVENTS: Final[Mapping[str, bool]] = {
    "membership_applied": True, "member_admitted": False, "member_rejected": False,
    "member_suspended": False, "member_reinstated": False}

_SWITCH_OF_KIND: Final[Mapping[str, str]] = {kind: switch for switch, kind in OPT_OUTS.items()}


# ---- keys ----------------------------------------------------------------------------

def notification_key(source: str, recipient: str, kind: str) -> str:
    """The one name of a notification and its mail: a second write of it fails."""
    return f"{source}:{recipient}:{kind}"


def reminder_source(consultation_id: str, round_number: int) -> str:
    return f"reminder-{consultation_id}-{round_number}"


def sign_in_source(token: str) -> str:
    return f"signin-{token}"


def round_id(consultation_id: str, round_number: int) -> str:
    return f"{consultation_id}:{round_number}"


def response_id(consultation_id: str, round_number: int, member_id: str) -> str:
    """Of a member's response to a round: that it responded, never how."""
    return f"{consultation_id}:{round_number}:{member_id}"


def response_pattern(member_id: str) -> str:
    """A regular expression that matches the response_id of each of the
    member's responses, and no other member's (member ids hold no colon)."""
    return f"^.+:[0-9]+:{re.escape(member_id)}$"


# ---- who is told ---------------------------------------------------------------------

def membership_recipients(event_type: str, member_id: str) -> list[tuple[str, bool]]:
    """[(recipient, for_secretariat)] of a member event: the member, and for an
    application the secretariat too; [] for events that tell no one."""
    if event_type not in MEMBERSHIP_EVENTS:
        return []
    also_secretariat = MEMBERSHIP_EVENTS[event_type]
    return [(member_id, False)] + ([(SECRETARIAT, True)] if also_secretariat else [])


def allocation_recipient(data: Mapping[str, Any]) -> str | None:
    """The beneficiary of an allocation decision or a disbursement (None in a
    disbursement event sent before it named the member)."""
    member_id: str | None = data.get("member_id")
    return member_id or None


def opt_out_switch(kind: str) -> str | None:
    """The preference that turns `kind` off, or None for a kind always sent."""
    return _SWITCH_OF_KIND.get(kind)


def receives(preferences: Mapping[str, Any] | None, kind: str) -> bool:
    """Whether someone with these preferences (None: never set) gets `kind`.
    A switch never set is on."""
    switch = opt_out_switch(kind)
    return switch is None or preferences is None or preferences.get(switch, True) is not False


def can_respond(status: str | None) -> bool:
    """Whether a member of a round's snapshot can still respond, by its status
    in the `members` read model (None: not heard of yet, so as at the
    snapshot). A SUSPENDED or WITHDRAWN member cannot cast (DOMAIN.md section 5)."""
    return status is None or status == MemberStatus.ACTIVE


def reminder_recipients(eligible: Iterable[str], responded: set[str],
                        cannot_respond: set[str]) -> list[str]:
    """Who a reminder goes to: the snapshot, in its order, minus those who
    responded and those who can no longer respond (see can_respond)."""
    return [member for member in eligible
            if member not in responded and member not in cannot_respond]


def round_closed_recipients(eligible: Iterable[str]) -> list[str]:
    """Each member of the round's snapshot, then the secretariat."""
    return [*eligible, SECRETARIAT]


# ---- preferences ---------------------------------------------------------------------

def preferences_view(doc: Mapping[str, Any] | None, language: str) -> Doc:
    """{consultation_opened, reminders, outcomes, language}: a switch never set is on."""
    doc = doc or {}
    view: Doc = {switch: doc.get(switch, True) is not False for switch in OPT_OUTS}
    return {**view, "language": language}


def preference_changes(recipient: str, changes: Mapping[str, Any]) -> Doc:
    """The fields to set from validated `changes`. Only the secretariat's
    language is kept here; a member's is the member's own (members.set_language)."""
    if changes.get("language") is not None and recipient != SECRETARIAT:
        raise BadUserInput("A member's language is set on the member.",
                           {"language": ["Set on the member, not here."]})
    return {k: v for k, v in changes.items() if v is not None}


# ---- rounds and reminders ------------------------------------------------------------

def moment(value: object) -> datetime:
    """An aware datetime from an event: ISO text (its data) or a datetime
    (its loaded envelope). ValueError for anything else, a naive one included."""
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(found, datetime) or found.utcoffset() is None:
        raise ValueError("not an aware date-time")
    return found


def hours(value: Decimal) -> timedelta:
    """A decimal number of hours, exactly, to the microsecond (no float)."""
    return timedelta(microseconds=int(Decimal(value) * 3600 * 1_000_000))


def reminder_at(opened_at: datetime, closes_at: datetime,
                reminder_hours: Decimal) -> datetime | None:
    """REMINDER_HOURS before the deadline; None when the round opened less
    than REMINDER_HOURS before its deadline (it gets no reminder)."""
    before = hours(reminder_hours)
    if closes_at - opened_at < before:
        return None
    return closes_at - before


def opened_notice_due(opened_at: datetime, closes_at: datetime, now: datetime,
                      closed: bool) -> bool:
    """Whether the CONSULTATION_OPENED of a round still goes out when its
    event is handled at `now`: not for a round whose deadline had passed
    when it opened (it closes at once: nobody could respond; its
    ROUND_CLOSED says so), nor once its deadline has passed (the event was
    handled late), nor once it is `closed` (its round_closed was handled
    first): the notice would invite to a round no one can respond to."""
    return closes_at > opened_at and closes_at > now and not closed


def reminder_still_useful(closes_at: datetime, now: datetime) -> bool:
    """A reminder found due after the deadline (the service was away) is dropped."""
    return closes_at > now


def _round(data: Mapping[str, Any], eligible: list[str]) -> Doc:
    """What every `rounds` document holds, from its event's data."""
    return {"_id": round_id(data["consultation_id"], data["round"]),
            "consultation_id": data["consultation_id"], "round": data["round"],
            "kind": data["kind"], "subject_id": data["subject_id"], "title": data.get("title"),
            "eligible": eligible}


def opened_round(data: Mapping[str, Any], eligible: list[str], opened_at: datetime,
                 closes_at: datetime, reminder_hours: Decimal, closed: bool) -> Doc:
    """The `rounds` document of an opened round (`closed`: its round_closed
    came first). Its reminder is PENDING only if it has a reminder time and
    is still open."""
    at = reminder_at(opened_at, closes_at, reminder_hours)
    state = Reminder.PENDING if at is not None and not closed else Reminder.NONE
    return {**_round(data, eligible), "proposal": data.get("proposal"), "closes_at": closes_at,
            "opened_at": opened_at, "reminder_at": at, "reminder": state, "closed": closed}


def closed_round(data: Mapping[str, Any], eligible: list[str]) -> Doc:
    """The `rounds` document of a round whose round_closed came before its
    consultation_opened (or whose opening this service never heard)."""
    return {**_round(data, eligible), "reminder_at": None, "reminder": Reminder.NONE,
            "closed": True}


# ---- links and what each kind says (services/notifications/content.py renders it) ----

def link(public_url: str, path: str) -> str:
    """An absolute link under PUBLIC_URL (never a request's Host)."""
    return public_url.rstrip("/") + path


def consultation_link(public_url: str, consultation_id: str) -> str:
    return link(public_url, f"/consultations/{quote(consultation_id, safe='')}")


def allocation_link(public_url: str, grant_id: str, allocation_id: str) -> str:
    return link(public_url, f"/grants/{quote(grant_id, safe='')}"
                            f"#allocation-{quote(allocation_id, safe='')}")


def member_link(public_url: str, member_id: str) -> str:
    return link(public_url, f"/members/{quote(member_id, safe='')}")


def preferences_link(public_url: str) -> str:
    return link(public_url, "/preferences")


def sign_in_link(public_url: str, code: str) -> str:
    return link(public_url, f"/signin?code={quote(code, safe='')}")


def opened_context(data: Mapping[str, Any], closes_at: datetime, public_url: str) -> Doc:
    return {"title": data.get("title") or "", "proposal": data.get("proposal") or "",
            "round": data["round"], "closes_at": closes_at,
            "link": consultation_link(public_url, data["consultation_id"]),
            "preferences_link": preferences_link(public_url)}


def reminder_context(round_doc: Mapping[str, Any], public_url: str) -> Doc:
    return {"title": round_doc.get("title") or "", "closes_at": round_doc["closes_at"],
            "link": consultation_link(public_url, round_doc["consultation_id"]),
            "preferences_link": preferences_link(public_url)}


def sayable_explanation(explanation: object) -> Doc | None:
    """A round_closed event's explanation {key, params} if its sentence can be
    said: a known key whose params fill it (in English, the msgid every
    translation follows); None otherwise, and the mail gives the outcome
    without why (rather than no mail at all)."""
    if not isinstance(explanation, Mapping):
        return None
    key, params = explanation.get("key"), explanation.get("params")
    if not isinstance(key, str) or key not in SENTENCES or not isinstance(params, Mapping):
        return None
    try:
        sentence(key, params)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return None
    return {"key": key, "params": dict(params)}


def closed_context(data: Mapping[str, Any], public_url: str) -> Doc:
    """The outcome and why: after the close, so a hidden round reveals nothing early."""
    return {"title": data.get("title") or "", "round": data["round"],
            "outcome": Outcome(data["outcome"]),
            "explanation": sayable_explanation(data.get("explanation")),
            "link": consultation_link(public_url, data["consultation_id"]),
            "preferences_link": preferences_link(public_url)}


def membership_context(event_type: str, data: Mapping[str, Any], for_secretariat: bool,
                       public_url: str) -> Doc:
    return {"event": event_type, "member_name": data["name"], "note": data.get("note"),
            "for_secretariat": for_secretariat,
            "link": member_link(public_url, data["member_id"]),
            "preferences_link": preferences_link(public_url)}


def allocation_context(event_type: str, data: Mapping[str, Any], public_url: str) -> Doc:
    return {"event": event_type, "grant_title": data.get("grant_title") or "",
            "amount": data.get("amount"), "currency": data.get("currency"),
            "link": allocation_link(public_url, data["grant_id"], data["allocation_id"]),
            "preferences_link": preferences_link(public_url)}


def sign_in_page(public_url: str) -> str:
    """Where a new code is asked for."""
    return link(public_url, "/signin")


def shown_minutes(minutes: float) -> int:
    """A code's validity (SIGN_IN_CODE_MINUTES, a float) in whole minutes
    for its mail: rounded down, never under 1 (a mail never promises more
    than the code gives, unless the setting is under a minute, as in tests)."""
    return max(1, math.floor(minutes))


def sign_in_context(code: str, public_url: str, minutes: float,
                    invited: str | None = None) -> Doc:
    """A sign-in mail's context: the code, its link, its validity; `invited`
    (a person's name) makes it an invitation to the secretariat, which also
    says where to ask for a new code once this one expires."""
    return {"code": code, "link": sign_in_link(public_url, code),
            "minutes": shown_minutes(minutes), "invited": invited,
            "signin_link": sign_in_page(public_url)}


# ---- the documents -------------------------------------------------------------------

def new_notification(notification_id: str, key: str, recipient: str, kind: str,
                     rendered: Rendered, link_to: str, now: datetime) -> Doc:
    """The in-app notification: the mail's subject and its plain text."""
    return {"_id": notification_id, "key": key, "recipient": recipient, "kind": kind, "at": now,
            "subject": rendered.subject, "body": rendered.text, "link": link_to, "read": False}


def new_mail(key: str, recipient: str, kind: str, language: str, rendered: Rendered,
             link_to: str, now: datetime, message_id: str) -> Doc:
    """A QUEUED mail, due now. No address: the sender reads it from members."""
    return {"_id": key, "recipient": recipient, "kind": kind, "language": language,
            "subject": rendered.subject, "text": rendered.text, "html": rendered.html,
            "link": link_to, "status": MailStatus.QUEUED, "attempts": 0, "next_attempt_at": now,
            "lease_until": None, "claim": None, "created_at": now, "sent_at": None,
            "error": None, "message_id": message_id}


def sign_in_mail(key: str, address: str, language: str, rendered: Rendered, link_to: str,
                 now: datetime, message_id: str, minutes: float,
                 member_id: str | None = None) -> Doc:
    """A SIGN_IN mail: the one mail that holds its address, and only until it
    is sent (then deleted) or its code's `minutes` (SIGN_IN_CODE_MINUTES) have
    passed (the store's TTL; the sender drops it unsent after that).
    `member_id`: the member whose focal point it goes to (None for a
    secretariat person's), so that the member's erasure finds it."""
    mail = new_mail(key, SIGN_IN_RECIPIENT, K.SIGN_IN, language, rendered, link_to, now,
                    message_id)
    return {**mail, "address": address, "member_id": member_id,
            "expires_at": now + timedelta(minutes=minutes)}


def sign_in_member(recipient: str | None) -> str | None:
    """The member a sign-in mail goes to the focal point of, from
    send_sign_in's `recipient` (a member id, "secretariat" or None)."""
    return recipient if recipient not in (None, SECRETARIAT, SIGN_IN_RECIPIENT) else None


def sign_in_language(explicit: str | None, recipients_language: Language) -> Language:
    """A sign-in mail's language: the one asked for, else the recipient's
    (read model or secretariat preferences, which give DEFAULT_LANGUAGE for
    anyone unknown)."""
    return Language(explicit) if explicit is not None else recipients_language


def language_of(value: object) -> Language:
    """A stored language, or the default for none (or an unknown one)."""
    return Language(value) if isinstance(value, str) and value in tuple(Language) \
        else DEFAULT_LANGUAGE
