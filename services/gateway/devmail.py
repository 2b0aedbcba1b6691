"""GET /dev/mail: the mails the local catcher received, for developers.

    GET /dev/mail                  the newest messages, last caught first: date, to, subject
    GET /dev/mail/<name>           one message: its headers and its text part
    GET /dev/mail/<name>/html      its HTML part, as the recipient's mail reader shows it

`make up` without SMTP_URL runs a catcher (aiosmtpd's Mailbox handler) that
files every mail in the maildir MAIL_CATCHER_DIR; these pages read it with
python's mailbox.Maildir. They answer 404 when COALITION_ENV is production
or MAIL_CATCHER_DIR is empty, so no deployment shows anyone's mail, and to
any client but this machine itself (a loopback address, as
limits.ClientAddress finds it, so behind a trusted proxy the address it
forwarded): with GATEWAY_BIND=0.0.0.0 the sign-in codes caught stay off
the network.

The list reads only the newest LISTED messages (by the time their file was
filed, found with one directory scan, no message opened), so a bench's
fan-out of thousands of mails costs a scan, not thousands of parses.

Invariants: a name is a maildir key of a plain shape (`NAME`) and is only
ever looked up among the maildir's own keys, never joined to a path; every
text shown is HTML-escaped; a mail's HTML is served alone, under a policy
that runs no script and loads nothing (`MAIL_HTML_POLICY`).
"""
import email
import heapq
import ipaddress
import mailbox
import os
import re
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from html import escape
from typing import Any, BinaryIO, Callable, Final

from werkzeug.exceptions import NotFound
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response


# a maildir key as Python's mailbox and aiosmtpd make them ("1733000000.M1P2Q3.host")
NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
LISTED: Final = 200  # the newest this many are listed (and parsed)
MAILDIR_FOLDERS: Final = ("new", "cur")  # where a maildir keeps its messages
INFO_SEPARATOR: Final = ":"  # a file name in cur/ is "<key>:2,<flags>" (mailbox.Maildir.colon)

PAGE_POLICY: Final = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                      "form-action 'none'; frame-ancestors 'none'")
# a mail's own HTML: no script, no fetch, no form; inline styles and data: images only
MAIL_HTML_POLICY: Final = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox")

EPOCH: Final = datetime.fromtimestamp(0, timezone.utc)
Mail = EmailMessage


def rules() -> list[Rule]:
    """The routes to DevMail, new for each map (its endpoint: the Gateway's `dev_mail`)."""
    return [Rule("/dev/mail", endpoint="dev_mail", methods=["GET"]),
            Rule("/dev/mail/<name>", endpoint="dev_mail", methods=["GET"]),
            Rule("/dev/mail/<name>/<any(html):part>", endpoint="dev_mail", methods=["GET"])]


def is_loopback(address: str) -> bool:
    """Whether a client address is this machine's own (127.0.0.0/8, ::1, or
    IPv4 loopback mapped into IPv6); False for anything that is no address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # "unknown": no peer address (a unix socket)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def filed(folder: str) -> list[tuple[int, str]]:
    """(when filed, in ns, name) of every message of the maildir with a plain
    name, from a scan of its folders (no message is opened); [] while the
    catcher has not made the maildir yet."""
    found = []
    for sub in MAILDIR_FOLDERS:
        try:
            with os.scandir(os.path.join(folder, sub)) as entries:
                for entry in entries:
                    name = entry.name.split(INFO_SEPARATOR)[0]
                    try:
                        if NAME.fullmatch(name) and entry.is_file():
                            found.append((entry.stat().st_mtime_ns, name))
                    except OSError:  # gone since the scan
                        continue
        except OSError:
            continue
    return found


def read_mail(file: BinaryIO) -> Mail:
    message = email.message_from_binary_file(file, policy=policy.default)
    assert isinstance(message, EmailMessage)  # policy.default makes EmailMessages
    return message


def sent_at(message: Mail) -> datetime:
    """The message's Date as an aware datetime (UTC if it names no zone);
    the epoch if it has none that parses, so it sorts last."""
    try:
        moment = message["Date"].datetime
    except (AttributeError, TypeError, ValueError):
        return EPOCH
    if not isinstance(moment, datetime):
        return EPOCH
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def header(message: Mail, name: str) -> str:
    """A header's text (decoded), escaped for HTML; "" if absent."""
    try:
        value = message.get(name)
    except (ValueError, IndexError):  # a header that does not parse is not shown
        value = None
    return escape(str(value)) if value is not None else ""


