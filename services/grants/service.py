"""Grants service: entrypoints only. Rules live in domain.py, money in
money.py, guarded updates in dependencies.py; reports' entrypoints are in
report_service.py and IATI's in iati_service.py (mixed in).

Each mutation writes through one `self.store.transaction(work)` and answers
from what `work` returns (a repeated or redelivered call gets the kept
result: services/common/store.py)."""
import logging

from services.common import paging
from services.common.errors import Conflict
from services.common.events import MEMBER_EVENTS
from services.common.handlers import OperatorRpc, consume, consume_all, rpc
from services.common.queries import RecordQueries, RecordSource
from services.common import member_data, records
from services.common.records import apply_newer
from services.common.store import utcnow
from services.common.validation import load
from services.common.vocabulary import AllocationStatus
from services.grants import domain
from services.grants.dependencies import (MEMBER_DATA, apply_guarded, disbursed_total_update,
                                          disbursement_update, grants_store, grouped,
                                          member_allocations, release_update, reservation_update,
                                          touch_member, transition_update)
from services.grants.iati_service import IatiEntrypoints
from services.grants.report_service import ReportEntrypoints
from services.grants.schemas import (AllocationInput, AllocationView, DisbursementInput,
                                     DisbursementView, GrantInput, GrantView, ListFilter)

log = logging.getLogger(__name__)
grant_view = GrantView().dump
allocation_view = AllocationView().dump
disbursement_view = DisbursementView().dump


