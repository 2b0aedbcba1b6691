"""The proxy mutations (DOMAIN.md section 9): grantProxy, acceptProxy,
declineProxy, revokeProxy, and castStance, which casts for a granter with
`onBehalfOf`. Each is one RPC to consultations with the viewer's actor:
consultations checks every rule (only a MEMBER acts on proxies; the granter
offers and revokes, the holder accepts and declines; a second live proxy, a
holder at MAX_PROXIES_PER_HOLDER, a proxy used already are refused).

Who may call them is in mutations.py's MAY_CALL (granting and accepting give
or take a voice: `voter`; declining and revoking only give one up: any token),
where the Mutation root registers them.
"""
from typing import Any

from graphql import GraphQLResolveInfo

from services.gateway.inputs import plain


def cast_stance(root: Any, info: GraphQLResolveInfo, consultation_id: str, value: str,
                reason: str | None = None, on_behalf_of: str | None = None) -> dict:
    """The viewer's member's own stance, or with `on_behalf_of` that
    granter's, cast with the proxy it gave the viewer's member and that it
    accepted (the stance's castBy is then the holder)."""
    return info.context.call("consultations", "cast_stance", info.context.viewer.actor,
                             consultation_id, plain(value), reason, on_behalf_of)


def grant_proxy(root: Any, info: GraphQLResolveInfo, consultation_id: str,
                holder_id: str) -> dict:
    """The viewer's member offers its proxy in the current round to a member
    of the snapshot (OFFERED until the holder accepts or declines)."""
    return info.context.call("consultations", "grant_proxy", info.context.viewer.actor,
                             consultation_id, holder_id)


def accept_proxy(root: Any, info: GraphQLResolveInfo, id: str) -> dict:
    return info.context.call("consultations", "accept_proxy", info.context.viewer.actor, id)


def decline_proxy(root: Any, info: GraphQLResolveInfo, id: str) -> dict:
    return info.context.call("consultations", "decline_proxy", info.context.viewer.actor, id)


def revoke_proxy(root: Any, info: GraphQLResolveInfo, id: str) -> dict:
    return info.context.call("consultations", "revoke_proxy", info.context.viewer.actor, id)
