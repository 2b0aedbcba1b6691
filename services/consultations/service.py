"""Consultations service: entrypoints only, one use case each. The rules are
in domain.py, the store's layout and queries in dependencies.py.

Invariant: a mutation writes only inside `self.store.transaction(work)` and
answers from what `work` returns (a redelivered call gets that kept result
back: services/common/store.py).
"""
import logging
from datetime import timedelta

from marshmallow import fields

from services.common import paging
from services.common.config import hidden_kinds
from services.common.errors import Conflict, NotFound
from services.common.events import MEMBER_EVENTS
from services.common.handlers import OperatorRpc, consume, consume_all, every, rpc
from services.common.queries import RecordQueries, RecordSource
from services.common import member_data, records
from services.common.records import apply_newer, found
from services.common.remote import BoundedRpcProxy
from services.common.store import MongoStore, utcnow
from services.common.validation import load
from services.common.vocabulary import ConsultationStatus
from services.consultations import casting, dependencies, domain, proxies, proxy_service
from services.consultations.member_data import audit_rows, hidden_rounds, without_hidden_values
from services.consultations.migrations import MIGRATIONS
from services.consultations.proxy_service import ProxyEntrypoints
from services.consultations.schemas import (
    CancelInput, ConsultationInput, ListFilter, NextRoundInput, StanceInput, SuspensionInput,
    consultation_view, stance_view)

log = logging.getLogger(__name__)
event_moment = fields.AwareDateTime().deserialize  # a deadline from an event: may have passed

# rounds past their deadline closed by one tick of the timer (the next tick takes the rest)
DUE_ROUNDS_PER_TICK = 100


def views(db, docs):
    """Views of many consultations, the live tallies of OPEN rounds read in one query."""
    tallies = dependencies.tallies(db, docs)
    return [consultation_view(d, tallies[d["_id"]]) for d in docs]


def change_and_announce(tx, doc, changes, event, event_data):
    """Set `changes` on the consultation read in `tx` as `doc`, if it still has
    that status and round, and announce it as `event` with `event_data(doc)`;
    the changed consultation."""
    if not dependencies.update_unchanged(tx, doc, {"$set": changes}):
        raise Conflict("The consultation changed meanwhile; reload it and try again.")
    doc.update(changes)
    tx.emit(event, event_data(doc))
    return doc


