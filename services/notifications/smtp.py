"""The message on the wire, and one connection to the mail server (smtplib).
SMTP_URL is read by services/common/smtp_url.py (the setting's validator
uses the same parser, so a malformed one stops the service at its start).

`Connection.send` returns once the server has accepted a message and raises
`SmtpFailure` otherwise: `code` is the server's reply code (4xx: not now,
5xx: never), None when no reply came (the connection failed, or a reply did
not come within the timeout); `broken` says the connection cannot carry the
next message. A failure to connect, to start TLS or to log in is a failure
of the connection (code None): it says nothing about the mails, which wait
and are tried again. The reply text kept is redacted (delivery.redact):
servers often name the address they refuse; the unredacted text is kept
nowhere, not even in the exception's args.

Every wait for the server (the connection, each reply) lasts at most the
`timeout` given (MAIL_SMTP_TIMEOUT_SECONDS).
"""
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from types import TracebackType
from typing import Any, Final

from services.common.smtp_url import SmtpSettings
from services.notifications import delivery

# a reply that means the server is closing the connection
CLOSING: Final = 421


def one_line(text: str) -> str:
    """A header value on one line (a title may hold a line break: never a header injection)."""
    return " ".join(text.split())


def build_message(mail: dict[str, Any], address: str, mail_from: str,
                  now: datetime) -> EmailMessage:
    """The multipart (text and HTML) message of a queued mail, to `address`,
    with the mail's stable Message-ID."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = address
    message["Subject"] = one_line(mail["subject"])
    message["Date"] = format_datetime(now)
    message["Message-ID"] = mail["message_id"]
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail["text"])
    message.add_alternative(mail["html"], subtype="html")
    # after the content: setting it clears every Content-* header
    message["Content-Language"] = str(mail.get("language") or "EN").lower()
    return message


class SmtpFailure(Exception):
    """The server did not accept a message (see the module docstring)."""

    def __init__(self, code: int | None, reply: str, broken: bool) -> None:
        redacted = delivery.redact(reply)  # before anything keeps it: args included
        super().__init__(code, redacted, broken)
        self.code = code
        self.reply = redacted
        self.broken = broken

    def __str__(self) -> str:
        return self.reply


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {words}"


def _fault(exc: BaseException) -> str:
    """A failure without a reply, by its kind (an OSError's text names no address)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPServerDisconnected):  # smtplib's own words ("timed out")
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or 'no connection'}"
    return type(exc).__name__


class Connection:
    """One SMTP session: `with Connection(settings) as conn: conn.send(...)`.
    Entering raises SmtpFailure(None, ...) when no session could be opened."""

    def __init__(self, settings: SmtpSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> "Connection":
        try:
            self.smtp = self._open()
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpFailure(None, "could not open a session: " + _fault(exc), broken=True) from None
        return self

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        # a TLS context only where TLS is used: making one costs ~50 ms of CPU
        context = ssl.create_default_context() if s.implicit_tls or s.starttls else None
        smtp = (smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=context)
                if s.implicit_tls else smtplib.SMTP(s.host, s.port, timeout=self.timeout))
        try:
            smtp.ehlo_or_helo_if_needed()
            if s.starttls:
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()
        self.smtp = None

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        """Hand `message` to the server for `recipient`; SmtpFailure unless accepted."""
        if self.smtp is None:
            raise SmtpFailure(None, "no session", broken=True)
        try:
            self.smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()), (550, b"refused"))
            raise SmtpFailure(code, _reply(code, text), broken=code == CLOSING) from None
        except smtplib.SMTPNotSupportedError:
            # an address only SMTPUTF8 can carry, to a server without it: never
            raise SmtpFailure(553, "553 the server does not accept this address (no SMTPUTF8)",
                              broken=False) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise SmtpFailure(None, "the server closed the connection: " + _fault(exc),
                              broken=True) from None
        except smtplib.SMTPResponseException as exc:
            broken = exc.smtp_code == CLOSING or exc.smtp_code < 0
            raise SmtpFailure(exc.smtp_code if exc.smtp_code > 0 else None,
                              _reply(exc.smtp_code, exc.smtp_error), broken=broken) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpFailure(None, _fault(exc), broken=True) from None
        except Exception as exc:  # anything else: its name only (its text may hold the address)
            raise SmtpFailure(None, type(exc).__name__, broken=True) from None
