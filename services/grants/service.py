"""Grants service: entrypoints only. Rules live in domain.py, money in
money.py, guarded updates in dependencies.py."""
import logging

from services.common import paging
from services.common.errors import Conflict
from services.common.handlers import OperatorRpc, consume, consume_all, rpc
from services.common.events import MEMBER_EVENTS
from services.common.store import utcnow
from services.common.validation import load
from services.grants import domain
from services.grants.dependencies import (count_disbursed, disburse, grants_store, grouped,
                                          list_query, release, reserve)
from services.grants.schemas import (AllocationInput, AllocationView, DisbursementInput,
                                     DisbursementView, GrantInput, GrantView, ListFilter)

log = logging.getLogger(__name__)
grant_view = GrantView().dump
allocation_view = AllocationView().dump
disbursement_view = DisbursementView().dump


class GrantsService(OperatorRpc):
    name = "grants"
    store = grants_store()

    # ---- commands ------------------------------------------------------

    @rpc
    def create_grant(self, data):
        grant_in = load(GrantInput(), data)
        doc = {"_id": paging.new_id(), **domain.new_grant(grant_in, utcnow())}

        def work(tx):
            tx.db.grants.insert_one(doc, session=tx.session)
            tx.emit("grant_created", domain.grant_created_data(doc))
            return doc
        doc = self.store.transaction(work)
        log.info("grant %s created (PIPELINE)", doc["_id"])
        return grant_view(doc)

    @rpc
    def activate_grant(self, grant_id):
        grant_id = paging.clean_id(grant_id)
        now = utcnow()

        def work(tx):
            grant = tx.db.grants.find_one({"_id": grant_id}, session=tx.session) if grant_id else None
            if grant is None:
                raise domain.not_found("grant", grant_id)
            changes, entry, event = domain.grant_transition(grant, "activate", now)
            tx.db.grants.update_one({"_id": grant_id, "status": grant["status"]},
                                    {"$set": changes, "$push": {"history": entry}}, session=tx.session)
            grant.update(changes)
            tx.emit(event, domain.grant_activated_data(grant))
            return grant

        grant = self.store.transaction(work)
        log.info("grant %s activated", grant_id)
        return grant_view(grant)

    @rpc
    def propose_allocation(self, data):
        alloc_in = load(AllocationInput(), data)
        now = utcnow()
        domain.check_closes_at(alloc_in["closes_at"], now)
        grant_id = paging.clean_id(alloc_in["grant_id"])
        member_id = paging.clean_id(alloc_in["member_id"])
        amount = alloc_in["amount_cents"]
        allocation_id = paging.new_id()

        def work(tx):
            grant = tx.db.grants.find_one({"_id": grant_id}, session=tx.session) if grant_id else None
            domain.check_grant_allocatable(grant, grant_id)
            member = tx.db.members.find_one({"_id": member_id}, session=tx.session) if member_id else None
            domain.check_member_eligible(member, member_id)
            # the reservation: guarded by the update's own filter, never read-check-write
            guard, change = reserve(grant_id, domain.ALLOCATABLE_GRANT, amount, now)
            if tx.db.grants.update_one(guard, change, session=tx.session).matched_count == 0:
                raise Conflict(domain.reservation_refusal(grant, amount))
            allocation = {"_id": allocation_id,
                          **domain.new_allocation({**alloc_in, "member_id": member_id}, grant, now)}
            tx.db.allocations.insert_one(allocation, session=tx.session)
            tx.emit("allocation_proposed", domain.allocation_proposed_data(allocation, grant))
            return allocation

        allocation = self.store.transaction(work)
        log.info("allocation %s proposed on grant %s", allocation_id, grant_id)
        return allocation_view(allocation)

    @rpc
    def record_disbursement(self, data):
        disb_in = load(DisbursementInput(), data)
        now = utcnow()
        allocation_id = paging.clean_id(disb_in["allocation_id"])
        amount = disb_in["amount_cents"]
        disbursement_id = paging.new_id()

        def work(tx):
            allocation = (tx.db.allocations.find_one({"_id": allocation_id}, session=tx.session)
                          if allocation_id else None)
            grant = (tx.db.grants.find_one({"_id": allocation["grant_id"]}, session=tx.session)
                     if allocation else None)
            domain.check_disbursable(allocation, allocation_id, grant)
            guard, change = disburse(allocation_id, domain.APPROVED, amount, now)
            if tx.db.allocations.update_one(guard, change, session=tx.session).matched_count == 0:
                raise Conflict(domain.disbursement_refusal(allocation, amount))
            guard, change = count_disbursed(grant["_id"], domain.DISBURSABLE_GRANT, amount, now)
            if tx.db.grants.update_one(guard, change, session=tx.session).matched_count == 0:
                raise Conflict(f"This allocation's grant is no longer "
                               f"{' or '.join(sorted(domain.DISBURSABLE_GRANT))}.")
            disbursement = {"_id": disbursement_id,
                            **domain.new_disbursement(disb_in, allocation, now)}
            tx.db.disbursements.insert_one(disbursement, session=tx.session)
            tx.emit("disbursement_recorded", domain.disbursement_recorded_data(disbursement))
            return disbursement

        disbursement = self.store.transaction(work)
        log.info("disbursement %s recorded on allocation %s", disbursement_id, allocation_id)
        return disbursement_view(disbursement)

    # ---- queries -------------------------------------------------------

    @rpc
    def get(self, grant_id):
        grant_id = paging.clean_id(grant_id)
        doc = self.store.db.grants.find_one({"_id": grant_id}) if grant_id else None
        return grant_view(doc) if doc else None

    @rpc
    def get_many(self, grant_ids):
        """One round trip for any number of ids; unknown ids are left out."""
        ids = paging.clean_ids(grant_ids)
        return [grant_view(d) for d in self.store.db.grants.find({"_id": {"$in": ids}})] if ids else []

    @rpc
    def list(self, filters=None, first=50, after=None, count=True):
        """A page of grants in creation order; totalCount only if `count`."""
        filters = load(ListFilter(), filters or {})
        return paging.page(self.store.db.grants, list_query(filters), first, after, grant_view,
                           maximum=self.store.config.get("MAX_PAGE_SIZE", 200), count=count)

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
        """Allocation views for the ids that name one (unknown ids are left out)."""
        ids = paging.clean_ids(allocation_ids)
        docs = self.store.db.allocations.find({"_id": {"$in": ids}}) if ids else []
        return [allocation_view(d) for d in docs]

    @rpc
    def disbursements_by_allocations(self, allocation_ids):
        """{allocation_id: [disbursement views, oldest first]} for every (valid) id asked."""
        return self._grouped("disbursements", "allocation_id", allocation_ids, disbursement_view)

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
        stored = tx.db.members.find_one({"_id": member_id}, session=tx.session)
        if not domain.is_newer(stored, revision):
            log.info("member %s: %s revision %d is not newer than %d; ignored", member_id,
                     envelope["event_type"], revision, stored["revision"])
            return
        now = utcnow()
        tx.db.members.update_one(
            {"_id": member_id},
            {"$set": {"status": status, "revision": revision, "updated_at": now}},
            upsert=True, session=tx.session)
        action = domain.member_effect(status)
        if action is None:
            return
        sources = domain.ALLOCATION_TRANSITIONS[action][0]
        note = f"Member is {status} ({envelope['event_type']}, revision {revision})"
        for allocation in list(tx.db.allocations.find(
                {"member_id": member_id, "status": {"$in": sorted(sources)}}, session=tx.session)):
            self._step(tx, allocation, action, now, note)

    # ---- reactions to consultations --------------------------------------

    @consume("consultations", "round_closed")
    def on_round_closed(self, data, tx, envelope):
        if data["kind"] != domain.GRANT_ALLOCATION or data["outcome"] != domain.ADOPTED:
            return
        allocation = self._subject(data, tx)
        if allocation is None:
            return
        member = tx.db.members.find_one({"_id": allocation["member_id"]}, session=tx.session)
        actions = domain.after_round_closed(allocation["status"], data["outcome"],
                                            member["status"] if member else None)
        if not actions:
            log.warning("outcome of %s not applied: allocation %s is already %s",
                        data["consultation_id"], allocation["_id"], allocation["status"])
            return
        if member is not None:
            # write the member's read-model document too, so that a member event
            # handled at the same time conflicts with this transaction (one is
            # retried) instead of each missing the other's change
            tx.db.members.update_one({"_id": member["_id"]}, {"$inc": {"touches": 1}},
                                     session=tx.session)
        now = utcnow()
        note = f"Consultation {data['consultation_id']} adopted in round {data['round']}"
        for action in actions:
            self._step(tx, allocation, action, now, note)

    @consume("consultations", "consultation_cancelled")
    def on_consultation_cancelled(self, data, tx, envelope):
        if data["kind"] != domain.GRANT_ALLOCATION:
            return
        allocation = self._subject(data, tx)
        if allocation is None:
            return
        actions = domain.after_cancelled(allocation["status"])
        if not actions:
            log.warning("cancellation of %s not applied: allocation %s is already %s",
                        data["consultation_id"], allocation["_id"], allocation["status"])
            return
        now = utcnow()
        note = f"Consultation {data['consultation_id']} cancelled: {data['reason']}"
        for action in actions:
            self._step(tx, allocation, action, now, note)

    def _subject(self, data, tx):
        allocation_id = paging.clean_id(data["subject_id"])
        allocation = (tx.db.allocations.find_one({"_id": allocation_id}, session=tx.session)
                      if allocation_id else None)
        if allocation is None:
            log.warning("%s names unknown allocation %r", data["consultation_id"], data["subject_id"])
        return allocation

    def _step(self, tx, allocation, action, now, note):
        """Move one allocation by `action` in tx; free its reservation if the
        action ends it; emit the event. False if it had moved on already."""
        step = domain.allocation_step(allocation["status"], action)
        if step is None:
            return False
        target, event = step
        result = tx.db.allocations.update_one(
            {"_id": allocation["_id"], "status": allocation["status"]},
            {"$set": {"status": target, "updated_at": now},
             "$push": {"history": {"at": now, "status": target, "note": note}}},
            session=tx.session)
        if result.matched_count == 0:
            return False
        if domain.releases_reservation(action):
            guard, change = release(allocation["grant_id"], allocation["amount_cents"], now)
            if tx.db.grants.update_one(guard, change, session=tx.session).matched_count == 0:
                # would break the books: fail the handler (retried, then dead-lettered)
                raise RuntimeError(f"grant {allocation['grant_id']} does not hold the reservation "
                                   f"of allocation {allocation['_id']}")
        allocation["status"] = target
        tx.emit(event, domain.allocation_changed_data(allocation, target))
        log.info("allocation %s: %s -> %s", allocation["_id"], action, target)
        return True
