"""A member's personal data erased from the notifications (DOMAIN.md section
11, `eraseMemberData`): what goes, and the words that say so.

What goes, for the member `m` (after members removed its focal point, so no
mail can be addressed to it any more), statement by statement and not in one
transaction: the sender records its mails with plain multi-document updates,
and the store retries such an update for as long as a transaction holds the
same mails, so an erasure in a transaction racing the sender never ended.
Each statement is idempotent on its own, so an erasure cut short is repeated
as a whole (services/common/erasure.py):
- its mails not sent yet (QUEUED, or SENDING: a sender holds them, and its
  record of them is then refused, guarded by its claim) are deleted: they
  are never sent;
- its SENT and FAILED mails lose their subject, text, html, link and error
  (their only words; such a mail never holds an address: the sender reads
  it from members) and are marked `erased_at`: the fact that a mail of
  that kind was sent (or failed), and when, stays; an erased FAILED mail is
  never retried (dependencies.retry_failed);
- the sign-in mails to its focal point (`member_id` m: the only mails that
  hold an address, and a code) are deleted, whatever their status;
- its in-app notifications lose their subject and text (set to "": the
  API's fields are non-null), marked `erased_at`: the same words as its
  mails, among them any note the secretariat wrote.
Nothing else here holds the focal point's name, address or phone: the
`members` read model keeps the organisation's name, status and language
(events never carry the focal point), `preferences` the member's switches,
`reports`, `rounds` and `responses` ids, dates, states and titles.

Invariant: idempotent. A second erasure finds nothing left and answers [].
"""
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any, Final

from services.common.vocabulary import MailStatus, NotificationKind

Doc = dict[str, Any]

UNSENT: Final = [str(MailStatus.QUEUED), str(MailStatus.SENDING)]
# the words of a mail, gone with the member's data
MAIL_WORDS: Final = ("subject", "text", "html", "link", "error")


@dataclass(frozen=True)
class Erased:
    """How many of each were erased."""
    unsent: int = 0
    sent: int = 0
    failed: int = 0
    sign_in: int = 0
    notifications: int = 0

    def any(self) -> bool:
        return any(astuple(self))


def counted(number: int, noun: str) -> str:
    """"1 mail", "2 mails"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"


def words(erased: Erased) -> list[str]:
    """What was removed, in plain English ([] for nothing), e.g. "2 queued
    mails", "the subject and text of 5 sent mails"."""
    said = [(erased.unsent, counted(erased.unsent, "queued mail")),
            (erased.sign_in, counted(erased.sign_in, "sign-in mail") + " with the focal "
                                                                       "point's address"),
            (erased.sent, "the subject and text of " + counted(erased.sent, "sent mail")),
            (erased.failed, "the subject and text of " + counted(erased.failed, "failed mail")),
            (erased.notifications, "the subject and text of "
                                   + counted(erased.notifications, "in-app notification"))]
    return [text for number, text in said if number]


def mails_of(member_id: str) -> Doc:
    """The member's mails but its sign-in ones (a sign-in mail's recipient
    is domain.SIGN_IN_RECIPIENT, never a member)."""
    return {"recipient": member_id}


def sign_in_mails_of(member_id: str) -> Doc:
    return {"member_id": member_id, "kind": str(NotificationKind.SIGN_IN)}


def stripped_mail(now: datetime) -> Doc:
    """The $set that erases a sent or failed mail's words."""
    return {**{name: None for name in MAIL_WORDS}, "erased_at": now}


def stripped_notification(now: datetime) -> Doc:
    return {"subject": "", "body": "", "erased_at": now}


def erase(db: Any, member_id: str, now: datetime) -> Erased:
    """Erase the member's personal data (see the module) from the
    notifications database `db`; how much."""
    mails = db.mails
    unsent = mails.delete_many({**mails_of(member_id), "status": {"$in": UNSENT}}).deleted_count
    sent, failed = (mails.update_many({**mails_of(member_id), "status": str(status),
                                       "erased_at": None},
                                      {"$set": stripped_mail(now)}).matched_count
                    for status in (MailStatus.SENT, MailStatus.FAILED))
    sign_in = mails.delete_many(sign_in_mails_of(member_id)).deleted_count
    notes = db.notifications.update_many({"recipient": member_id, "erased_at": None},
                                         {"$set": stripped_notification(now)}).matched_count
    return Erased(int(unsent), int(sent), int(failed), int(sign_in), int(notes))