class ConsultationsService(ProxyEntrypoints, RecordQueries, OperatorRpc):
    name = "consultations"
    store = MongoStore(indexes=dependencies.INDEXES, migrations=MIGRATIONS)
    records = RecordSource("consultations", filters=ListFilter, views=views)
    # who may vote is asked of the members service when a round opens, so a
    # round opened after a change returned includes it (docs/consistency.md)
    members = BoundedRpcProxy("members")

    # ---- opening ---------------------------------------------------------

    def _voter_ids(self, event_data=None):
        """Ids of the members that may vote now, from the members service itself
        (not the `voters` read model, which lags); Unavailable if it does not
        answer in time. Called before a store transaction, never inside one:
        also the `prepare` step of the handlers that open a round."""
        return self.members.voter_ids()

    def _open(self, tx, case, voter_ids, closes_at=None, opened_by=None):
        """Open `case`'s first round in `tx`: every voter but the member the
        case is about is eligible; `closes_at` defaults to
        CONSULTATION_DEFAULT_DAYS from now."""
        now = utcnow()
        consultation_id = paging.new_id()
        eligible = domain.snapshot(voter_ids, case.beneficiary_id)
        doc = domain.new_consultation(consultation_id, case, closes_at or self._deadline(now),
                                      now, len(eligible), opened_by)
        dependencies.write_round(tx, consultation_id, 1, eligible, doc["closes_at"])
        tx.db.consultations.insert_one(doc, session=tx.session)
        tx.emit("consultation_opened", domain.consultation_opened_data(doc))
        log.info("consultation %s (%s) opened with %d eligible", doc["_id"], case.kind,
                 len(eligible))
        return doc

    def _hidden(self, case):
        """`case` hidden until close if its kind is in HIDDEN_KINDS (read at call time)."""
        return domain.hidden_by_default(case, hidden_kinds(self.store.config["HIDDEN_KINDS"]))

    def _deadline(self, now):
        """The deadline of a round opened without one (read at call time)."""
        return now + timedelta(days=self.store.config["CONSULTATION_DEFAULT_DAYS"])

    @rpc
    def open_consultation(self, data, opened_by=None):
        data = load(ConsultationInput(), data)
        voter_ids = self._voter_ids()

        def open_general(tx):
            return self._open(tx, domain.general_case(data), voter_ids, data["closes_at"],
                              opened_by)
        return consultation_view(self.store.transaction(open_general))

    @rpc
    def propose_suspension(self, data, opened_by=None):
        data = load(SuspensionInput(), data)
        # the member as the members service has it now, not as the read model
        # last heard (a change that returned is seen: read-your-writes)
        member = found(self.members.get(data["member_id"]), "member", data["member_id"])
        case = self._hidden(domain.suspension_case(member, data["reason"]))
        voter_ids = self._voter_ids()

        def open_suspension(tx):
            if dependencies.suspension_open_about(tx, case.subject_id):
                raise Conflict("A suspension consultation about this member is already OPEN.")
            return self._open(tx, case, voter_ids, data["closes_at"], opened_by)
        return consultation_view(self.store.transaction(open_suspension))

    @consume("members", "membership_applied", prepare=_voter_ids)
    def on_membership_applied(self, data, tx, envelope, voter_ids):
        self._open(tx, domain.admission_case(data), voter_ids)

    @consume("grants", "allocation_proposed", prepare=_voter_ids)
    def on_allocation_proposed(self, data, tx, envelope, voter_ids):
        """Always a consultation (DOMAIN.md section 6): one whose deadline has
        passed by now opens and closes at once, NO_QUORUM, so the allocation
        can go to a next round or be cancelled (which frees its reservation)."""
        closes_at = event_moment(data["closes_at"]) if data["closes_at"] else None
        doc = self._open(tx, self._hidden(domain.allocation_case(data)), voter_ids, closes_at)
        if domain.deadline_passed(doc, doc["round_opened_at"]):
            self._close_round(tx, doc, late=True)

    # ---- the read model of voters ------------------------------------------

    @consume_all("members", MEMBER_EVENTS)
    def on_member_event(self, data, tx, envelope):
        """Newest revision wins, so events may arrive in any order."""
        apply_newer(tx, "voters", data["member_id"], data["revision"],
                    {"name": data["name"], "status": data["status"], "can_vote": data["can_vote"]})

    @rpc
    def voter(self, member_id):
        """The read model's view of a member (operators, tests)."""
        doc = self.store.db.voters.find_one({"_id": paging.clean_id(member_id)})
        return doc and {k: v for k, v in doc.items() if k != "_id"} | {"member_id": doc["_id"]}

    @rpc
    def member_data(self, member_id):
        """{collection: [documents]} of everything this service holds about the
        member (member_data.MEMBER_DATA); read-only. The values of its stances
        in an open round whose results are hidden are left out (null)."""
        exported = member_data.export(self.store.db, dependencies.MEMBER_DATA, member_id)
        return without_hidden_values(exported, hidden_rounds(self.store.db, exported))

    # ---- stances -----------------------------------------------------------

    @rpc
    def cast_stance(self, actor, consultation_id, value, reason=None, on_behalf_of=None):
        """The member's own stance, or with `on_behalf_of` the granter's, cast
        by its holder with an accepted proxy (DOMAIN.md section 9)."""
        caster = domain.voting_member(actor)
        member_id = caster if on_behalf_of is None else paging.clean_id(on_behalf_of)
        if member_id is None:  # never taken for the caster's own stance
            raise proxies.no_accepted_proxy()
        stance = load(StanceInput(), {"value": value, "reason": reason})
        return stance_view(casting.cast(self.store, consultation_id, caster, member_id, stance,
                                        utcnow))

    @rpc
    def stances_many(self, consultation_ids, member_id=None):
        """{consultation id: [stances of its current round]} in two queries;
        of a round whose results are hidden, only `member_id`'s own."""
        docs = dependencies.consultations_by(self.store.db, "_id", consultation_ids,
                                             {"round": 1, "status": 1, "results_visibility": 1})
        rounds = {d["_id"]: d["round"] for d in docs}
        hidden = {d["_id"] for d in docs if domain.results_hidden(d)}
        result = {cid: [] for cid in rounds}
        for s in dependencies.of_rounds(self.store.db.stances, rounds, sort="cast_at",
                                        projection=dependencies.CURRENT):
            if s["consultation_id"] not in hidden or s["member_id"] == member_id:
                result[s["consultation_id"]].append(stance_view(s))
        return result

    @rpc
    def responded_many(self, consultation_ids):
        """{consultation id: ids of the members that responded in its current
        round}: who, never what (Consultation.awaiting)."""
        rounds = dependencies.current_rounds(self.store.db, consultation_ids)
        result = {cid: [] for cid in rounds}
        for s in dependencies.of_rounds(self.store.db.stances, rounds,
                                        projection={"round": 1, "consultation_id": 1,
                                                    "member_id": 1}):
            result[s["consultation_id"]].append(s["member_id"])
        return result

    @rpc
    def my_stances(self, consultation_ids, member_id):
        """{consultation id: the member's stance in the current round, or None}."""
        rounds = dependencies.current_rounds(self.store.db, consultation_ids)
        member_id = paging.clean_id(member_id)
        wanted = ([dependencies.round_key(c, r, member_id) for c, r in rounds.items()]
                  if member_id else [])
        mine = {s["consultation_id"]: stance_view(s)
                for s in self.store.db.stances.find({"_id": {"$in": wanted}},
                                                    dependencies.CURRENT)}
        return {cid: mine.get(cid) for cid in rounds}

    @rpc
    def stance_audit(self, consultation_id):
        """Every cast ever made in the consultation; Conflict while its round's
        results are hidden (the export waits for the close)."""
        doc = found(self.store.db.consultations.find_one(
            {"_id": paging.clean_id(consultation_id)}), "consultation", consultation_id)
        if domain.results_hidden(doc):
            raise Conflict("This round's results are hidden until it closes; export it then.")
        # the rounds as checked: not a next (hidden) round opened since the check
        rows = sorted((row for s in self.store.db.stances.find(
            {"consultation_id": doc["_id"], "round": {"$lte": doc["round"]}})
            for row in audit_rows(s)), key=lambda row: (row["at"], row["round"], row["member_id"]))
        return [{**stance_view(d), "at": d["at"].isoformat(), "replaces": d["replaces"]}
                for d in rows]

    # ---- closing, next round, cancel -----------------------------------------

    def _close(self, consultation_id, expected_round=None):
        """Close the consultation's OPEN round (`expected_round`, if given) in a
        transaction of its own; the closed consultation."""
        def close(tx):
            doc = records.load(tx, "consultations", "consultation", consultation_id)
            domain.check_can_close(doc)
            if expected_round is not None and doc["round"] != expected_round:
                raise Conflict("The round was already closed.")
            return self._close_round(tx, doc)
        return self.store.transaction(close)

    def _close_round(self, tx, doc, late=False):
        """Close the OPEN round of `doc` in `tx` and announce its outcome.
        `late`: the round's deadline had passed before it opened (domain.closed_round).
        The counters are marked closed in `tx`, so no stance counts after it."""
        tally = dependencies.close_counters(tx, doc)
        proxy_service.expire(tx, doc)
        closed = domain.closed_round(doc, tally, utcnow(), late)
        changes = domain.closing(closed, tally)
        if not dependencies.update_unchanged(tx, doc, {"$set": changes,
                                                       "$push": {"rounds": closed}}):
            raise Conflict("The round was already closed.")
        doc.update(changes, rounds=doc["rounds"] + [closed])
        tx.emit("round_closed", domain.round_closed_data(doc))
        log.info("consultation %s round %d closed: %s", doc["_id"], doc["round"], doc["outcome"])
        return doc

    @rpc
    def close_consultation(self, consultation_id):
        return consultation_view(self._close(consultation_id))

    @every("DEADLINE_CHECK_SECONDS")
    def close_due_rounds(self):
        """Close every round past its deadline. With several instances each
        round still closes once: the close is conditional on status OPEN and
        the round number, inside a transaction."""
        due = list(self.store.db.consultations.find(
            {"status": ConsultationStatus.OPEN, "closes_at": {"$lte": utcnow()}},
            {"round": 1}).limit(DUE_ROUNDS_PER_TICK))
        for doc in due:
            try:
                self._close(doc["_id"], expected_round=doc["round"])
            except (Conflict, NotFound) as refusal:
                log.info("consultation %s round %d was not closed by this instance (another "
                         "closed it first, or it went away): %s", doc["_id"], doc["round"], refusal)

    @rpc
    def start_next_round(self, consultation_id, data):
        data = load(NextRoundInput(), data)
        voter_ids = self._voter_ids()

        def open_next_round(tx):
            now = utcnow()
            doc = records.load(tx, "consultations", "consultation", consultation_id)
            domain.check_can_start_next_round(doc)
            eligible = domain.snapshot(voter_ids, doc.get("beneficiary_id"))
            changes = domain.next_round(doc, data["proposal"], data["closes_at"], now,
                                        len(eligible))
            dependencies.write_round(tx, doc["_id"], changes["round"], eligible,
                                     changes["closes_at"])
            return change_and_announce(tx, doc, changes, "consultation_opened",
                                       domain.consultation_opened_data)
        return consultation_view(self.store.transaction(open_next_round))

    @rpc
    def cancel_consultation(self, consultation_id, reason):
        data = load(CancelInput(), {"reason": reason})

        def cancel(tx):
            doc = records.load(tx, "consultations", "consultation", consultation_id)
            domain.check_can_cancel(doc)
            return change_and_announce(tx, doc, domain.cancelling(data["reason"]),
                                       "consultation_cancelled", domain.consultation_cancelled_data)
        return consultation_view(self.store.transaction(cancel))

    # ---- queries beyond get / get_many / list (RecordQueries) -----------------

    @rpc
    def get_by_subjects(self, subject_ids):
        """{subject id: its newest consultation} for allocation or member ids."""
        newest = {}
        for d in sorted(dependencies.consultations_by(self.store.db, "subject_id", subject_ids),
                        key=lambda d: d["_id"]):
            newest[d["subject_id"]] = d
        return {v["subject_id"]: v for v in views(self.store.db, list(newest.values()))}

    @rpc
    def eligible_of_round(self, consultation_id, round_number):
        """Ids of the members in the snapshot of that round (any round, closed
        ones too), sorted; [] for a consultation or round that does not exist.
        Notifications reads a round's recipients here, so a round's mails go
        to exactly the members who may respond in it."""
        consultation_id = paging.clean_id(consultation_id)
        if consultation_id is None or isinstance(round_number, bool) \
                or not isinstance(round_number, int):
            return []
        return dependencies.eligible_of(self.store.db, consultation_id, round_number)

    @rpc
    def eligible_many(self, consultation_ids):
        """{consultation id: ids of the current round's eligible members}."""
        return dependencies.eligible_many(
            self.store.db, dependencies.consultations_by(self.store.db, "_id", consultation_ids))
