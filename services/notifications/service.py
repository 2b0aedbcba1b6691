"""Notifications service: entrypoints only. Who is told what is in domain.py
(of proxies: proxies.py; of reports and their reminders: reports.py), the
store's layout and the fan-out in dependencies.py, the words in content.py,
the delivery in sender.py.

Each event handler writes its in-app notifications and its mails in the
transaction that records the event as processed (services/common/handlers.py
consume): a redelivered event adds nothing, and each notification key is
unique besides. Each mutation RPC writes only inside
`self.store.transaction(work)` and answers from what `work` returns.
"""
import logging
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Final

from services.common import member_data, paging
from services.common.errors import BadUserInput
from services.common.events import (ALLOCATION_DECISIONS, MEMBER_EVENTS, PROXY_NOTICES,
                                    REPORT_EVENTS)
from services.common.handlers import OperatorRpc, consume, consume_all, every, rpc
from services.common.queries import DEFAULT_MAX_PAGE_SIZE
from services.common.records import apply_newer, found
from services.common.remote import BoundedRpcProxy
from services.common.store import Tx, utcnow
from services.common.timers import every_until_stopped
from services.common.validation import load
from services.common.vocabulary import Language, MailStatus, NotificationKind
from services.notifications import delivery, dependencies, domain, erasure, proxies, reports
from services.notifications.content import render
from services.notifications.dependencies import notifications_store
from services.notifications.schemas import (
    MAX_MAILS, RETRY_LIMIT, MailDetailView, MailsQuery, MailView, MarkReadInput, MemberIdInput,
    NotificationsQuery, NotificationView, PreferencesInput, PreferencesView, RecipientInput,
    RetryInput, SignInInput)
from services.notifications.sender import Sender

log = logging.getLogger(__name__)
K = NotificationKind

notification_view = NotificationView().dump
preferences_view = PreferencesView().dump
mail_view = MailView().dump
_mail_detail = MailDetailView().dump

REMINDERS_PER_TICK: Final = 100


def mail_detail(doc: dict[str, Any]) -> dict[str, Any]:
    """One mail with its text and link; a SIGN_IN mail's text and link (both
    hold its code) are never shown."""
    if doc["kind"] == K.SIGN_IN:
        doc = {**doc, "text": None, "link": None}
    return dict(_mail_detail(doc))


