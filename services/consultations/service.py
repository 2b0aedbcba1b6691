"""Consultations service: entrypoints only. Rules live in domain.py."""
import logging
from datetime import timedelta

from marshmallow import fields
from pymongo.errors import DuplicateKeyError

from services.common import paging
from services.common.errors import Conflict, Forbidden, NotFound
from services.common.handlers import OperatorRpc, consume, consume_all, every, rpc
from services.common.events import MEMBER_EVENTS
from services.common.remote import BoundedRpcProxy
from services.common.store import utcnow
from services.common.validation import load
from services.consultations import domain
from services.consultations import dependencies as layout
from services.consultations.dependencies import consultations_store, stance_id
from services.consultations.schemas import (
    CancelInput, ConsultationInput, ConsultationView, ListFilter, NextRoundInput, StanceInput,
    StanceView, SuspensionInput)

log = logging.getLogger(__name__)
stance_view = StanceView().dump
event_moment = fields.AwareDateTime().deserialize  # a deadline from an event: may have passed


def view(doc, tally=None):
    """The public view; `tally` is the live one of an OPEN round (see views)."""
    tally = tally or domain.Tally.from_doc(doc["tally"])
    return ConsultationView().dump({
        **doc,
        "tally": {**tally.as_doc(), "quorum_reached": domain.quorum_reached(tally, doc["quorum"])},
    })


def views(db, docs):
    """Views of many documents, their live tallies read in one query."""
    tallies = layout.tallies(db, docs)
    return [view(d, tallies[d["_id"]]) for d in docs]


def load_consultation(tx, consultation_id):
    """The consultation or NotFound."""
    doc = tx.db.consultations.find_one({"_id": consultation_id},
                                       session=tx.session) if consultation_id else None
    if doc is None:
        raise NotFound(f"No consultation with id {consultation_id!r}.")
    return doc


def _member_case(kind, member_id):
    return {"kind": kind, "subject_id": member_id, "beneficiary_id": member_id}


def _voters(service, data=None):
    """The `prepare` step of the handlers that open a round (outside their transaction)."""
    return service._voter_ids()


