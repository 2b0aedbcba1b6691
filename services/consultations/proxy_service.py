"""The proxy entrypoints of the consultations service (DOMAIN.md section 9),
a part of ConsultationsService (service.py) kept in a file of its own: offer,
accept, decline, revoke, and what the cast needs to use a proxy or to end
the granter's ones. The rules are in proxies.py, the store's reads and
guarded writes in dependencies.py.

Invariant: each change of a proxy is one transaction that changes it only
from the status it was read with, keeps the change in `proxy_audit` with
its actor, and emits its event; the per-round limits are documents
(`proxy_slots`) the competing changes all write, so the store serialises
them (a write conflict, retried) and each sees the other's result.
"""
import logging

from pymongo.errors import DuplicateKeyError

from services.common import paging, records
from services.common.errors import Conflict
from services.common.handlers import rpc
from services.common.store import utcnow
from services.common.vocabulary import ProxyStatus
from services.consultations import dependencies, domain, proxies
from services.consultations.schemas import proxy_audit_view, proxy_view

log = logging.getLogger(__name__)

# a change that collides with its twin on a unique key is run again this many times
ATTEMPTS = 5
SYSTEM = "system"  # the actor of what no member did: a proxy EXPIRED with its round


def until_recorded(store, work, message):
    """Run `work` in a transaction; one that collides on a unique key with a
    concurrent twin (two casts of one stance, two offers of one granter) runs
    again and then sees what the twin wrote."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return store.transaction(work)
        except DuplicateKeyError:
            if attempt == ATTEMPTS:
                raise Conflict(message)


def change(tx, proxy, status, actor, title):
    """Move `proxy` to `status` (if it still has the status it was read with;
    Conflict if not), keep it in the audit trail and announce it."""
    now = utcnow()
    entry = proxies.audit_entry(paging.new_id(), proxy, status, actor, now)
    if not dependencies.set_proxy_status(tx, proxy, proxies.changing(status, now), entry):
        raise Conflict("This proxy changed meanwhile; reload the page and try again.")
    if status in proxies.EVENT_OF:
        tx.emit(proxies.EVENT_OF[status], proxies.changed_data(proxy, status, actor, title))
    log.info("proxy %s of consultation %s round %d: %s -> %s", proxy["_id"],
             proxy["consultation_id"], proxy["round"], proxy["status"], status)
    return {**proxy, "status": status, "changed_at": now}


def end(tx, proxy, status, actor, title):
    """End a proxy (declined, revoked): its granter may offer again, and its
    holder holds one fewer if it held it."""
    ended = change(tx, proxy, status, actor, title)
    dependencies.free_granter_slot(tx, proxy)
    if proxies.frees_a_slot(proxy["status"]):
        dependencies.count_held(tx, proxy, -1)
    return ended


def use(tx, doc, holder_id, granter_id):
    """The holder's accepted proxy from the granter, marked USED in `tx`
    (Forbidden without one, Conflict if used)."""
    proxy = dependencies.held_proxy(tx, doc["_id"], doc["round"], granter_id, holder_id)
    proxies.proxy_to_use(proxy)
    return change(tx, proxy, ProxyStatus.USED, holder_id, doc["title"])


def end_by_own_cast(tx, doc, granter_id):
    """The granter cast its own stance: each of its proxies in the round that
    is not over yet is REVOKED (a used one's stance was just replaced)."""
    for proxy in proxies.ended_by_own_cast(
            dependencies.proxies_of_granter(tx, doc["_id"], doc["round"], granter_id)):
        end(tx, proxy, ProxyStatus.REVOKED, granter_id, doc["title"])


def expire(tx, doc):
    """The round closes: its proxies still OFFERED or ACCEPTED are EXPIRED."""
    for proxy in dependencies.live_proxies_of_round(tx, doc):
        change(tx, proxy, ProxyStatus.EXPIRED, SYSTEM, doc["title"])


class ProxyEntrypoints:
    """Mixed into ConsultationsService: `self.store` is its store."""

    def _open_round(self, tx, consultation_id):
        """The consultation, Conflict unless its current round takes changes now."""
        doc = records.load(tx, "consultations", "consultation", consultation_id)
        if not domain.round_open(doc, utcnow()):
            raise Conflict(f"This consultation is {domain.closed_word(doc, utcnow())}; proxies "
                           "end with their round.")
        return doc

    @rpc
    def grant_proxy(self, actor, consultation_id, holder_id):
        granter_id = proxies.acting_member(actor)
        holder_id = paging.clean_id(holder_id) or ""

        def grant(tx):
            doc = self._open_round(tx, consultation_id)
            inside = dependencies.eligible_among(tx, doc["_id"], doc["round"],
                                                 [granter_id, holder_id])
            proxies.check_parties(granter_id, holder_id, doc.get("beneficiary_id"),
                                  granter_id in inside, holder_id in inside)
            if not dependencies.touch_shard(tx, doc["_id"], doc["round"], granter_id):
                raise Conflict("This round closed while your proxy was being offered.")
            responded = dependencies.current_stance(
                tx, dependencies.round_key(doc["_id"], doc["round"], granter_id)) is not None
            proxies.check_can_offer(
                dependencies.live_proxy_of(tx, doc["_id"], doc["round"], granter_id), responded)
            proxy = proxies.new_proxy(paging.new_id(), doc, granter_id, holder_id, utcnow())
            dependencies.take_granter_slot(tx, proxy)
            tx.db.proxies.insert_one(proxy, session=tx.session)
            tx.db.proxy_audit.insert_one(proxies.audit_entry(
                paging.new_id(), proxy, ProxyStatus.OFFERED, granter_id, proxy["offered_at"]),
                session=tx.session)
            tx.emit("proxy_offered", proxies.changed_data(proxy, ProxyStatus.OFFERED,
                                                          granter_id, doc["title"]))
            return proxy
        return proxy_view(until_recorded(self.store, grant, "Your proxy could not be offered; "
                                                            "please try again."))

    def _act(self, actor, proxy_id, act):
        """Run `act(tx, member_id, proxy, consultation)` on a proxy in a
        transaction; its view."""
        member_id = proxies.acting_member(actor)

        def work(tx):
            proxy = records.load(tx, "proxies", "proxy", proxy_id)
            doc = records.load(tx, "consultations", "consultation", proxy["consultation_id"])
            return act(tx, member_id, proxy, doc)
        return proxy_view(until_recorded(self.store, work, "The proxy could not be changed; "
                                                           "please try again."))

    @rpc
    def accept_proxy(self, actor, proxy_id):
        limit = self.store.config["MAX_PROXIES_PER_HOLDER"]

        def accept(tx, member_id, proxy, doc):
            proxies.check_is_holder(proxy, member_id)
            proxies.check_offered(proxy)
            proxies.check_of_current_round(proxy, doc, domain.round_open(doc, utcnow()))
            proxies.check_holder_room(dependencies.count_held(tx, proxy, 1), limit)
            return change(tx, proxy, ProxyStatus.ACCEPTED, member_id, doc["title"])
        return self._act(actor, proxy_id, accept)

    def _end(self, actor, proxy_id, status, checks):
        """End the proxy as `status` once each of `checks(proxy, member_id)` passed."""
        def ending(tx, member_id, proxy, doc):
            for check in checks:
                check(proxy, member_id)
            return end(tx, proxy, status, member_id, doc["title"])
        return self._act(actor, proxy_id, ending)

    @rpc
    def decline_proxy(self, actor, proxy_id):
        return self._end(actor, proxy_id, ProxyStatus.DECLINED,
                         (proxies.check_is_holder, lambda proxy, _: proxies.check_offered(proxy)))

    @rpc
    def revoke_proxy(self, actor, proxy_id):
        return self._end(actor, proxy_id, ProxyStatus.REVOKED,
                         (proxies.check_is_granter,
                          lambda proxy, _: proxies.check_revocable(proxy)))

    @rpc
    def proxies_many(self, consultation_ids, member_id=None, everyone=False):
        """{consultation id: its current round's proxies}: all of them if
        `everyone` (the secretariat), else those `member_id` gives or holds."""
        rounds = dependencies.current_rounds(self.store.db, consultation_ids)
        member_id = paging.clean_id(member_id)
        result = {cid: [] for cid in rounds}
        for p in dependencies.of_rounds(self.store.db.proxies, rounds, sort="offered_at"):
            if everyone or member_id in (p["granter_id"], p["holder_id"]):
                result[p["consultation_id"]].append(proxy_view(p))
        return result

    @rpc
    def live_proxies_of(self, member_id):
        """The proxies `member_id` gives or holds that still wait for an answer
        or a use (OFFERED, ACCEPTED), in any open round, oldest first: the
        member's home page answers offers from here."""
        member_id = paging.clean_id(member_id)
        return ([proxy_view(p) for p in dependencies.live_proxies_of_member(self.store.db,
                                                                            member_id)]
                if member_id else [])

    @rpc
    def proxy_audit(self, consultation_id):
        """Every change of every proxy of the consultation, oldest first."""
        return [proxy_audit_view(d) for d in self.store.db.proxy_audit.find(
            {"consultation_id": paging.clean_id(consultation_id)}).sort("at", 1)]