class GrantsService(ReportEntrypoints, IatiEntrypoints, RecordQueries, OperatorRpc):
    name = "grants"
    store = grants_store()
    records = RecordSource("grants", filters=ListFilter, view=grant_view)

    # ---- commands ------------------------------------------------------

    @rpc
    def create_grant(self, data):
        grant_in = load(GrantInput(), data)
        grant = self.store.transaction(lambda tx: self._create(tx, grant_in))
        log.info("grant %s created (PIPELINE)", grant["_id"])
        return grant_view(grant)

    @rpc
    def activate_grant(self, grant_id):
        grant = self.store.transaction(lambda tx: self._activate(tx, grant_id))
        log.info("grant %s activated", grant["_id"])
        return grant_view(grant)

    @rpc
    def close_grant(self, grant_id):
        """ACTIVE -> CLOSED (else CONFLICT); emits grant_closed. Its
        allocations' reports go on; no disbursement is recorded any more."""
        grant = self.store.transaction(lambda tx: self._close(tx, grant_id))
        log.info("grant %s closed", grant["_id"])
        return grant_view(grant)

    @rpc
    def propose_allocation(self, data):
        proposal = load(AllocationInput(), data)
        allocation = self.store.transaction(lambda tx: self._propose(tx, proposal))
        log.info("allocation %s proposed on grant %s", allocation["_id"], allocation["grant_id"])
        return allocation_view(allocation)

    @rpc
    def record_disbursement(self, data):
        payment = load(DisbursementInput(), data)
        disbursement = self.store.transaction(lambda tx: self._disburse(tx, payment))
        log.info("disbursement %s recorded on allocation %s", disbursement["_id"],
                 disbursement["allocation_id"])
        return disbursement_view(disbursement)

    # ---- their transactions: each returns what the command answers -------

    def _create(self, tx, grant_in):
        grant = {"_id": paging.new_id(), **domain.new_grant(grant_in, utcnow())}
        tx.db.grants.insert_one(grant, session=tx.session)
        tx.emit("grant_created", domain.grant_created_data(grant))
        return grant

    def _activate(self, tx, grant_id):
        grant = records.load(tx, "grants", "grant", grant_id)
        changes, entry, event = domain.grant_transition(grant, "activate", utcnow())
        apply_guarded(tx, "grants", transition_update(grant, changes, entry))
        grant.update(changes)
        tx.emit(event, domain.grant_activated_data(grant))
        return grant

    def _close(self, tx, grant_id):
        grant = records.load(tx, "grants", "grant", grant_id)
        changes, entry, event = domain.grant_transition(grant, "close", utcnow())
        changes = domain.closing_changes(changes)
        if not apply_guarded(tx, "grants", transition_update(grant, changes, entry)):
            raise Conflict("This grant changed meanwhile; reload it and try again.")
        grant.update(changes)
        tx.emit(event, domain.grant_closed_data(grant))
        return grant

    def _propose(self, tx, proposal):
        now, amount = utcnow(), proposal["amount_cents"]
        grant = domain.check_grant_allocatable(records.read(tx, "grants", proposal["grant_id"]),
                                               proposal["grant_id"])
        member = domain.check_member_eligible(records.read(tx, "members", proposal["member_id"]),
                                              proposal["member_id"])
        # the reservation: guarded by the update's own filter, never read-check-write
        reservation = reservation_update(grant["_id"], domain.ALLOCATABLE_GRANT, amount, now)
        if not apply_guarded(tx, "grants", reservation):
            raise Conflict(domain.reservation_refusal(grant, amount))
        allocation = {"_id": paging.new_id(), **domain.new_allocation(
            {**proposal, "member_id": member["_id"]}, grant, now)}
        tx.db.allocations.insert_one(allocation, session=tx.session)
        tx.emit("allocation_proposed", domain.allocation_proposed_data(allocation, grant))
        return allocation

    def _disburse(self, tx, payment):
        now, amount = utcnow(), payment["amount_cents"]
        allocation = records.read(tx, "allocations", payment["allocation_id"])
        grant = records.read(tx, "grants", allocation["grant_id"]) if allocation else None
        allocation, grant = domain.check_disbursable(allocation, payment["allocation_id"], grant)
        paid = disbursement_update(allocation["_id"], AllocationStatus.APPROVED, amount, now)
        if not apply_guarded(tx, "allocations", paid):
            raise Conflict(domain.disbursement_refusal(allocation, amount))
        counted = disbursed_total_update(grant["_id"], domain.DISBURSABLE_GRANT, amount, now)
        if not apply_guarded(tx, "grants", counted):
            raise Conflict(domain.grant_no_longer_disbursable())
        disbursement = {"_id": paging.new_id(), **domain.new_disbursement(payment, allocation, now)}
        tx.db.disbursements.insert_one(disbursement, session=tx.session)
        tx.emit("disbursement_recorded",
                domain.disbursement_recorded_data(disbursement, grant, allocation["currency"]))
        return disbursement

    # ---- queries (get, get_many and list of grants: RecordQueries) -------

    @rpc
    def allocations_by_grants(self, grant_ids):
        """{grant_id: [allocation views, oldest first]} for every (valid) id asked."""
        return self._grouped("allocations", "grant_id", grant_ids, allocation_view)

    @rpc
    def allocations_by_members(self, member_ids):
        """{member_id: [allocation views, oldest first]} for every (valid) id asked."""
        return self._grouped("allocations", "member_id", member_ids, allocation_view)

    @rpc
    def get_allocations(self, allocation_ids):
        """Allocation views for the ids that name one (unknown ids are left
        out); the gateway reads them to see a consultation's outcome applied."""
        ids = paging.clean_ids(allocation_ids)
        docs = self.store.db.allocations.find({"_id": {"$in": ids}}) if ids else []
        return [allocation_view(d) for d in docs]

    @rpc
    def disbursements_by_allocations(self, allocation_ids):
        """{allocation_id: [disbursement views, oldest first]} for every (valid) id asked."""
        return self._grouped("disbursements", "allocation_id", allocation_ids, disbursement_view)

    @rpc
    def member_data(self, member_id):
        """{collection: [documents]} of everything this service holds about the
        member (dependencies.MEMBER_DATA); read-only."""
        return member_data.export(self.store.db, MEMBER_DATA, member_id)

    def _grouped(self, collection, key, values, view):
        ids = paging.clean_ids(values)
        docs = self.store.db[collection].find({key: {"$in": ids}}) if ids else []
        return grouped(docs, key, ids, view)

    # ---- reactions to members ------------------------------------------

    @consume_all("members", MEMBER_EVENTS)
    def on_member_event(self, data, tx, envelope):
        """Keep grants' read model of members; hold or release allocations.
        Events may come in any order: only a newer revision is applied."""
        member_id, revision, status = data["member_id"], data["revision"], data["status"]
        now = utcnow()
        if not apply_newer(tx, "members", member_id, revision, {"status": status, "updated_at": now}):
            log.info("member %s: %s revision %d is not newer than the one held; ignored",
                     member_id, envelope["event_type"], revision)
            return
        action = domain.member_effect(status)
        if action is None:
            return
        note = domain.member_effect_note(status, envelope["event_type"], revision)
        sources = domain.ALLOCATION_LIFECYCLE[action].sources
        for allocation in member_allocations(tx, member_id, sources):
            self._step(tx, allocation, action, now, note)

    # ---- reactions to consultations --------------------------------------

    @consume("consultations", "round_closed")
    def on_round_closed(self, data, tx, envelope):
        allocation = self._subject(tx, data) if domain.decided_allocation(data) else None
        if allocation is None:
            return
        member = records.read(tx, "members", allocation["member_id"])
        actions = domain.after_round_closed(allocation["status"], data["outcome"],
                                            member["status"] if member else None)
        if actions and member is not None:
            touch_member(tx, member["_id"])
        self._apply(tx, allocation, actions, domain.adopted_note(data),
                    f"outcome of {data['consultation_id']}")

    @consume("consultations", "consultation_cancelled")
    def on_consultation_cancelled(self, data, tx, envelope):
        allocation = self._subject(tx, data) if domain.is_about_allocation(data) else None
        if allocation is None:
            return
        self._apply(tx, allocation, domain.after_cancelled(allocation["status"]),
                    domain.cancelled_note(data), f"cancellation of {data['consultation_id']}")

    def _subject(self, tx, data):
        allocation = records.read(tx, "allocations", data["subject_id"])
        if allocation is None:
            log.warning("%s names unknown allocation %r", data["consultation_id"], data["subject_id"])
        return allocation

    def _apply(self, tx, allocation, actions, note, decision):
        """Move the allocation by each of `actions`; none: it has moved on."""
        if not actions:
            log.warning("%s not applied: allocation %s is already %s",
                        decision, allocation["_id"], allocation["status"])
            return
        now = utcnow()
        for action in actions:
            self._step(tx, allocation, action, now, note)

    def _step(self, tx, allocation, action, now, note):
        """Move one allocation by `action` in tx; free its reservation if the
        action ends it; emit the event. Nothing if it had moved on already."""
        step = domain.allocation_step(allocation["status"], action)
        if step is None:
            return
        changes, entry = domain.transition_changes(step, now, note)
        if not apply_guarded(tx, "allocations", transition_update(allocation, changes, entry)):
            return
        if domain.releases_reservation(action):
            self._free_reservation(tx, allocation, now)
        allocation["status"] = step.target
        tx.emit(step.event, domain.allocation_changed_data(allocation, step.target,
                                                           self._grant_title(tx, allocation)))
        log.info("allocation %s: %s -> %s", allocation["_id"], action, step.target)

    def _grant_title(self, tx, allocation):
        """The title of the allocation's grant, read in `tx` (None if the
        grant is unknown: the event still goes out)."""
        grant = tx.db.grants.find_one({"_id": allocation["grant_id"]}, {"title": 1},
                                      session=tx.session)
        return grant and grant["title"]

    def _free_reservation(self, tx, allocation, now):
        freed = release_update(allocation["grant_id"], allocation["amount_cents"], now)
        if not apply_guarded(tx, "grants", freed):
            raise domain.BooksOutOfBalance(f"grant {allocation['grant_id']} does not hold the "
                                           f"reservation of allocation {allocation['_id']}")
