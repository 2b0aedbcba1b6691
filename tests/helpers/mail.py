"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, on a port of its own.

    mail = MailServer().start()          # smtp://127.0.0.1:<port> is mail.url
    ...the code under test sends...
    [msg] = mail.wait_for_messages(1, where=lambda m: "idpc" in m.to[0])
    msg.subject, msg.text, msg.html, msg.message_id, msg.mail_from, msg.to

What it does with each mail is switched while it runs, from the test:
- `accept()`: every recipient accepted, every message kept (the default);
- `refuse(predicate)`: a recipient address the predicate accepts is refused
  for good (550) at RCPT; the others are accepted;
- `defer()`: everything refused for now (451), at RCPT by default;
- `stop()` / `start()`: the server goes away (connections refused, open ones
  cut) and comes back on the same port, with what it kept.

Every accepted message is kept, parsed with email.policy.default, in a
thread-safe list (`messages`), in the order the server accepted them; every
answer given to a recipient is kept in `answers` (address, code), so a test
can count attempts. Nothing here is mocked: the code under test talks SMTP
over a socket to a server that answers as a real one does.
"""
import asyncio
import email
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

ACCEPTED = "250 OK"
PERMANENT = "550 5.1.1 Mailbox unavailable"
TEMPORARY = "451 4.3.0 Try again later"
STAGES = ("mail", "rcpt", "data")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Received:
    """One message the server accepted, as its recipients' mail system has it."""
    mail_from: str           # the envelope's sender (MAIL FROM)
    to: tuple[str, ...]      # the envelope's accepted recipients (RCPT TO)
    message: EmailMessage    # parsed with email.policy.default
    raw: bytes
    received_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def message_id(self):
        """The Message-ID header as sent, angle brackets included."""
        return self.header("Message-ID")

    @property
    def subject(self):
        return self.header("Subject")

    def _part(self, subtype):
        part = self.message.get_body(preferencelist=(subtype,))
        return None if part is None else part.get_content()

    @property
    def text(self):
        """The text/plain part (or the whole body of a plain message); None without one."""
        return self._part("plain")

    @property
    def html(self):
        """The text/html part; None without one."""
        return self._part("html")

    def header(self, name):
        """A header's decoded value as a plain str, or None."""
        value = self.message[name]
        # a long header is folded onto a next line starting with a space;
        # unfolded, that space leads the value, as no mail program shows it
        return None if value is None else str(value).strip()


class _Handler:
    """aiosmtpd's hooks: answers as the mode says, keeps what it accepts."""

    def __init__(self, server):
        self.server = server

    async def handle_MAIL(self, smtp, session, envelope, address, mail_options):
        status = self.server._answer("mail", address)
        if status == ACCEPTED:
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
        return status

    async def handle_RCPT(self, smtp, session, envelope, address, rcpt_options):
        status = self.server._answer("rcpt", address)
        if status == ACCEPTED:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.extend(rcpt_options)
        return status

    async def handle_DATA(self, smtp, session, envelope):
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        status = self.server._answer("data", None)
        if status != ACCEPTED:
            return status
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=policy.default)
        self.server._keep(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message, raw))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's controller that remembers its connections, to cut them on stop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections = []

    def factory(self):
        smtp = SMTP(self.handler, **self.SMTP_kwargs)
        self.connections.append(smtp)
        return smtp

    def stop(self, no_assert=False):
        def cut():
            for smtp in self.connections:
                if smtp.transport is not None:
                    smtp.transport.close()
        self.loop.call_soon_threadsafe(cut)
        super().stop(no_assert)