class ConsultationsService(OperatorRpc):
    name = "consultations"
    store = consultations_store()
    # who may vote is asked of the members service when a round opens, so a
    # round opened after a change returned includes it (docs/consistency.md)
    members = BoundedRpcProxy("members")

    # ---- opening ---------------------------------------------------------

    def _voter_ids(self):
        """Ids of the members that may vote now, from the members service itself
        (not the `voters` read model, which lags); Unavailable if it does not
        answer in time. Called before a store transaction, never inside one."""
        return self.members.voter_ids()

    def _open(self, tx, *, voter_ids, kind, title, proposal, closes_at, subject_id=None,
              beneficiary_id=None, rule="CONSENSUS", quorum=0.5, threshold=None, opened_by=None):
        now = utcnow()
        doc = {
            "_id": paging.new_id(), "kind": kind, "title": title, "proposal": proposal,
            "subject_id": subject_id, "beneficiary_id": beneficiary_id, "status": domain.OPEN,
            "round": 1, "rule": rule or "CONSENSUS", "quorum": 0.5 if quorum is None else quorum,
            "threshold": threshold, "opened_at": now, "round_opened_at": now,
            "closes_at": closes_at, "closed_at": None, "outcome": None, "rounds": [],
            "opened_by": opened_by, "cancel_reason": None,
        }
        eligible = layout.open_round(tx, doc["_id"], 1,
                                     domain.snapshot(voter_ids, beneficiary_id))
        doc["tally"] = domain.Tally(eligible=eligible).as_doc()
        tx.db.consultations.insert_one(doc, session=tx.session)
        tx.emit("consultation_opened", {
            "consultation_id": doc["_id"], "kind": kind, "subject_id": subject_id, "round": 1,
            "eligible": eligible, "closes_at": closes_at.isoformat()})
        log.info("consultation %s (%s) opened with %d eligible", doc["_id"], kind, eligible)
        return doc

    def _default_deadline(self):
        return utcnow() + timedelta(days=self.store.config["CONSULTATION_DEFAULT_DAYS"])

    @rpc
    def open_consultation(self, data, opened_by=None):
        data = load(ConsultationInput(), data)
        voter_ids = self._voter_ids()
        doc = self.store.transaction(lambda tx: self._open(
            tx, voter_ids=voter_ids, kind="GENERAL", opened_by=opened_by, **data))
        return view(doc)

    @rpc
    def propose_suspension(self, data, opened_by=None):
        data = load(SuspensionInput(), data)
        # the member as the members service has it now, not as the read model
        # last heard (a change that returned is seen: read-your-writes)
        member = self.members.get(data["member_id"])
        if member is None:
            raise NotFound(f"No member with id {data['member_id']!r}.")
        if member["status"] != "ACTIVE":
            raise Conflict(f"This member is {member['status']}; only an ACTIVE member can be "
                           "proposed for suspension.")
        voter_ids = self._voter_ids()

        def work(tx):
            if tx.db.consultations.find_one({"kind": "MEMBER_SUSPENSION", "status": domain.OPEN,
                                             "subject_id": data["member_id"]},
                                            {"_id": 1}, session=tx.session):
                raise Conflict("A suspension consultation about this member is already OPEN.")
            return self._open(
                tx, voter_ids=voter_ids, **_member_case("MEMBER_SUSPENSION", data["member_id"]),
                title=f"Suspension of {member['name']}",
                proposal=f"Suspend {member['name']} from the coalition. Reason: {data['reason']}",
                closes_at=data["closes_at"] or self._default_deadline(), opened_by=opened_by)
        return view(self.store.transaction(work))

    @consume("members", "membership_applied", prepare=_voters)
    def on_membership_applied(self, data, tx, envelope, voter_ids):
        self._open(tx, voter_ids=voter_ids,
                   **_member_case("MEMBERSHIP_ADMISSION", data["member_id"]),
                   title=f"Admission of {data['name']}",
                   proposal=f"Admit {data['name']} as a member of the coalition.",
                   closes_at=self._default_deadline())

    @consume("grants", "allocation_proposed", prepare=_voters)
    def on_allocation_proposed(self, data, tx, envelope, voter_ids):
        """Always a consultation (DOMAIN.md section 6): one whose deadline has
        passed by now opens and closes at once, NO_QUORUM, so the allocation
        can go to a next round or be cancelled (which frees its reservation)."""
        closes_at = (event_moment(data["closes_at"]) if data["closes_at"]
                     else self._default_deadline())
        doc = self._open(
            tx, voter_ids=voter_ids, kind="GRANT_ALLOCATION", subject_id=data["allocation_id"],
            beneficiary_id=data["member_id"],
            title=f"Allocation of {data['amount']} {data['currency']} from {data['grant_title']}",
            proposal=data["purpose"], closes_at=closes_at)
        if domain.deadline_passed(doc, doc["round_opened_at"]):
            self._close_round(tx, doc, late=True)

    # ---- the read model of voters ------------------------------------------

    @consume_all("members", MEMBER_EVENTS)
    def on_member_event(self, data, tx, envelope):
        """Newest revision wins, so events may arrive in any order."""
        tx.db.voters.update_one(
            {"_id": data["member_id"], "revision": {"$lt": data["revision"]}},
            {"$set": {"name": data["name"], "status": data["status"],
                      "can_vote": data["can_vote"], "revision": data["revision"]}},
            session=tx.session)
        if not tx.db.voters.find_one({"_id": data["member_id"]}, {"_id": 1}, session=tx.session):
            tx.db.voters.insert_one({"_id": data["member_id"], "name": data["name"],
                                     "status": data["status"], "can_vote": data["can_vote"],
                                     "revision": data["revision"]}, session=tx.session)

    # ---- stances -----------------------------------------------------------

    @rpc
    def cast_stance(self, actor, consultation_id, value, reason=None):
        if not isinstance(actor, dict) or actor.get("role") != "MEMBER" or not actor.get("member_id"):
            raise Forbidden("Only a member organisation, with its own token, can cast a stance.")
        member_id = actor["member_id"]
        stance = load(StanceInput(), {"value": value, "reason": reason})
        consultation_id = paging.clean_id(consultation_id)

        def work(tx):
            now = utcnow()
            doc = load_consultation(tx, consultation_id)
            domain.check_can_cast(doc, now)
            if not layout.is_eligible(tx, consultation_id, doc["round"], member_id):
                raise Forbidden("Your organisation is not among the eligible members of this "
                                "round (members join from the next round; no one decides their "
                                "own case).")
            sid = stance_id(consultation_id, doc["round"], member_id)
            previous = tx.db.stances.find_one({"_id": sid}, session=tx.session)
            record = {"_id": sid, "consultation_id": consultation_id, "round": doc["round"],
                      "member_id": member_id, "value": stance["value"],
                      "reason": stance["reason"], "cast_at": now}
            # the counters first: a collision with a close is found before other work
            inc = domain.apply_stance(previous and previous["value"], stance["value"])
            if not layout.count_stance(tx, consultation_id, doc["round"], member_id, inc):
                raise Conflict("This round closed while your stance was being recorded.")
            if previous is None:
                tx.db.stances.insert_one(record, session=tx.session)
            else:
                tx.db.stances.replace_one({"_id": sid}, record, session=tx.session)
            tx.db.stance_audit.insert_one({**record, "_id": paging.new_id(), "at": now,
                                           "replaces": previous and previous["value"]},
                                          session=tx.session)
            tx.emit("stance_cast", {"consultation_id": consultation_id, "round": doc["round"],
                                    "member_id": member_id, "value": stance["value"],
                                    "replaced": previous is not None})
            return record

        for attempt in range(5):
            try:
                return stance_view(self.store.transaction(work))
            except DuplicateKeyError:  # the same member cast twice at once: apply as a replace
                if attempt == 4:
                    raise Conflict("Your stance could not be recorded; please try again.")

    @rpc
    def stances_many(self, consultation_ids):
        """{consultation id: [stances of its current round]} in two queries."""
        ids = paging.clean_ids(consultation_ids)
        rounds = {d["_id"]: d["round"] for d in
                  self.store.db.consultations.find({"_id": {"$in": ids}}, {"round": 1})}
        result = {cid: [] for cid in rounds}
        if rounds:  # `$in` and the round checked here: the store scans for an `$or`
            for s in self.store.db.stances.find(
                    {"consultation_id": {"$in": list(rounds)}}).sort("cast_at", 1):
                if s["round"] == rounds[s["consultation_id"]]:
                    result[s["consultation_id"]].append(stance_view(s))
        return result

    @rpc
    def my_stances(self, consultation_ids, member_id):
        """{consultation id: the member's stance in the current round, or None}."""
        ids = paging.clean_ids(consultation_ids)
        member_id = paging.clean_id(member_id)
        rounds = {d["_id"]: d["round"] for d in
                  self.store.db.consultations.find({"_id": {"$in": ids}}, {"round": 1})}
        wanted = [stance_id(c, r, member_id) for c, r in rounds.items()] if member_id else []
        found = {s["consultation_id"]: stance_view(s)
                 for s in self.store.db.stances.find({"_id": {"$in": wanted}})}
        return {cid: found.get(cid) for cid in rounds}

    @rpc
    def stance_audit(self, consultation_id):
        return [{**stance_view(d), "at": d["at"].isoformat(), "replaces": d.get("replaces")}
                for d in self.store.db.stance_audit.find(
                    {"consultation_id": paging.clean_id(consultation_id)}).sort("at", 1)]

    # ---- closing, next round, cancel -----------------------------------------

    def _close(self, consultation_id, expected_round=None):
        def work(tx):
            doc = load_consultation(tx, consultation_id)
            domain.check_can_close(doc)
            if expected_round is not None and doc["round"] != expected_round:
                raise Conflict("The round was already closed.")
            return self._close_round(tx, doc)
        return self.store.transaction(work)

    def _close_round(self, tx, doc, late=False):
        """Close the OPEN round of `doc` in `tx` and announce its outcome.
        `late`: the round's deadline had passed before it opened, so no one
        could respond (domain.late_outcome)."""
        consultation_id = doc["_id"]
        now = utcnow()
        tally = layout.close_counters(tx, doc)
        if late:
            result, explanation = domain.late_outcome()
        else:
            result = domain.outcome(tally, doc["rule"], doc["quorum"], doc["threshold"])
            explanation = domain.explain(tally, doc["rule"], doc["quorum"], doc["threshold"])
        closed_round = {
            "number": doc["round"], "proposal": doc["proposal"], "outcome": result,
            "tally": {**tally.as_doc(),
                      "quorum_reached": domain.quorum_reached(tally, doc["quorum"])},
            "opened_at": doc["round_opened_at"], "closed_at": now,
            "explanation": explanation,
        }
        changed = tx.db.consultations.update_one(
            {"_id": consultation_id, "status": domain.OPEN, "round": doc["round"]},
            {"$set": {"status": domain.CLOSED, "outcome": result, "closed_at": now,
                      "tally": tally.as_doc()},
             "$push": {"rounds": closed_round}}, session=tx.session)
        if changed.modified_count != 1:
            raise Conflict("The round was already closed.")
        tx.emit("round_closed", {
            "consultation_id": consultation_id, "kind": doc["kind"],
            "subject_id": doc["subject_id"], "round": doc["round"], "outcome": result,
            "tally": tally.as_doc()})
        doc.update(status=domain.CLOSED, outcome=result, closed_at=now, tally=tally.as_doc(),
                   rounds=doc["rounds"] + [closed_round])
        log.info("consultation %s round %d closed: %s", consultation_id, doc["round"], result)
        return doc

    @rpc
    def close_consultation(self, consultation_id):
        consultation_id = paging.clean_id(consultation_id)
        if consultation_id is None:
            raise NotFound("No consultation with that id.")
        return view(self._close(consultation_id))

    @every("DEADLINE_CHECK_SECONDS")
    def close_due_rounds(self):
        """Close every round past its deadline. With several instances each
        round still closes once: the close is conditional on status OPEN and
        the round number, inside a transaction."""
        due = list(self.store.db.consultations.find(
            {"status": domain.OPEN, "closes_at": {"$lte": utcnow()}}, {"round": 1}).limit(100))
        for doc in due:
            try:
                self._close(doc["_id"], expected_round=doc["round"])
            except (Conflict, NotFound):
                pass  # another instance closed it first

    @rpc
    def start_next_round(self, consultation_id, data):
        consultation_id = paging.clean_id(consultation_id)
        data = load(NextRoundInput(), data)
        voter_ids = self._voter_ids()

        def work(tx):
            doc = load_consultation(tx, consultation_id)
            domain.check_can_start_next_round(doc)
            eligible = layout.open_round(tx, consultation_id, doc["round"] + 1,
                                         domain.snapshot(voter_ids, doc.get("beneficiary_id")))
            now = utcnow()
            changes = {"status": domain.OPEN, "round": doc["round"] + 1,
                       "proposal": data["proposal"], "closes_at": data["closes_at"],
                       "round_opened_at": now, "closed_at": None,
                       "tally": domain.Tally(eligible=eligible).as_doc()}
            changed = tx.db.consultations.update_one(
                {"_id": consultation_id, "status": domain.CLOSED, "round": doc["round"]},
                {"$set": changes}, session=tx.session)
            if changed.modified_count != 1:
                raise Conflict("The consultation changed meanwhile; reload it and try again.")
            doc.update(changes)
            tx.emit("consultation_opened", {
                "consultation_id": consultation_id, "kind": doc["kind"],
                "subject_id": doc["subject_id"], "round": doc["round"], "eligible": eligible,
                "closes_at": data["closes_at"].isoformat()})
            return doc
        return view(self.store.transaction(work))

    @rpc
    def cancel_consultation(self, consultation_id, reason):
        consultation_id = paging.clean_id(consultation_id)
        data = load(CancelInput(), {"reason": reason})

        def work(tx):
            doc = load_consultation(tx, consultation_id)
            domain.check_can_cancel(doc)
            changed = tx.db.consultations.update_one(
                {"_id": consultation_id, "status": domain.CLOSED, "round": doc["round"]},
                {"$set": {"status": domain.CANCELLED, "cancel_reason": data["reason"]}},
                session=tx.session)
            if changed.modified_count != 1:
                raise Conflict("The consultation changed meanwhile; reload it and try again.")
            doc.update(status=domain.CANCELLED, cancel_reason=data["reason"])
            tx.emit("consultation_cancelled", {
                "consultation_id": consultation_id, "kind": doc["kind"],
                "subject_id": doc["subject_id"], "reason": data["reason"]})
            return doc
        return view(self.store.transaction(work))

    # ---- queries -------------------------------------------------------------

    def _find(self, field, values):
        ids = paging.clean_ids(values)
        return list(self.store.db.consultations.find({field: {"$in": ids}})) if ids else []

    @rpc
    def get(self, consultation_id):
        found = views(self.store.db, self._find("_id", [consultation_id]))
        return found[0] if found else None

    @rpc
    def get_many(self, consultation_ids):
        return views(self.store.db, self._find("_id", consultation_ids))

    @rpc
    def get_by_subjects(self, subject_ids):
        """{subject id: its newest consultation} for allocation or member ids."""
        newest = {}
        for d in sorted(self._find("subject_id", subject_ids), key=lambda d: d["_id"]):
            newest[d["subject_id"]] = d
        return {v["subject_id"]: v for v in views(self.store.db, list(newest.values()))}

    @rpc
    def eligible_many(self, consultation_ids):
        """{consultation id: ids of the current round's eligible members}."""
        return layout.eligible_many(self.store.db, self._find("_id", consultation_ids))

    @rpc
    def list(self, filters=None, first=50, after=None, count=True):
        filters = load(ListFilter(), filters or {})
        query = {k: v for k, v in filters.items() if v}
        result = paging.page(self.store.db.consultations, query, first, after, lambda d: d,
                             maximum=self.store.config.get("MAX_PAGE_SIZE", 200), count=count)
        for edge, node in zip(result["edges"], views(self.store.db,
                                                     [e["node"] for e in result["edges"]])):
            edge["node"] = node
        return result

    @rpc
    def voter(self, member_id):
        """The read model's view of a member (operators, tests)."""
        doc = self.store.db.voters.find_one({"_id": paging.clean_id(member_id)})
        return doc and {k: v for k, v in doc.items() if k != "_id"} | {"member_id": doc["_id"]}