class NotificationsService(OperatorRpc):
    name = "notifications"
    store = notifications_store()
    # addresses are read from members when a mail is sent (sender.py), and a
    # round's snapshot from consultations when its opening is handled
    members = BoundedRpcProxy("members")
    consultations = BoundedRpcProxy("consultations")

    # ---- the fan-out, and the `prepare` steps of the handlers ----------------

    def _tell(self, tx: Tx, source: str, kind: K, recipients: Any,
              context: dict[str, Any]) -> int:
        """Notify each of `recipients` (who did not turn `kind` off) with
        `context`, rendered once per language, in `tx`."""
        def say(language: Language) -> domain.Rendered:
            return render(kind, language, context)
        return dependencies.fan_out(tx, source, kind, recipients, say, context["link"],
                                    self.store.config, utcnow())

    def _snapshot(self, data: dict[str, Any]) -> list[str]:
        """The round's eligible members, from consultations (called outside
        any transaction: the `prepare` step of on_consultation_opened)."""
        eligible: list[str] = self.consultations.eligible_of_round(data["consultation_id"],
                                                                  data["round"])
        return eligible

    def _snapshot_unless_kept(self, data: dict[str, Any]) -> list[str] | None:
        """None when the round's document is kept here (its opening was
        handled: it holds the snapshot), else the snapshot from consultations.

        Asked only when missing, not always: a round of 10,000 members would
        otherwise cost a 10,000-id answer at each close for nothing. It is
        missing when round_closed is handled before consultation_opened
        (separate queues: a round that opened past its deadline closes in the
        same transaction), or when this service never saw the opening."""
        rounds = self.store.db.rounds
        if rounds.find_one({"_id": domain.round_id(data["consultation_id"], data["round"])},
                           {"_id": 1}) is not None:
            return None
        return self._snapshot(data)

    def _public_url(self) -> str:
        return str(self.store.config["PUBLIC_URL"])

    # ---- events ------------------------------------------------------------

    @consume_all("members", MEMBER_EVENTS)
    def on_member_event(self, data: dict[str, Any], tx: Tx, envelope: dict[str, Any]) -> None:
        """The read model (newest revision wins), then the MEMBERSHIP
        notifications of the events that tell someone (domain.MEMBERSHIP_EVENTS)."""
        apply_newer(tx, "members", data["member_id"], data["revision"],
                    {"name": data["name"], "status": data["status"],
                     "language": domain.language_of(data.get("language"))})
        event_type = envelope["event_type"]
        for recipient, for_secretariat in domain.membership_recipients(event_type,
                                                                       data["member_id"]):
            context = domain.membership_context(event_type, data, for_secretariat,
                                                self._public_url())
            self._tell(tx, envelope["event_id"], K.MEMBERSHIP, [recipient], context)

    @consume("consultations", "consultation_opened", prepare=_snapshot)
    def on_consultation_opened(self, data: dict[str, Any], tx: Tx, envelope: dict[str, Any],
                               eligible: list[str]) -> None:
        """Keep the round (its snapshot, its reminder time) and tell its members."""
        opened_at = domain.moment(envelope["occurred_at"])
        closes_at = domain.moment(data["closes_at"])
        kept = dependencies.round_doc(tx, data["consultation_id"], data["round"])
        closed = bool(kept and kept["closed"])
        hours = Decimal(str(self.store.config["REMINDER_HOURS"]))
        dependencies.keep_round(tx, domain.opened_round(data, eligible, opened_at, closes_at,
                                                        hours, closed))
        if domain.opened_notice_due(opened_at, closes_at, utcnow(), closed):
            context = domain.opened_context(data, closes_at, self._public_url())
            self._tell(tx, envelope["event_id"], K.CONSULTATION_OPENED, eligible, context)

    @consume("consultations", "stance_cast")
    def on_stance_cast(self, data: dict[str, Any], tx: Tx, envelope: dict[str, Any]) -> None:
        """That the member responded (the granter, when its proxy's holder
        cast it): its reminder is not sent. Never the value (None anyway
        while the round's results are hidden)."""
        dependencies.keep_response(tx, data["consultation_id"], data["round"],
                                   proxies.responder(data), utcnow())

    @consume("consultations", "round_closed", prepare=_snapshot_unless_kept)
    def on_round_closed(self, data: dict[str, Any], tx: Tx, envelope: dict[str, Any],
                        snapshot: list[str] | None) -> None:
        """Mark the round closed (no reminder after it) and tell its members
        and the secretariat the outcome."""
        kept = dependencies.round_doc(tx, data["consultation_id"], data["round"])
        eligible = kept["eligible"] if kept else (snapshot or [])
        if kept:
            dependencies.close_round(tx, kept["_id"])
        else:
            dependencies.keep_round(tx, domain.closed_round(data, eligible))
        title = data.get("title") or (kept or {}).get("title")
        context = domain.closed_context({**data, "title": title}, self._public_url())
        if data.get("explanation") is not None and context["explanation"] is None:
            log.warning("round_closed %s: its explanation %r does not fit its sentence; the "
                        "mails give the outcome without it", envelope["event_id"],
                        data["explanation"].get("key"))
        self._tell(tx, envelope["event_id"], K.ROUND_CLOSED,
                   domain.round_closed_recipients(eligible), context)

    @consume_all("grants", ALLOCATION_DECISIONS + ["disbursement_recorded"])
    def on_allocation_event(self, data: dict[str, Any], tx: Tx,
                            envelope: dict[str, Any]) -> None:
        """Tell the beneficiary (ALLOCATION is always sent)."""
        recipient = domain.allocation_recipient(data)
        if recipient is not None:
            context = domain.allocation_context(envelope["event_type"], data, self._public_url())
            self._tell(tx, envelope["event_id"], K.ALLOCATION, [recipient], context)

    @consume_all("consultations", PROXY_NOTICES)
    def on_proxy_event(self, data: dict[str, Any], tx: Tx, envelope: dict[str, Any]) -> None:
        """Tell the holder of an offer, the granter of the rest, naming the
        other member (PROXY is always sent). Never a stance value."""
        parties = proxies.proxy_parties(envelope["event_type"], data)
        if parties is not None:
            context = proxies.proxy_context(envelope["event_type"], data,
                                            dependencies.member_name(tx, parties.other),
                                            self._public_url())
            self._tell(tx, envelope["event_id"], K.PROXY, [parties.recipient], context)

    @consume_all("grants", REPORT_EVENTS)
    def on_report_event(self, data: dict[str, Any], tx: Tx, envelope: dict[str, Any]) -> None:
        """The `reports` read model (the latest occurred_at wins), and for a
        request for changes the member's REPORT notification with the note
        (REPORT is always sent; reminders: send_report_reminders)."""
        reports.keep(tx, data, domain.moment(envelope["occurred_at"]), utcnow().date())
        if envelope["event_type"] == reports.CHANGES_REQUESTED:
            context = reports.report_context(reports.CHANGES_REQUESTED, data["report_id"], data,
                                             self._public_url())
            self._tell(tx, envelope["event_id"], K.REPORT, [data["member_id"]], context)

    # ---- timers --------------------------------------------------------------

    @every("REMINDER_CHECK_SECONDS")
    def send_reminders(self) -> None:
        """Each due reminder in a transaction of its own that claims it
        (PENDING -> DONE, guarded) and writes its notifications: with several
        instances, one claims it and the others find it DONE."""
        for round_key in dependencies.due_reminders(self.store.db, utcnow(), REMINDERS_PER_TICK):
            try:
                told = self.store.transaction(lambda tx: self._remind(tx, round_key))
            except Exception:
                log.exception("the reminder of round %s failed; it is tried again", round_key)
                continue
            if told is not None:
                log.info("reminder of round %s: %d members told", round_key, told)

    def _remind(self, tx: Tx, round_key: str) -> int | None:
        """The reminder of one round, claimed in `tx`, to the members of its
        snapshot who have not responded and still can (ACTIVE, or not heard
        of since the snapshot): None if another instance (or the close) took
        it first; 0 if the deadline passed meanwhile."""
        now = utcnow()
        doc = dependencies.claim_reminder(tx, round_key, now)
        if doc is None:
            return None
        if not domain.reminder_still_useful(doc["closes_at"], now):
            return 0

        def waiting() -> Iterator[str]:
            for chunk in dependencies.chunks(doc["eligible"]):
                done = dependencies.responded(tx, doc["consultation_id"], doc["round"], chunk)
                yield from domain.reminder_recipients(chunk, done,
                                                      dependencies.cannot_respond(tx, chunk))
        return self._tell(tx, domain.reminder_source(doc["consultation_id"], doc["round"]),
                          K.REMINDER, waiting(), domain.reminder_context(doc, self._public_url()))

    @every("REMINDER_CHECK_SECONDS")
    def send_report_reminders(self) -> None:
        """Each report's due-soon or overdue reminder in a transaction of its
        own that claims it (reports.claim_report, guarded): with several
        instances, one sends it and the others find it claimed."""
        for report_id in reports.due_reports(self.store.db, utcnow().date(), REMINDERS_PER_TICK):
            try:
                mail = self.store.transaction(lambda tx: self._remind_report(tx, report_id))
            except Exception:
                log.exception("the reminder of report %s failed; it is tried again", report_id)
                continue
            if mail is not None:
                log.info("report %s: %s", report_id, mail)

    def _remind_report(self, tx: Tx, report_id: str) -> str | None:
        """The reminder of one report claimed in `tx` and its notification
        written: which mail ("dropped" for a due-soon found overdue), or None
        if there was nothing to claim."""
        now = utcnow()
        claimed = reports.claim_report(tx, report_id, now.date(), now)
        if claimed is None:
            return None
        claim, doc = claimed
        if claim.mail is None:
            return "due-soon reminder dropped: overdue"
        context = reports.report_context(claim.mail, report_id, doc, self._public_url())
        self._tell(tx, reports.reminder_source(claim.mail, report_id), K.REPORT,
                   [doc["member_id"]], context)
        return claim.mail

    @every_until_stopped("MAIL_SEND_SECONDS")
    def send_mails(self, stopping: threading.Event) -> None:
        """Hand due mails to the SMTP server (sender.py) until none is due, or
        the service stops (`stopping`: then between two mails)."""
        Sender(self.store, self._member_views, self.store.config, stopping).drain()

    def _member_views(self, member_ids: list[str]) -> list[dict[str, Any]]:
        """The members as the members service has them now (their focal
        point's address included): one call per batch of mails."""
        views: list[dict[str, Any]] = self.members.get_many(member_ids)
        return views

    # ---- in-app notifications and preferences --------------------------------

    @rpc
    def notifications_for(self, recipient: object, unread_only: object = False,
                          first: object = 50, after: object = None) -> dict[str, Any]:
        """{edges, has_next_page, end_cursor, total_count, unread_count}, newest first."""
        q = load(NotificationsQuery(), {"recipient": recipient, "unreadOnly": unread_only,
                                        "first": first, "after": after})
        maximum = self.store.config.get("MAX_PAGE_SIZE", DEFAULT_MAX_PAGE_SIZE)
        return dependencies.notifications_page(self.store.db, q["recipient"], q["unread_only"],
                                               q["first"], q["after"], notification_view,
                                               maximum)

    @rpc
    def mark_read(self, recipient: object, ids: object) -> int:
        """How many of the recipient's unread notifications among `ids` became read."""
        q = load(MarkReadInput(), {"recipient": recipient, "ids": ids})
        wanted = paging.clean_ids(q["ids"])
        return self.store.transaction(
            lambda tx: dependencies.mark_read(tx, q["recipient"], wanted, utcnow()))

    @rpc
    def preferences(self, recipient: object) -> dict[str, Any]:
        q = load(RecipientInput(), {"recipient": recipient})
        return dict(preferences_view(dependencies.preferences_of(self.store.db, q["recipient"])))

    @rpc
    def set_preferences(self, recipient: object, changes: object) -> dict[str, Any]:
        """The switches given (and the secretariat's language); the others stay."""
        who = load(RecipientInput(), {"recipient": recipient})["recipient"]
        fields = domain.preference_changes(who, load(PreferencesInput(), changes))

        def work(tx: Tx) -> dict[str, Any]:
            if fields:
                dependencies.set_preferences(tx, who, fields, utcnow())
            return dict(preferences_view(dependencies.preferences_of(tx.db, who, tx.session)))
        return self.store.transaction(work)

    # ---- mail: sign-in codes, and the queue for operators --------------------

    @rpc
    def send_sign_in(self, address: object, code: object, language: object = None,
                     recipient: object = None, invited: object = None) -> bool:
        """Queue a SIGN_IN mail (the only mail that holds its address, until
        it is sent or its code expires: SIGN_IN_CODE_MINUTES). Its language:
        `language` if given, else `recipient`'s (a member id: the member's;
        "secretariat": the secretariat's preferences), else DEFAULT_LANGUAGE.
        `invited` (a person's name) makes it the invitation of a person just
        added to the secretariat. Never logs the address, the code or the name."""
        q = load(SignInInput(), {"address": address, "code": code, "language": language,
                                 "recipient": recipient, "invited": invited})
        minutes = float(self.store.config["SIGN_IN_CODE_MINUTES"])
        context = domain.sign_in_context(q["code"], self._public_url(), minutes, q["invited"])
        key = domain.notification_key(domain.sign_in_source(uuid.uuid4().hex),
                                      domain.SIGN_IN_RECIPIENT, K.SIGN_IN)

        def work(tx: Tx) -> bool:
            language_of_mail = domain.sign_in_language(
                q["language"], dependencies.language_of_recipient(tx.db, q["recipient"],
                                                                  tx.session))
            rendered = render(K.SIGN_IN, language_of_mail, context)
            mail = domain.sign_in_mail(key, q["address"], language_of_mail, rendered,
                                       context["link"], utcnow(),
                                       delivery.message_id(key, self.store.config["MAIL_FROM"]),
                                       minutes, domain.sign_in_member(q["recipient"]))
            tx.db.mails.insert_one(mail, session=tx.session)
            return True
        queued = self.store.transaction(work)
        log.info("sign-in mail %s queued%s", key, " (an invitation)" if q["invited"] else "")
        return queued

    @rpc
    def mails(self, status: object = None, limit: object = 50) -> list[dict[str, Any]]:
        """The newest mails (of `status`), never an address or a text."""
        q = load(MailsQuery(), {"status": status, "limit": limit},
                 f"A status of {', '.join(MailStatus)} (or none), and a limit from 1 to "
                 f"{MAX_MAILS}.")
        return [dict(mail_view(d)) for d in dependencies.mails_listing(self.store.db, q["status"],
                                                                       q["limit"])]

    @rpc
    def failed_mail_count(self) -> int:
        """How many mails FAILED for good: a number only, for the gateway's
        ADMIN `operations` (the mails themselves are the operator's)."""
        return int(self.store.db.mails.count_documents({"status": MailStatus.FAILED}))

    @rpc
    def mail(self, mail_id: object) -> dict[str, Any]:
        """One mail with its text, or NOT_FOUND."""
        clean = paging.clean_id(mail_id)
        doc = self.store.db.mails.find_one({"_id": clean}, {"address": 0}) if clean else None
        return mail_detail(found(doc, "mail", mail_id))

    @rpc
    def retry_mails(self, ids: object = None) -> list[str]:
        """FAILED mails queued again, due now; their ids. Those named (at most
        RETRY_LIMIT), or without ids the oldest RETRY_LIMIT: a caller that
        gets RETRY_LIMIT ids back asks again for the rest."""
        q = load(RetryInput(), {"ids": ids})
        moved: list[str] = self.store.transaction(
            lambda tx: dependencies.retry_failed(tx, q["ids"], utcnow(), RETRY_LIMIT))
        log.info("%d failed mails queued again", len(moved))
        return moved

    # ---- a member's personal data (DOMAIN.md section 11) ----------------------

    @rpc
    def member_data(self, member_id: object) -> dict[str, Any]:
        """{collection: [documents]}: all this service holds about the member
        (dependencies.MEMBER_DATA); read-only; all empty for a bad id."""
        try:
            clean = load(MemberIdInput(), {"memberId": member_id})["member_id"]
        except BadUserInput:
            return {part.collection: [] for part in dependencies.MEMBER_DATA}
        return member_data.export(self.store.db, dependencies.MEMBER_DATA, clean)

    @rpc
    def erase_member_data(self, member_id: object) -> list[str]:
        """Erase the member's mails and notifications' words and its sign-in
        mails (erasure.py), statement by statement; what was removed, in
        words ([] when nothing was left: a second erasure)."""
        clean = load(MemberIdInput(), {"memberId": member_id})["member_id"]
        erased = erasure.erase(self.store.db, clean, utcnow())
        log.info("member %s: personal data erased from the notifications (%s)", clean, erased)
        return erasure.words(erased)