def part_text(message: Mail, subtype: str) -> str | None:
    """The content of the message's text/<subtype> body part, or None."""
    body = message.get_body(preferencelist=(subtype,))
    if body is None:
        return None
    content = body.get_content()
    return content if isinstance(content, str) else None


def page(title: str, body: str) -> Response:
    """An HTML page of our own (`title` and `body` already escaped)."""
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body style='font-family: sans-serif; margin: 2em'>{body}</body></html>")
    return Response(text, content_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": PAGE_POLICY})


class DevMail:
    """The /dev/mail pages of one gateway (see the module docstring)."""

    def __init__(self, settings: dict[str, Any], client_address: Callable[[dict], str]) -> None:
        """`client_address(environ)`: who asks (the gateway's limits.ClientAddress)."""
        self.folder: str = settings.get("MAIL_CATCHER_DIR") or ""
        self.enabled = bool(self.folder) and settings.get("COALITION_ENV") != "production"
        self.client_address = client_address
        self.parsed = 0  # messages read from the maildir so far (a list reads LISTED at most)

    def __call__(self, request: Request, name: str | None = None,
                 part: str | None = None) -> Response:
        if not (self.enabled and is_loopback(self.client_address(request.environ))):
            raise NotFound()
        if name is None:
            return self.listing()
        message = self.message(name)
        if part == "html":
            return self.html_part(message)
        return self.show(name, message)

    def read(self, file: BinaryIO) -> Mail:
        """One message of the maildir, parsed (and counted in `parsed`)."""
        self.parsed += 1
        return read_mail(file)

    def maildir(self) -> Any:
        """The catcher's maildir, its messages read as EmailMessages (never created here)."""
        return mailbox.Maildir(self.folder, factory=self.read,  # type: ignore[arg-type]
                               create=False)

    def message(self, name: str, box: Any = None) -> Mail:
        """The message `name` of the maildir (`box`, or the maildir opened
        anew); NotFound for any other name."""
        if not NAME.fullmatch(name):
            raise NotFound()
        try:
            message = (box if box is not None else self.maildir())[name]
        except (KeyError, OSError, mailbox.Error):
            raise NotFound() from None
        assert isinstance(message, EmailMessage)
        return message

    def messages(self) -> tuple[list[tuple[str, Mail]], int]:
        """(name, message) of the newest LISTED messages, newest filed first,
        and how many the maildir holds; only those listed are parsed."""
        found = filed(self.folder)
        shown: list[tuple[str, Mail]] = []
        try:  # one box for all: its table of contents is read once
            box = self.maildir() if found else None
        except (OSError, mailbox.Error):  # removed since the scan
            return shown, 0
        for _, name in heapq.nlargest(LISTED, found):
            try:
                shown.append((name, self.message(name, box)))
            except NotFound:  # deleted since the scan
                continue
        return shown, len(found)

    def listing(self) -> Response:
        found, total = self.messages()
        rows = "".join(
            f"<tr><td>{escape(sent_at(message).isoformat(timespec='seconds'))}</td>"
            f"<td>{header(message, 'To')}</td>"
            f"<td><a href='/dev/mail/{escape(name)}'>{header(message, 'Subject') or '(none)'}"
            "</a></td></tr>" for name, message in found)
        shown = f"the newest {LISTED} of {total}" if total > LISTED else total
        return page("Mail caught", f"<h1>Mail caught</h1><p>{shown} message(s) in "
                    f"<code>{escape(self.folder)}</code>, newest first.</p>"
                    "<table cellpadding='4'><tr><th>Date</th><th>To</th><th>Subject</th></tr>"
                    f"{rows}</table>")

    def show(self, name: str, message: Mail) -> Response:
        heads = "".join(f"<tr><th align='left'>{label}</th><td>{header(message, label)}</td></tr>"
                        for label in ("Date", "From", "To", "Subject", "Message-ID"))
        text = part_text(message, "plain")
        html_link = (f"<p><a href='/dev/mail/{escape(name)}/html'>The HTML part</a></p>"
                     if part_text(message, "html") is not None else "<p>No HTML part.</p>")
        body = ("<p>No text part.</p>" if text is None
                else f"<pre style='white-space: pre-wrap'>{escape(text)}</pre>")
        return page(header(message, "Subject") or "Mail",
                    f"<p><a href='/dev/mail'>All mail</a></p><table>{heads}</table>"
                    f"{html_link}{body}")

    def html_part(self, message: Mail) -> Response:
        """The HTML part as it was sent, under MAIL_HTML_POLICY."""
        html = part_text(message, "html")
        if html is None:
            raise NotFound()
        return Response(html, content_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": MAIL_HTML_POLICY})
