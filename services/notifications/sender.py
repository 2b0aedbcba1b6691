"""The sender: hands queued mails to the SMTP server, and records each outcome.

One `drain()` (the service's `@every_until_stopped("MAIL_SEND_SECONDS")`
timer) claims batches until nothing is due, the members service or the SMTP
server cannot be reached, or the service stops:

1. Claim: one scan for the ids of due mails (SENDING whose lease ran out: a
   sender that died; then QUEUED with next_attempt_at passed), then, for
   each chunk of MAIL_BATCH of them, one update_many that moves those still
   due to SENDING with the batch's claim token and a lease of
   MAIL_LEASE_SECONDS, and the mails read back by token. Each document's
   update is atomic, so with several instances a mail is in at most one
   batch at a time. Sign-in mails go first: before each chunk, the sign-in
   mails due (one indexed query) are claimed and sent, so a code never waits
   behind a backlog (it is of no use once its code expires: SIGN_IN_CODE_MINUTES).
2. Addresses: one `members.get_many` for the batch's members (their focal
   point's address at this moment), SECRETARIAT_EMAIL for "secretariat",
   and the stored address of a SIGN_IN mail. Nothing else holds an address;
   none is logged, kept in `error`, or put in an exception message.
3. Send: over one SMTP connection (smtp.py; each wait for the server at most
   MAIL_SMTP_TIMEOUT_SECONDS), each mail with its Message-ID
   (delivery.message_id: a function of its key). Once the session is open the
   batch's lease is counted anew, and a mail is started only while one
   mail's worst case (REPLIES_PER_MAIL timeouts) is left of the lease, the
   first one always; the rest goes back, untried. Each mail is recorded
   right after the server's answer: SENT (a SIGN_IN mail is deleted
   instead), FAILED for a 5xx reply or no address, or QUEUED again after the
   back-off (delivery.RetryPolicy) for a 4xx reply or a failed connection,
   FAILED once it has waited MAIL_GIVE_UP_HOURS. Every record is guarded by
   the claim token, so a sender whose lease ran out cannot overwrite what
   another one recorded, and only a record that matched counts in the tally.
   Records are update_many and delete_many on one `_id`: not retryable
   writes, of which the store keeps a record it scans at every such write
   (bench/README.md, finding 3).
4. Stop: when the service stops (`stopping` is set) the drain ends between
   two mails and puts the rest of its batch back (QUEUED, unclaimed, no
   attempt counted), within one mail's time of the SIGTERM.

The honest limit: SMTP has no way to ask whether a message arrived, so
delivery is at least once, not exactly once. A mail can be sent twice, each
time with the same Message-ID (by which mail programs and many servers
recognise a repeat), in these cases and no other:
- the process dies (kill -9, out of memory, the machine, or SIGKILL after
  the supervisor's grace while a mail is in flight) or loses the store
  between the server's acceptance and the SENT record: the mail stays
  SENDING, and once its lease has passed a sender claims it and sends it
  again (one mail per sender that dies);
- the server's reply to the end of the message is lost or comes after
  MAIL_SMTP_TIMEOUT_SECONDS (a dropped connection, a server slower than the
  timeout): the sender cannot tell whether it was accepted, counts it a
  temporary failure and sends it again after the back-off;
- the lease runs out while the sender still sends: possible only when the
  process stalls (paused, starved of CPU) for longer than a mail's worst
  case; another sender then claims the mail and sends it too, and the first
  one's record is refused and logged ("its claim was lost").
"""
import logging
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from services.common.errors import Unavailable
from services.common.smtp_url import REPLIES_PER_MAIL, parse_smtp_url
from services.common.store import utcnow
from services.common.vocabulary import SECRETARIAT, MailStatus, NotificationKind
from services.notifications import delivery
from services.notifications.dependencies import chunks
from services.notifications.smtp import Connection, SmtpFailure, build_message

log = logging.getLogger(__name__)

Doc = dict[str, Any]
Due = list[tuple[Doc, list[str]]]  # [(what makes them due, a chunk of their ids)]

