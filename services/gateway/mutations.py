"""The Mutation root: each mutation is one RPC to the service that owns the
change (the services check every rule of DOMAIN.md).

Who may call which mutation is the table `MAY_CALL`, checked before the
resolver runs; a mutation missing from it does not import. The gateway adds
only what needs the request: the member statuses it caches (a mutation that
returns a member refreshes it), the limit on anonymous applications, and
waiting until a closed consultation's outcome reached its subject
(`applied`, outcomes.py), and the session's token and cookie of a sign-in
(signin.py). The proxy mutations' resolvers are in proxies.py, the reports'
and closeGrant's in reports.py (with who sees a report), a member's safety's
(visibility, export, erasure) in member_safety.py.
"""
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from graphene import ID, Argument, Boolean, Field, Int, ObjectType, String
from graphql import GraphQLResolveInfo

from services.common.errors import (TELLS_WHO_IS_KNOWN, BadUserInput, Conflict, Forbidden,
                                    TooManyRequests)
from services.common.vocabulary import Role
from services.gateway.inputs import (AllocationInput, ConsultationInput, DisbursementInput,
                                     GrantInput, MemberInput, PreferencesInput, ReportInput, wire)
from services.gateway import signin
from services.gateway.auth import cleared_cookie, session_cookie
from services.gateway.member_safety import (Erasure, erase_member_data, export_member_data,
                                            set_member_visibility)
from services.gateway.outcomes import applied
from services.gateway.proxies import (accept_proxy, cast_stance, decline_proxy, grant_proxy,
                                      revoke_proxy)
from services.gateway.reports import (close_grant, reporter, review_report, schedule_report,
                                      submit_report)
from services.gateway.scalars import Date, DateTime
from services.gateway.types import (Allocation, Consultation, Disbursement, Grant, Member, Proxy,
                                    Report, Stance, StanceValue, Visibility, req, req_list)
from services.gateway.viewer_types import Preferences, Session


# ---- who may call which mutation (DOMAIN.md section 5) -----------------------------

def anyone(ctx: Any, args: dict) -> None:
    """No token needed."""


def admin(ctx: Any, args: dict) -> None:
    """The secretariat only."""
    ctx.viewer.require_admin()


def admin_or_the_member(ctx: Any, args: dict) -> None:
    """The secretariat, or the member the mutation is about (`memberId`)."""
    ctx.viewer.require_admin_or_member(args["member_id"])


def signed_in(ctx: Any, args: dict) -> None:
    """Any token: a MEMBER acts on its member's own things, ADMIN on the
    secretariat's (Viewer.recipient)."""
    ctx.viewer.require_token()


def a_session(ctx: Any, args: dict) -> None:
    """A session made by signing in (a token with `sid`); a CLI token is
    FORBIDDEN: it cannot be signed out, it ends when it expires."""
    ctx.viewer.require_token()
    if not ctx.viewer.sid:
        raise Forbidden("This token is not a session; it ends when it expires.")


def voter(ctx: Any, args: dict) -> None:
    """A token; for a MEMBER, canVote at the moment of the cast (DOMAIN.md
    section 5), so the member's status is read fresh from the members
    service, not from the cache. Being in the round's snapshot is checked by
    consultations."""
    ctx.viewer.require_token()
    if ctx.viewer.role == Role.MEMBER:
        ctx.members.require_can_vote(ctx.viewer)
        granter = args.get("on_behalf_of")
        if isinstance(granter, str) and granter and granter != ctx.viewer.member_id:
            ctx.members.require_granter_can_vote(granter)


