"""Proxy rules (DOMAIN.md section 9) as pure functions: who may offer,
accept, decline, revoke and use a proxy, and what each change writes. No
I/O here: the service (proxy_service.py) loads what these take, calls them,
saves and emits.

A proxy belongs to one round of one consultation. Its life:

    OFFERED --accept--> ACCEPTED --holder casts--> USED
       |                   |                        |
       +--decline--> DECLINED                       |
       +--revoke---> REVOKED <--------revoke--------+ (the granter's own cast only)
       +--round closes--> EXPIRED (from OFFERED or ACCEPTED)

Invariants:
- granter and holder are two different members of the round's snapshot,
  and neither is the member the consultation is about (no one decides their
  own case, by proxy either);
- a granter has at most one live proxy (OFFERED or ACCEPTED) per round, and
  offers none once it has responded (its own stance would be replaced by the
  holder's, and its own cast always wins);
- a holder holds at most MAX_PROXIES_PER_HOLDER proxies (ACCEPTED or USED)
  per round;
- a proxy is used once; the stance it casts is the granter's (counted once,
  `cast_by` the holder); the granter may revoke it until it is used, and the
  granter's own cast ends it whatever its state (REVOKED), replacing the
  holder's stance if it was used.
"""
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from services.common.errors import BadUserInput, Conflict, Forbidden
from services.common.vocabulary import HELD_PROXY, LIVE_PROXY, ProxyStatus
from services.consultations.domain import voting_member

Doc = dict[str, Any]

# each change of a proxy and the event that announces it (services/common/events.py)
EVENT_OF: Final = {ProxyStatus.OFFERED: "proxy_offered", ProxyStatus.ACCEPTED: "proxy_accepted",
                   ProxyStatus.DECLINED: "proxy_declined", ProxyStatus.REVOKED: "proxy_revoked",
                   ProxyStatus.USED: "proxy_used"}


def acting_member(actor: object) -> str:
    """The member organisation acting on a proxy with its own token;
    Forbidden for anyone else (the secretariat neither gives nor holds one)."""
    return voting_member(actor, "give, hold or use a proxy")


# ---- offering --------------------------------------------------------------------

def check_parties(granter_id: str, holder_id: str, subject_member_id: str | None,
                  granter_in_snapshot: bool, holder_in_snapshot: bool) -> None:
    """BadUserInput unless granter and holder are two members of the snapshot,
    neither of them the member the consultation is about."""
    if granter_id == holder_id:
        raise BadUserInput("A proxy goes to another member, not to yourself.",
                           {"holderId": ["It is your own organisation."]})
    if subject_member_id in (granter_id, holder_id):
        raise BadUserInput("The member this consultation is about can neither give nor hold a "
                           "proxy in it.", {"holderId": ["This consultation is about it."]}
                           if holder_id == subject_member_id else None)
    if not granter_in_snapshot:
        raise BadUserInput("Your organisation is not in this round's snapshot, so it has no "
                           "stance to give by proxy.")
    if not holder_in_snapshot:
        raise BadUserInput("A proxy can go only to a member in this round's snapshot.",
                           {"holderId": ["Not in this round's snapshot."]})


def check_can_offer(live: Mapping[str, Any] | None, responded: bool) -> None:
    """Conflict if the granter has a live proxy in the round already, or has
    responded itself."""
    if responded:
        raise Conflict("Your organisation has already responded in this round; a proxy could "
                       "only replace its own stance. Change your stance instead.")
    if live is not None:
        raise Conflict(f"You already have a live proxy in this round ({live['status']}); a "
                       "granter has one at a time: revoke it first.")


def new_proxy(proxy_id: str, consultation: Mapping[str, Any], granter_id: str, holder_id: str,
              now: datetime) -> Doc:
    return {"_id": proxy_id, "consultation_id": consultation["_id"],
            "round": consultation["round"], "granter_id": granter_id, "holder_id": holder_id,
            "status": ProxyStatus.OFFERED, "offered_at": now, "changed_at": now}


# ---- acting on one ------------------------------------------------------------------

def check_is_holder(proxy: Mapping[str, Any], member_id: str) -> None:
    if proxy["holder_id"] != member_id:
        raise Forbidden("Only the member this proxy was offered to can accept or decline it.")