NO_ADDRESS: Final = "no address"
SCAN_LIMIT: Final = 5000  # due ids read by one scan: the memory a drain holds


def sign_ins_due(now: datetime) -> Doc:
    return {"kind": NotificationKind.SIGN_IN, "status": MailStatus.QUEUED,
            "next_attempt_at": {"$lte": now}}


def leases_passed(now: datetime) -> Doc:
    return {"status": MailStatus.SENDING, "lease_until": {"$lte": now}}


def queued_due(now: datetime) -> Doc:
    return {"status": MailStatus.QUEUED, "next_attempt_at": {"$lte": now}}


@dataclass
class Tally:
    """What one drain did, for its log line (counts only). `lost`: records
    refused because the mail's claim had passed to another sender."""
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    released: int = 0
    lost: int = 0
    batches: int = 0

    def any(self) -> bool:
        return bool(self.sent or self.deferred or self.failed or self.released or self.lost)


@dataclass
class Batch:
    """Mails claimed together under one token; `deadline`, set when sending
    begins, is the last moment a mail may be started."""
    token: str
    mails: list[Doc]
    addresses: dict[str, str | None] = field(default_factory=dict)
    deadline: datetime | None = None


MemberViews = Callable[[list[str]], list[Doc]]


class Sender:
    """`Sender(store, member_views, config, stopping).drain()`; `member_views(ids)`
    is the members service's get_many (views with focal_point {name, email};
    Unavailable when it does not answer); `stopping` is set when the service stops."""

    def __init__(self, store: Any, member_views: MemberViews, config: Mapping[str, Any],
                 stopping: threading.Event | None = None) -> None:
        self.db = store.db
        self.member_views = member_views
        self.config = config
        self.smtp = parse_smtp_url(config["SMTP_URL"])
        self.smtp_timeout = float(config["MAIL_SMTP_TIMEOUT_SECONDS"])
        self.policy = delivery.RetryPolicy.from_config(config)
        self.batch_size = int(config["MAIL_BATCH"])
        self.lease = timedelta(seconds=float(config["MAIL_LEASE_SECONDS"]))
        # the longest one mail may take once the session is open
        self.one_mail = timedelta(seconds=REPLIES_PER_MAIL * self.smtp_timeout)
        self.mail_from = str(config["MAIL_FROM"])
        self.stopping = stopping or threading.Event()
        self.tally = Tally()

    def drain(self) -> Tally:
        """Claim and send batches until nothing is due, the members service or
        the SMTP server cannot be reached (the next tick tries again), or the
        service stops."""
        while not self.stopping.is_set() and (due := self.due()) and self.send_due(due):
            pass
        t = self.tally
        if t.any():
            log.info("mails: %d sent, %d to try again, %d failed, %d put back, %d claims lost "
                     "(%d batches)", t.sent, t.deferred, t.failed, t.released, t.lost, t.batches)
        return t

    def send_due(self, due: Due) -> bool:
        """Claim and send each chunk of `due`, each after the sign-in mails
        due by then; False to stop the drain."""
        for chunk in due:
            for condition, ids in [*self.scan(sign_ins_due(utcnow())), chunk]:
                if self.stopping.is_set() or not self.send_chunk(condition, ids):
                    return False
        return True

    def send_chunk(self, condition: Doc, ids: list[str]) -> bool:
        batch = self.claim(condition, ids)
        if not batch.mails:
            return True  # another instance took them first
        self.tally.batches += 1
        return self.deliver(batch)

    # ---- 1. claim ----------------------------------------------------------

    def due(self) -> Due:
        """SENDING mails whose lease ran out (their sender died), then QUEUED
        ones whose time has come, in chunks of MAIL_BATCH. One scan for many
        batches: the store reads every match of a query, `limit` or not."""
        now = utcnow()
        return [*self.scan(leases_passed(now)), *self.scan(queued_due(now))]

    def scan(self, condition: Doc) -> Due:
        """At most SCAN_LIMIT ids of mails due by `condition`, shuffled (so that
        instances draining at once seldom reach for the same chunk), in chunks."""
        ids = [d["_id"] for d in self.db.mails.find(condition, {"_id": 1}).limit(SCAN_LIMIT)]
        random.shuffle(ids)
        return [(condition, chunk) for chunk in chunks(ids, self.batch_size)]

    def claim(self, condition: Doc, ids: list[str]) -> Batch:
        """Those of `ids` still due by `condition`, moved to SENDING under a
        new token with a lease, in one update_many (atomic per mail: each is
        in one batch at a time), then read back by the token."""
        token = uuid.uuid4().hex
        self.db.mails.update_many({"_id": {"$in": ids}, **condition}, {"$set": {
            "status": MailStatus.SENDING, "claim": token, "lease_until": utcnow() + self.lease}})
        return Batch(token, list(self.db.mails.find({"claim": token})))

    # ---- 2. addresses ------------------------------------------------------

    def addresses(self, mails: list[Doc]) -> dict[str, str | None]:
        """{mail id: the address to send it to, or None}: one members.get_many
        for the batch (Unavailable if the members service does not answer)."""
        member_ids = sorted({m["recipient"] for m in mails
                             if m["kind"] != NotificationKind.SIGN_IN
                             and m["recipient"] != SECRETARIAT})
        views = self.member_views(member_ids) if member_ids else []
        emails = {v["id"]: (v.get("focal_point") or {}).get("email") for v in views}
        secretariat = self.config.get("SECRETARIAT_EMAIL") or None
        return {m["_id"]: (m.get("address") if m["kind"] == NotificationKind.SIGN_IN
                           else secretariat if m["recipient"] == SECRETARIAT
                           else emails.get(m["recipient"])) or None
                for m in mails}

    # ---- 3. send -----------------------------------------------------------

    def deliver(self, batch: Batch) -> bool:
        """Send a claimed batch; False if the drain should stop here: the
        members service or the SMTP server could not be reached (one attempt
        per tick while they are away, not one per batch)."""
        try:
            batch.addresses = self.addresses(batch.mails)
        except Unavailable:
            log.warning("mails: the members service did not answer; %d mails wait",
                        len(batch.mails))
            self.release(batch, batch.mails)
            return False
        sign_in_first = sorted(batch.mails, key=lambda m: m["kind"] != NotificationKind.SIGN_IN)
        sendable = [m for m in sign_in_first if self.ready(batch, m)]
        if not sendable:
            return True
        try:
            with Connection(self.smtp, self.smtp_timeout) as connection:
                self.send_all(connection, batch, self.renew(batch, sendable))
        except SmtpFailure as failure:  # no session: none of them was tried
            log.warning("mails: no SMTP session (%s); %d mails wait", failure, len(sendable))
            for mail in sendable:
                self.record_failure(batch, mail, failure)
            return False
        return True

    def ready(self, batch: Batch, mail: Doc) -> bool:
        """Whether `mail` goes to the server now; if not, what it became is recorded."""
        if mail.get("expires_at") is not None and mail["expires_at"] <= utcnow():
            self.db.mails.delete_many({"_id": mail["_id"], "claim": batch.token})
            return False  # a sign-in code past its time is of no use to anyone
        if batch.addresses.get(mail["_id"]) is None:
            self.record_failure(batch, mail, SmtpFailure(None, NO_ADDRESS, broken=False),
                                permanent=True)
            return False
        return True

    def renew(self, batch: Batch, mails: list[Doc]) -> list[Doc]:
        """The lease counted anew as sending begins (the address lookup and
        the session's opening took some of it), the batch's deadline set, and
        those of `mails` still this batch's (a lease that ran out meanwhile
        may have let another sender claim some)."""
        now = utcnow()
        ids = [m["_id"] for m in mails]
        renewed = self.db.mails.update_many({"_id": {"$in": ids}, "claim": batch.token},
                                            {"$set": {"lease_until": now + self.lease}})
        batch.deadline = now + self.lease - self.one_mail
        if renewed.matched_count == len(ids):
            return mails
        still = {d["_id"] for d in self.db.mails.find({"claim": batch.token}, {"_id": 1})}
        self.tally.lost += len(ids) - len(still)
        return [m for m in mails if m["_id"] in still]

    def send_all(self, connection: Connection, batch: Batch, mails: list[Doc]) -> None:
        """Send each mail in turn over `connection`, recording each outcome.
        The rest goes back untried when the service stops, at the batch's
        deadline (the first mail is always tried), or when the connection breaks."""
        assert batch.deadline is not None  # renew() set it
        for index, mail in enumerate(mails):
            if self.stopping.is_set() or (index and utcnow() >= batch.deadline):
                self.release(batch, mails[index:])
                return
            if not self.send_one(connection, batch, mail):
                self.release(batch, mails[index + 1:])
                return

    def send_one(self, connection: Connection, batch: Batch, mail: Doc) -> bool:
        """Send one mail and record what became of it; False if the connection broke."""
        address = batch.addresses[mail["_id"]]
        assert address is not None  # ready() saw to that
        try:
            message = build_message(mail, address, self.mail_from, utcnow())
        except Exception:  # its text could name the address: never kept, never logged
            failure = SmtpFailure(None, "the message could not be built", broken=False)
            self.record_failure(batch, mail, failure, permanent=True)
            return True
        try:
            connection.send(message, delivery.sender_address(self.mail_from), address)
        except SmtpFailure as failure:
            self.record_failure(batch, mail, failure)
            return not failure.broken
        self.record_sent(batch, mail)
        return True

    # ---- records (each guarded by the batch's claim token) -------------------

    def record_sent(self, batch: Batch, mail: Doc) -> None:
        mine = {"_id": mail["_id"], "claim": batch.token}
        if mail["kind"] == NotificationKind.SIGN_IN:
            done = self.db.mails.delete_many(mine).deleted_count  # its address and code go
        else:
            done = self.db.mails.update_many(mine, {"$set": {
                "status": MailStatus.SENT, "sent_at": utcnow(), "attempts": mail["attempts"] + 1,
                "error": None, "claim": None, "lease_until": None}}).matched_count
        if done:
            self.tally.sent += 1
        else:
            self.claim_lost(mail, "accepted by the server")

    def record_failure(self, batch: Batch, mail: Doc, failure: SmtpFailure,
                       permanent: bool | None = None) -> None:
        """FAILED for good (a 5xx reply, or `permanent`), else QUEUED after the
        back-off (or FAILED once given up). The error kept is the redacted reply."""
        now = utcnow()
        for_good = delivery.is_permanent(failure.code) if permanent is None else permanent
        changes = (delivery.after_permanent_failure(mail, failure.reply, now) if for_good
                   else self.policy.after_temporary_failure(mail, failure.reply, now))
        recorded = self.db.mails.update_many({"_id": mail["_id"], "claim": batch.token},
                                             {"$set": changes})
        if not recorded.matched_count:
            self.claim_lost(mail, "not accepted")
        elif changes["status"] == MailStatus.FAILED:
            self.tally.failed += 1
            log.warning("mail %s FAILED: %s", mail["_id"], changes["error"])
        else:
            self.tally.deferred += 1
            log.debug("mail %s deferred until %s: %s", mail["_id"],
                      changes["next_attempt_at"].isoformat(), changes["error"])

    def claim_lost(self, mail: Doc, what: str) -> None:
        """A record refused: the mail's lease ran out and another sender has it."""
        self.tally.lost += 1
        log.warning("mail %s was %s after its claim was lost (its lease ran out); the sender "
                    "that holds it now records it (and may send it, with the same Message-ID)",
                    mail["_id"], what)

    def release(self, batch: Batch, mails: list[Doc]) -> None:
        """Put claimed mails back as they were, untried (no attempt counted)."""
        if mails:
            released = self.db.mails.update_many(
                {"_id": {"$in": [m["_id"] for m in mails]}, "claim": batch.token},
                {"$set": {"status": MailStatus.QUEUED, "claim": None, "lease_until": None}})
            self.tally.released += released.modified_count