MAY_CALL: dict[str, Callable[[Any, dict], None]] = {
    "register_founding_member": admin,
    "apply_for_membership": anyone,
    "sign_mou": admin_or_the_member,
    "withdraw_membership": admin_or_the_member,
    "reinstate_member": admin,
    "propose_suspension": admin,
    "open_consultation": admin,
    "cast_stance": voter,
    "grant_proxy": voter,       # gives a voice: the granter must still be able to vote
    "accept_proxy": voter,      # takes one: so must the holder
    "decline_proxy": signed_in,  # gives one up: any token (consultations checks the member)
    "revoke_proxy": signed_in,
    "close_consultation": admin,
    "start_next_round": admin,
    "cancel_consultation": admin,
    "create_grant": admin,
    "activate_grant": admin,
    "propose_allocation": admin,
    "record_disbursement": admin,
    "close_grant": admin,
    "schedule_report": admin,
    "submit_report": reporter,  # a MEMBER token only: ADMIN is FORBIDDEN (reports.py)
    "review_report": admin,
    "set_preferences": signed_in,
    "mark_notifications_read": signed_in,
    "request_sign_in": anyone,
    "complete_sign_in": anyone,
    "sign_out": a_session,
    "invite_secretariat": admin,
    "remove_secretariat": admin,
    "set_member_visibility": admin_or_the_member,
    "export_member_data": admin_or_the_member,
    "erase_member_data": admin,
}


def mutation(returns: Any, resolve: Callable, **args: Any) -> Field:
    """The field of a mutation: `MAY_CALL[its name]` first, then `resolve`."""
    may_call = MAY_CALL[resolve.__name__]

    def checked(root: Any, info: GraphQLResolveInfo, **given: Any) -> Any:
        may_call(info.context, given)
        return resolve(root, info, **given)
    return Field(req(returns), resolver=checked, **args)


# ---- members ---------------------------------------------------------------------------

def changed_member(ctx: Any, method: str, *args: Any) -> dict:
    """A members mutation; the member it returns has a known status from now on."""
    member = ctx.call("members", method, *args)
    ctx.members.remember(member)
    return member


APPLICATIONS = "applyForMembership"  # the rate limit's name (services/gateway/store.py)


@contextmanager
def counted_application(ctx: Any) -> Iterator[None]:
    """Anonymous applications are limited per client address (DOMAIN.md
    section 6). An application refused for its content (BAD_USER_INPUT,
    CONFLICT) is given back: the limit counts applications made. But not
    one refused because its name or address is a member's already
    (TELLS_WHO_IS_KNOWN): those tell whether the coalition knows an
    organisation or an address, MEMBERS_ONLY ones included, so each such
    try costs an application (docs/safety.md)."""
    if ctx.viewer.role != Role.ANONYMOUS:
        yield
        return
    if not ctx.limits.take(APPLICATIONS, ctx.client,
                           ctx.settings["ANONYMOUS_APPLICATIONS_PER_HOUR"]):
        raise TooManyRequests(
            "Too many applications from your address this hour; try again later, or ask the "
            "secretariat to register your organisation.")
    try:
        yield
    except (BadUserInput, Conflict) as refused:
        if refused.message not in TELLS_WHO_IS_KNOWN:
            ctx.limits.give_back(APPLICATIONS, ctx.client)
        raise