def check_is_granter(proxy: Mapping[str, Any], member_id: str) -> None:
    if proxy["granter_id"] != member_id:
        raise Forbidden("Only the member that gave this proxy can revoke it.")


def check_offered(proxy: Mapping[str, Any]) -> None:
    """Conflict unless the proxy waits for its holder's answer."""
    if proxy["status"] != ProxyStatus.OFFERED:
        raise Conflict(f"This proxy is {proxy['status']}; only an OFFERED proxy can be accepted "
                       "or declined.")


def check_revocable(proxy: Mapping[str, Any]) -> None:
    """Conflict unless the proxy is live: a used one cannot be revoked (the
    granter's own cast still replaces its stance)."""
    if proxy["status"] == ProxyStatus.USED:
        raise Conflict("This proxy has already been used; cast your own stance to replace the "
                       "one cast for you.")
    if proxy["status"] not in LIVE_PROXY:
        raise Conflict(f"This proxy is {proxy['status']}; only an OFFERED or ACCEPTED proxy can "
                       "be revoked.")


def check_of_current_round(proxy: Mapping[str, Any], consultation: Mapping[str, Any],
                           round_open: bool) -> None:
    """Conflict unless the proxy's round is the consultation's current, open one."""
    if proxy["round"] != consultation["round"] or not round_open:
        raise Conflict("This proxy's round is over; proxies end with their round.")


def check_holder_room(held: int, limit: int) -> None:
    """Conflict if accepting would give the holder more than `limit` proxies
    in the round (`held` counts the one being accepted)."""
    if held > limit:
        raise Conflict(f"Your organisation already holds {limit} proxies in this round, the "
                       "most one member may hold (MAX_PROXIES_PER_HOLDER).")


def no_accepted_proxy() -> Forbidden:
    return Forbidden("You hold no accepted proxy from this member in this round, so you "
                     "cannot respond for it.")


def proxy_to_use(proxy: Mapping[str, Any] | None) -> None:
    """The holder casting for the granter: Forbidden without an accepted proxy
    from it; Conflict if that proxy was used already."""
    if proxy is None or proxy["status"] not in HELD_PROXY:
        raise no_accepted_proxy()
    if proxy["status"] == ProxyStatus.USED:
        raise Conflict("This proxy has already been used: a proxy casts one stance.")


def check_not_own_stance(previous: Mapping[str, Any] | None) -> None:
    """Conflict if the granter has cast its own stance: it always wins, and
    no proxy replaces it (a second guard: an offer and the granter's own cast
    already collide in the store)."""
    if previous is not None and previous.get("cast_by") is None:
        raise Conflict("This member has responded itself; its own stance stands.")


def frees_a_slot(status: str) -> bool:
    """Whether a proxy leaving `status` stops counting against its holder."""
    return status in HELD_PROXY


def ended_by_own_cast(proxies: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The granter's proxies its own cast ends (REVOKED): all but those
    already ended (declined, revoked, expired)."""
    return [p for p in proxies if p["status"] in (*LIVE_PROXY, ProxyStatus.USED)]


def changing(status: ProxyStatus, now: datetime) -> Doc:
    return {"status": status, "changed_at": now}


def audit_entry(entry_id: str, proxy: Mapping[str, Any], status: str, actor: str,
                now: datetime) -> Doc:
    """One line of the proxy audit trail: who changed which proxy to what, when."""
    return {"_id": entry_id, "proxy_id": proxy["_id"], "consultation_id": proxy["consultation_id"],
            "round": proxy["round"], "granter_id": proxy["granter_id"],
            "holder_id": proxy["holder_id"], "status": status, "actor": actor, "at": now}


def changed_data(proxy: Mapping[str, Any], status: str, actor: str, title: str) -> Doc:
    """The payload of the proxy's event (events.ProxyChanged): never a value."""
    return {"proxy_id": proxy["_id"], "consultation_id": proxy["consultation_id"],
            "round": proxy["round"], "granter_id": proxy["granter_id"],
            "holder_id": proxy["holder_id"], "status": status, "actor": actor, "title": title}
