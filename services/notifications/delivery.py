"""How a mail's delivery goes on, as pure functions (no I/O, no clock: the
caller passes `now`): its Message-ID, what a reply of the SMTP server means
for it, the error text kept (never an address), and the back-off.

Invariants:
- a mail's Message-ID is a function of its key alone (and the sender's
  domain): a mail sent twice carries the same one;
- a 5xx reply fails a mail for good; anything else (4xx, no reply) makes it
  wait and try again, until MAIL_GIVE_UP_HOURS have passed;
- an error text kept is redacted: every address in it replaced.
"""
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Final

from services.common.vocabulary import MailStatus

Doc = dict[str, Any]

ERROR_TEXT_LIMIT: Final = 300
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")


def sender_address(mail_from: str) -> str:
    """The address part of MAIL_FROM ("Coalition <c@example.org>" -> "c@example.org")."""
    return parseaddr(mail_from)[1] or mail_from


def message_id(key: str, mail_from: str) -> str:
    """A Message-ID that is a function of the mail's key alone (and the
    sender's domain): a mail sent twice carries the same one."""
    domain = sender_address(mail_from).rpartition("@")[2] or "localhost"
    return f"<{hashlib.sha256(key.encode()).hexdigest()}@{domain}>"


def is_permanent(code: int | None) -> bool:
    """A 5xx reply is a refusal for good; a 4xx one, another code, or no
    reply at all (the connection failed) is worth trying again."""
    return code is not None and 500 <= code <= 599


def redact(text: str) -> str:
    """An SMTP server's reply fit to keep and show: every address in it
    replaced, one line, at most ERROR_TEXT_LIMIT characters."""
    return " ".join(_ADDRESS.sub("<address>", text).split())[:ERROR_TEXT_LIMIT]


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off of temporary failures: base * 2^(earlier attempts), at most
    `max_seconds`; given up `give_up_hours` after the mail was queued (or
    put back by an operator)."""
    base_seconds: float
    max_seconds: float
    give_up_hours: float

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "RetryPolicy":
        return cls(float(config["MAIL_RETRY_BASE_SECONDS"]),
                   float(config["MAIL_RETRY_MAX_SECONDS"]), float(config["MAIL_GIVE_UP_HOURS"]))

    def delay(self, earlier_attempts: int) -> timedelta:
        seconds = self.base_seconds * 2 ** min(earlier_attempts, 40)
        return timedelta(seconds=min(seconds, self.max_seconds))

    def after_temporary_failure(self, mail: Mapping[str, Any], error: str,
                                now: datetime) -> Doc:
        """The fields to set: QUEUED again after the back-off, or FAILED once
        the mail has waited `give_up_hours`."""
        attempts = int(mail.get("attempts", 0))
        since = mail.get("retried_at") or mail["created_at"]
        common = {"attempts": attempts + 1, "error": redact(error), "claim": None,
                  "lease_until": None}
        if now - since >= timedelta(hours=self.give_up_hours):
            return {**common, "status": MailStatus.FAILED, "failed_at": now}
        return {**common, "status": MailStatus.QUEUED,
                "next_attempt_at": now + self.delay(attempts)}


def after_permanent_failure(mail: Mapping[str, Any], error: str, now: datetime) -> Doc:
    """FAILED at once: an operator may retry it (retry_mails)."""
    return {"attempts": int(mail.get("attempts", 0)) + 1, "error": redact(error),
            "status": MailStatus.FAILED, "failed_at": now, "claim": None, "lease_until": None}


def retried(now: datetime) -> Doc:
    """A FAILED mail put back by an operator: due now, its give-up time counted anew."""
    return {"status": MailStatus.QUEUED, "next_attempt_at": now, "retried_at": now,
            "attempts": 0, "error": None, "claim": None, "lease_until": None}