def register_founding_member(root: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    return changed_member(info.context, "register_founding_member", wire(input))


def apply_for_membership(root: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    with counted_application(info.context):
        return changed_member(info.context, "apply_for_membership", wire(input))


def sign_mou(root: Any, info: GraphQLResolveInfo, member_id: str) -> dict:
    return changed_member(info.context, "sign_mou", member_id)


def withdraw_membership(root: Any, info: GraphQLResolveInfo, member_id: str,
                        reason: str | None = None) -> dict:
    return changed_member(info.context, "withdraw_membership", member_id, reason)


def reinstate_member(root: Any, info: GraphQLResolveInfo, member_id: str) -> dict:
    return changed_member(info.context, "reinstate_member", member_id)


# ---- consultations -----------------------------------------------------------------------

def propose_suspension(root: Any, info: GraphQLResolveInfo, member_id: str, reason: str,
                       closes_at: str | None = None) -> dict:
    return info.context.call("consultations", "propose_suspension",
                             {"memberId": member_id, "reason": reason, "closesAt": closes_at},
                             info.context.viewer.sub)


def open_consultation(root: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    return info.context.call("consultations", "open_consultation", wire(input),
                             info.context.viewer.sub)


def close_consultation(root: Any, info: GraphQLResolveInfo, id: str) -> dict:
    return applied(info.context, info.context.call("consultations", "close_consultation", id))


def start_next_round(root: Any, info: GraphQLResolveInfo, id: str, proposal: str,
                     closes_at: str) -> dict:
    return info.context.call("consultations", "start_next_round", id,
                             {"proposal": proposal, "closesAt": closes_at})


def cancel_consultation(root: Any, info: GraphQLResolveInfo, id: str, reason: str) -> dict:
    return applied(info.context,
                   info.context.call("consultations", "cancel_consultation", id, reason))


# ---- grants ------------------------------------------------------------------------------

def create_grant(root: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    return info.context.call("grants", "create_grant", wire(input))


def activate_grant(root: Any, info: GraphQLResolveInfo, id: str) -> dict:
    return info.context.call("grants", "activate_grant", id)


def propose_allocation(root: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    return info.context.call("grants", "propose_allocation", wire(input))


def record_disbursement(root: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    return info.context.call("grants", "record_disbursement", wire(input))


# ---- preferences and notifications (DOMAIN.md sections 7 and 8) --------------------------

def kept_preferences(ctx: Any, recipient: str, changes: dict) -> dict:
    """The recipient's preferences as notifications keeps them, after `changes`."""
    if not changes:
        return ctx.call("notifications", "preferences", recipient)
    return ctx.call("notifications", "set_preferences", recipient, changes)


def set_preferences(root: Any, info: GraphQLResolveInfo, input: dict) -> dict:
    """A field left out (or null) stays as it is. ADMIN: the secretariat's
    language and switches, all kept by notifications (one call). MEMBER: the
    switches are kept by notifications under its member id, the language is
    its member's own (members.set_language, announced to notifications by
    member_language_set).

    A refused request changes nothing (DOMAIN.md section 6): GraphQL checks
    the values before this runs, and what members could refuse is checked
    before the first change: the member, read now (not from the status
    cache), must still act. Then the switches are kept (notifications takes
    any valid ones), then the language (no call if the member has it). An
    outage between the two (SERVICE_UNAVAILABLE) can leave the switches
    changed and the language not: repeating the request with the same
    Idempotency-Key completes it, each of its calls done once
    (services/gateway/idempotency.py). Only a member withdrawn in the
    instant between that read and the language change is refused with its
    switches kept."""
    ctx = info.context
    changes = {name: value for name, value in wire(input).items() if value is not None}
    recipient = ctx.viewer.recipient()
    if ctx.viewer.role != Role.MEMBER:
        return kept_preferences(ctx, recipient, changes)
    language = changes.pop("language", None)
    member = ctx.members.acting_member(recipient)
    switches = kept_preferences(ctx, recipient, changes)
    if language is not None and language != member["language"]:
        member = changed_member(ctx, "set_language", recipient, language)
    return {**switches, "language": member["language"]}


def mark_notifications_read(root: Any, info: GraphQLResolveInfo, ids: list[str]) -> int:
    """How many of the viewer's own notifications became read (another
    recipient's ids, and ids read already, change nothing)."""
    ctx = info.context
    return ctx.call("notifications", "mark_read", ctx.viewer.recipient(), list(ids))


# ---- signing in and the secretariat (DOMAIN.md section 7) ---------------------------------

def request_sign_in(root: Any, info: GraphQLResolveInfo, email: str) -> bool:
    """Always true, at once: accounts acts after the answer (signin.py)."""
    return signin.request_sign_in(info.context, email)


def complete_sign_in(root: Any, info: GraphQLResolveInfo, code: str) -> dict:
    """A session for a code: its token (also set as the session cookie) and
    its viewer. A wrong, used, void or expired code is accounts'
    BAD_USER_INPUT (field `code`). The answer is never kept under an
    Idempotency-Key (it holds the token)."""
    ctx = info.context
    token, expires_at, viewer = signin.complete_sign_in(
        ctx.call, ctx.settings["COALITION_JWT_SECRET"], code, ctx.client)
    ctx.answer_may_be_kept = False
    ctx.cookie = session_cookie(ctx.settings, token, expires_at)
    return {"token": token, "expires_at": expires_at, "viewer": viewer}


def sign_out(root: Any, info: GraphQLResolveInfo) -> bool:
    """Revokes the viewer's session (from the next request on, in every
    worker: sessions are asked of accounts on every request); clears the cookie."""
    ctx = info.context
    ctx.call("accounts", "sign_out", ctx.viewer.sid, ctx.client)
    ctx.cookie = cleared_cookie(ctx.settings)
    return True


def invite_secretariat(root: Any, info: GraphQLResolveInfo, email: str, name: str) -> bool:
    """Adds a secretariat person and mails them a code (accounts;
    CONFLICT if the address is one already)."""
    ctx = info.context
    return bool(ctx.call("accounts", "invite_secretariat", email, name, ctx.viewer.sub,
                         ctx.client))


def remove_secretariat(root: Any, info: GraphQLResolveInfo, email: str) -> bool:
    """Removes a secretariat person and revokes their sessions (accounts;
    NOT_FOUND, or CONFLICT for the last one)."""
    ctx = info.context
    return bool(ctx.call("accounts", "remove_secretariat", email, ctx.viewer.sub, ctx.client))


class Mutation(ObjectType):
    register_founding_member = mutation(Member, register_founding_member,
                                        input=Argument(req(MemberInput)))
    apply_for_membership = mutation(Member, apply_for_membership,
                                    input=Argument(req(MemberInput)))
    sign_mou = mutation(Member, sign_mou, member_id=ID(required=True))
    withdraw_membership = mutation(Member, withdraw_membership, member_id=ID(required=True),
                                   reason=String())
    reinstate_member = mutation(Member, reinstate_member, member_id=ID(required=True))
    propose_suspension = mutation(Consultation, propose_suspension, member_id=ID(required=True),
                                  reason=String(required=True), closes_at=DateTime())
    open_consultation = mutation(Consultation, open_consultation,
                                 input=Argument(req(ConsultationInput)))
    cast_stance = mutation(Stance, cast_stance, consultation_id=ID(required=True),
                           value=StanceValue(required=True), reason=String(),
                           on_behalf_of=ID())
    close_consultation = mutation(Consultation, close_consultation, id=ID(required=True))
    start_next_round = mutation(Consultation, start_next_round, id=ID(required=True),
                                proposal=String(required=True), closes_at=DateTime(required=True))
    cancel_consultation = mutation(Consultation, cancel_consultation, id=ID(required=True),
                                   reason=String(required=True))
    create_grant = mutation(Grant, create_grant, input=Argument(req(GrantInput)))
    activate_grant = mutation(Grant, activate_grant, id=ID(required=True))
    propose_allocation = mutation(Allocation, propose_allocation,
                                  input=Argument(req(AllocationInput)))
    record_disbursement = mutation(Disbursement, record_disbursement,
                                   input=Argument(req(DisbursementInput)))
    close_grant = mutation(Grant, close_grant, id=ID(required=True),
                           description="ACTIVE -> CLOSED: no more disbursements (ADMIN only).")
    schedule_report = mutation(Report, schedule_report, allocation_id=ID(required=True),
                               due_on=Date(required=True))
    submit_report = mutation(Report, submit_report, id=ID(required=True),
                             input=Argument(req(ReportInput)))
    review_report = mutation(Report, review_report, id=ID(required=True),
                             accept=Boolean(required=True), note=String())
    set_preferences = mutation(Preferences, set_preferences,
                               input=Argument(req(PreferencesInput)))
    mark_notifications_read = mutation(Int, mark_notifications_read, ids=req_list(ID))
    request_sign_in = mutation(Boolean, request_sign_in, email=String(required=True))
    complete_sign_in = mutation(Session, complete_sign_in, code=String(required=True))
    sign_out = mutation(Boolean, sign_out)
    invite_secretariat = mutation(Boolean, invite_secretariat, email=String(required=True),
                                  name=String(required=True))
    remove_secretariat = mutation(Boolean, remove_secretariat, email=String(required=True))
    set_member_visibility = mutation(Member, set_member_visibility, member_id=ID(required=True),
                                     visibility=Visibility(required=True))
    export_member_data = mutation(String, export_member_data, member_id=ID(required=True))
    erase_member_data = mutation(Erasure, erase_member_data, member_id=ID(required=True))
    grant_proxy = mutation(Proxy, grant_proxy, consultation_id=ID(required=True),
                           holder_id=ID(required=True))
    accept_proxy = mutation(Proxy, accept_proxy, id=ID(required=True))
    decline_proxy = mutation(Proxy, decline_proxy, id=ID(required=True))
    revoke_proxy = mutation(Proxy, revoke_proxy, id=ID(required=True))