class MailServer:
    """An SMTP server on 127.0.0.1 that keeps what it accepts; see the module docstring."""

    def __init__(self, port=None, host="127.0.0.1"):
        self.host = host
        self.port = port or free_port()
        self._lock = threading.Condition()
        self._messages = []
        self._answers = []
        self._refuse = None       # predicate(address) -> refuse for good
        self._defer = None        # the stage at which everything is refused for now
        self._delay = 0.0         # seconds each DATA waits before its answer
        self._controller = None

    # ---- lifecycle ----
    @property
    def url(self):
        return f"smtp://{self.host}:{self.port}"

    @property
    def running(self):
        return self._controller is not None

    def start(self):
        """Listen (again) on this server's port; what it kept stays."""
        if self._controller is None:
            controller = _Controller(_Handler(self), hostname=self.host, port=self.port,
                                     ready_timeout=10)
            controller.start()  # asyncio binds with SO_REUSEADDR: the same port again
            self._controller = controller
        return self

    def stop(self):
        """Stop listening and cut open connections (the server is down)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    # ---- modes ----
    def accept(self):
        """Accept every recipient and keep every message."""
        with self._lock:
            self._refuse, self._defer = None, None

    def refuse(self, predicate):
        """Refuse for good (550) each recipient address `predicate` accepts."""
        with self._lock:
            self._refuse, self._defer = predicate, None

    def defer(self, stage="rcpt"):
        """Refuse everything for now (451), at MAIL, RCPT (default) or DATA."""
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        with self._lock:
            self._defer, self._refuse = stage, None

    def slow(self, seconds):
        """Answer each message's DATA `seconds` late (0: at once), so that a
        test can act while a sender is in the middle of a batch."""
        with self._lock:
            self._delay = float(seconds)

    @property
    def delay(self):
        with self._lock:
            return self._delay

    def _answer(self, stage, address):
        with self._lock:
            if self._defer == stage:
                status = TEMPORARY
            elif stage == "rcpt" and self._refuse is not None and self._refuse(address):
                status = PERMANENT
            else:
                status = ACCEPTED
            if stage == "rcpt":
                self._answers.append((address, int(status[:3])))
            return status

    def _keep(self, received):
        with self._lock:
            self._messages.append(received)
            self._lock.notify_all()

    # ---- what it kept ----
    @property
    def messages(self):
        """Every accepted message, oldest first (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def answers(self):
        """(recipient address, SMTP code) of every RCPT answered, oldest first."""
        with self._lock:
            return list(self._answers)

    def messages_to(self, address):
        """The accepted messages whose envelope names `address` (case-insensitively)."""
        wanted = address.casefold()
        return [m for m in self.messages if any(t.casefold() == wanted for t in m.to)]

    def clear(self):
        """Forget what was kept (the mode stays)."""
        with self._lock:
            self._messages.clear()
            self._answers.clear()

    def wait_for_messages(self, count=1, timeout=20.0, where=None):
        """The kept messages `where` accepts (all when None), once there are at
        least `count` of them; AssertionError after `timeout` seconds. `count`
        may be the predicate itself: wait_for_messages(lambda m: ...) waits for one."""
        if callable(count):
            count, where = 1, count
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [m for m in self._messages if where is None or where(m)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    break
                self._lock.wait(min(left, 0.2))
        if len(found) < count:
            raise AssertionError(f"{len(found)} of {count} message(s) arrived within "
                                 f"{timeout}s; subjects: {[m.subject for m in found]}")
        return found

    def settle(self, quiet=1.0, timeout=30.0):
        """Every kept message, once none arrived for `quiet` seconds (to check
        that nothing more, such as a repeat, comes)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            seen = len(self._messages)
            quiet_until = time.monotonic() + quiet
            while time.monotonic() < quiet_until:
                if time.monotonic() > deadline:
                    raise AssertionError(f"mail still arriving after {timeout}s")
                self._lock.wait(min(quiet_until - time.monotonic(), 0.2))
                if len(self._messages) != seen:
                    seen, quiet_until = len(self._messages), time.monotonic() + quiet
            return list(self._messages)

    def duplicates(self):
        """The Message-IDs accepted more than once."""
        ids = [m.message_id for m in self.messages]
        return sorted({i for i in ids if ids.count(i) > 1})
