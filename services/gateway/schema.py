"""The GraphQL schema of ../shared/api/schema.graphql, resolved from the
three services. Types resolve from the services' RPC views (plain dicts with
snake_case keys); nested lists go through the per-request DataLoaders."""
import enum
import logging
import time

import graphene
from graphene import (ID, Argument, Boolean, Field, Float, InputObjectType, Int, List, NonNull,
                      ObjectType, String)
from graphql import FragmentSpreadNode, InlineFragmentNode

from services.common.errors import BadUserInput, Conflict, TooManyRequests
from services.gateway.scalars import Date, DateTime, Decimal

log = logging.getLogger("coalition.gateway")


def _enum(name, values, description=None):
    return graphene.Enum(name, [(v, v) for v in values], description=description)


Role = _enum("Role", ["ADMIN", "MEMBER", "ANONYMOUS"])
MemberStatus = _enum("MemberStatus", ["CANDIDATE", "ACTIVE", "SUSPENDED", "WITHDRAWN", "REJECTED"])
OrgType = _enum("OrgType", ["REGIONAL_NETWORK", "NATIONAL_NETWORK", "COMMUNITY_ORGANISATION",
                            "NGO", "OTHER"])
Constituency = _enum("Constituency", [
    "PEOPLE_LIVING_WITH_HIV", "PEOPLE_WHO_USE_DRUGS", "SEX_WORKERS", "MEN_WHO_HAVE_SEX_WITH_MEN",
    "TRANSGENDER_PEOPLE", "LGBT", "YOUNG_PEOPLE", "WOMEN_AND_GIRLS", "MIGRANTS", "PRISONERS",
    "REFUGEES_AND_DISPLACED"])
ConsultationKind = _enum("ConsultationKind", ["GENERAL", "MEMBERSHIP_ADMISSION",
                                              "MEMBER_SUSPENSION", "GRANT_ALLOCATION"])
ConsultationStatus = _enum("ConsultationStatus", ["OPEN", "CLOSED", "CANCELLED"])
DecisionRule = _enum("DecisionRule", ["CONSENSUS", "MODIFIED_CONSENSUS"])
StanceValue = _enum("StanceValue", ["AGREE", "RESERVATIONS", "STAND_ASIDE", "BLOCK"])
Outcome = _enum("Outcome", ["ADOPTED", "BLOCKED", "NO_QUORUM", "NOT_ADOPTED"])
GrantStatus = _enum("GrantStatus", ["PIPELINE", "ACTIVE", "CLOSED"])
AllocationStatus = _enum("AllocationStatus", ["PROPOSED", "APPROVED", "REJECTED", "ON_HOLD"])


def req(t):
    return NonNull(t)


def req_list(t):
    return List(NonNull(t), required=True)


def plain(value):
    """Enum members and graphene inputs -> plain JSON values for RPC."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def wire(value):
    """A graphene input (snake_case keys) -> the camelCase dict services load."""
    if isinstance(value, dict):
        return {camel(k): wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire(v) for v in value]
    return plain(value)


class PageInfo(ObjectType):
    has_next_page = Boolean(required=True)
    end_cursor = String()


class FocalPoint(ObjectType):
    name = String(required=True)
    email = String(required=True)
    phone = String()


class MemberChange(ObjectType):
    at = DateTime(required=True)
    status = Field(req(MemberStatus))
    note = String()


class Member(ObjectType):
    id = ID(required=True)
    name = String(required=True)
    acronym = String()
    org_type = Field(req(OrgType))
    countries = req_list(String)
    region = String()
    constituencies = req_list(Constituency)
    status = Field(req(MemberStatus))
    mou_signed_at = DateTime()
    can_vote = Boolean(required=True)
    joined_at = DateTime()
    focal_point = Field(FocalPoint)
    allocations = req_list(lambda: Allocation)
    history = req_list(MemberChange)

    @staticmethod
    def resolve_focal_point(member, info):
        viewer = info.context.viewer
        if viewer.is_admin() or viewer.is_member(member["id"]):
            return member.get("focal_point")
        return None

    @staticmethod
    async def resolve_allocations(member, info):
        return await info.context.loaders.allocations_by_member.load(member["id"])


class MemberEdge(ObjectType):
    cursor = String(required=True)
    node = Field(req(Member))


class _Connection:
    @staticmethod
    def resolve_page_info(page, info):
        return {"has_next_page": page["has_next_page"], "end_cursor": page["end_cursor"]}


class MemberConnection(_Connection, ObjectType):
    edges = req_list(MemberEdge)
    page_info = Field(req(PageInfo))
    total_count = Int(required=True)


class Tally(ObjectType):
    eligible = Int(required=True)
    responded = Int(required=True)
    # nullable: hidden while a HIDDEN_UNTIL_CLOSED round is open (DOMAIN.md section 9)
    agree = Int()
    reservations = Int()
    stand_aside = Int()
    block = Int()
    quorum_reached = Boolean(required=True)


class Stance(ObjectType):
    member = Field(req(Member))
    value = Field(req(StanceValue))
    reason = String()
    cast_at = DateTime(required=True)

    @staticmethod
    async def resolve_member(stance, info):
        return await info.context.loaders.member.load(stance["member_id"])


class Round(ObjectType):
    number = Int(required=True)
    proposal = String(required=True)
    outcome = Field(req(Outcome))
    tally = Field(req(Tally))
    closed_at = DateTime(required=True)
    explanation = String(description="Why the round ended as it did, in one sentence.")


class Consultation(ObjectType):
    id = ID(required=True)
    kind = Field(req(ConsultationKind))
    title = String(required=True)
    proposal = String(required=True)
    subject_id = ID()
    status = Field(req(ConsultationStatus))
    round = Int(required=True)
    rule = Field(req(DecisionRule))
    quorum = Float(required=True)
    threshold = Float()
    opened_at = DateTime(required=True)
    closes_at = DateTime(required=True)
    closed_at = DateTime()
    eligible_members = req_list(Member)
    tally = Field(req(Tally))
    stances = req_list(Stance)
    my_stance = Field(Stance)
    outcome = Field(Outcome)
    rounds = req_list(Round)

    @staticmethod
    async def resolve_eligible_members(consultation, info):
        ids = await info.context.loaders.eligible.load(consultation["id"])
        members = await info.context.loaders.member.load_many(ids)
        return [m for m in members if m is not None]

    @staticmethod
    async def resolve_stances(consultation, info):
        if info.context.viewer.role == "ANONYMOUS":
            return []
        return await info.context.loaders.stances.load(consultation["id"])

    @staticmethod
    async def resolve_my_stance(consultation, info):
        loader = info.context.loaders.my_stance
        return await loader.load(consultation["id"]) if loader else None


class ConsultationEdge(ObjectType):
    cursor = String(required=True)
    node = Field(req(Consultation))


class ConsultationConnection(_Connection, ObjectType):
    edges = req_list(ConsultationEdge)
    page_info = Field(req(PageInfo))
    total_count = Int(required=True)


class Disbursement(ObjectType):
    id = ID(required=True)
    amount = Decimal(required=True)
    paid_on = Date(required=True)
    reference = String()


class Allocation(ObjectType):
    id = ID(required=True)
    grant = Field(req(lambda: Grant))
    member = Field(req(Member))
    amount = Decimal(required=True)
    purpose = String(required=True)
    status = Field(req(AllocationStatus))
    consultation = Field(Consultation)
    disbursements = req_list(Disbursement)
    disbursed = Decimal(required=True)

    @staticmethod
    async def resolve_grant(allocation, info):
        return await info.context.loaders.grant.load(allocation["grant_id"])

    @staticmethod
    async def resolve_member(allocation, info):
        return await info.context.loaders.member.load(allocation["member_id"])

    @staticmethod
    async def resolve_consultation(allocation, info):
        return await info.context.loaders.consultation_by_subject.load(allocation["id"])

    @staticmethod
    async def resolve_disbursements(allocation, info):
        return await info.context.loaders.disbursements.load(allocation["id"])


class Grant(ObjectType):
    id = ID(required=True)
    title = String(required=True)
    donor = String(required=True)
    currency = String(required=True)
    amount = Decimal(required=True)
    start_date = Date(required=True)
    end_date = Date(required=True)
    status = Field(req(GrantStatus))
    allocations = req_list(Allocation)
    allocated = Decimal(required=True)
    disbursed = Decimal(required=True)
    available = Decimal(required=True)

    @staticmethod
    async def resolve_allocations(grant, info):
        return await info.context.loaders.allocations_by_grant.load(grant["id"])


class GrantEdge(ObjectType):
    cursor = String(required=True)
    node = Field(req(Grant))


class GrantConnection(_Connection, ObjectType):
    edges = req_list(GrantEdge)
    page_info = Field(req(PageInfo))
    total_count = Int(required=True)


class Viewer(ObjectType):
    role = Field(req(Role))
    member = Field(Member)

    @staticmethod
    async def resolve_member(viewer, info):
        if not viewer.member_id:
            return None
        return await info.context.loaders.member.load(viewer.member_id)


# ---- inputs -------------------------------------------------------------------

class FocalPointInput(InputObjectType):
    name = String(required=True)
    email = String(required=True)
    phone = String()


class MemberInput(InputObjectType):
    name = String(required=True)
    acronym = String()
    org_type = OrgType(required=True)
    countries = req_list(String)
    region = String()
    constituencies = req_list(Constituency)
    focal_point = FocalPointInput(required=True)


class ConsultationInput(InputObjectType):
    title = String(required=True)
    proposal = String(required=True)
    closes_at = DateTime(required=True)
    rule = DecisionRule(default_value="CONSENSUS")
    quorum = Float(default_value=0.5)
    threshold = Float()


class GrantInput(InputObjectType):
    title = String(required=True)
    donor = String(required=True)
    currency = String(required=True)
    amount = Decimal(required=True)
    start_date = Date(required=True)
    end_date = Date(required=True)


class AllocationInput(InputObjectType):
    grant_id = ID(required=True)
    member_id = ID(required=True)
    amount = Decimal(required=True)
    purpose = String(required=True)
    closes_at = DateTime()


class DisbursementInput(InputObjectType):
    allocation_id = ID(required=True)
    amount = Decimal(required=True)
    paid_on = Date(required=True)
    reference = String()


# ---- root types ----------------------------------------------------------------

def _prime(loader, page):
    for edge in page["edges"]:
        loader.prime(edge["node"]["id"], edge["node"])
    return page


def _one(loader):
    """Resolver of `thing(id:)`: through the request's DataLoader (null if unknown)."""
    async def resolve(root, info, id):
        return await getattr(info.context.loaders, loader).load(id)
    return resolve


def _selects(info, selection_set, name):
    """Whether a selection set asks for field `name`, directly or in fragments."""
    for node in selection_set.selections if selection_set else ():
        if isinstance(node, FragmentSpreadNode):
            found = _selects(info, info.fragments[node.name.value].selection_set, name)
        elif isinstance(node, InlineFragmentNode):
            found = _selects(info, node.selection_set, name)
        else:
            found = node.name.value == name
        if found:
            return True
    return False


def _asks_total(info):
    return any(_selects(info, node.selection_set, "totalCount") for node in info.field_nodes)


def _page(service, loader):
    """Resolver of a list: one `list` RPC; its nodes primed into the loader.
    The service counts only if the query selects totalCount."""
    def resolve(root, info, first=50, after=None, **filters):
        page = info.context.call(service, "list", plain(filters), first, after, _asks_total(info))
        return _prime(getattr(info.context.loaders, loader), page)
    return resolve


class Query(ObjectType):
    viewer = Field(req(Viewer))
    member = Field(Member, id=ID(required=True), resolver=_one("member"))
    members = Field(req(MemberConnection), status=MemberStatus(), constituency=Constituency(),
                    country=String(), search=String(), first=Int(default_value=50), after=String(),
                    resolver=_page("members", "member"))
    consultation = Field(Consultation, id=ID(required=True), resolver=_one("consultation"))
    consultations = Field(req(ConsultationConnection), status=ConsultationStatus(),
                          kind=ConsultationKind(), first=Int(default_value=50), after=String(),
                          resolver=_page("consultations", "consultation"))
    grant = Field(Grant, id=ID(required=True), resolver=_one("grant"))
    grants = Field(req(GrantConnection), status=GrantStatus(), first=Int(default_value=50),
                   after=String(), resolver=_page("grants", "grant"))

    @staticmethod
    def resolve_viewer(root, info):
        return info.context.viewer


def _field(type_, resolver, **args):
    return Field(req(type_), resolver=resolver, **args)


def _admin(ctx):
    ctx.viewer.require_admin()
    return ctx


def _changed(ctx, member):
    """A member a mutation returned: its status is known from now on."""
    ctx.members.remember(member)
    return member


def register_founding_member(root, info, input):
    ctx = _admin(info.context)
    return _changed(ctx, ctx.call("members", "register_founding_member", wire(input)))


APPLICATIONS = "applyForMembership"


def apply_for_membership(root, info, input):
    """Anonymous applications are limited per client address (DOMAIN.md
    section 6). An application refused for its content (BAD_USER_INPUT,
    CONFLICT) is given back: the limit counts applications made."""
    ctx = info.context
    limited = ctx.viewer.role == "ANONYMOUS"
    if limited and not ctx.limits.take(APPLICATIONS, ctx.client,
                                       ctx.settings["ANONYMOUS_APPLICATIONS_PER_HOUR"]):
        raise TooManyRequests(
            "Too many applications from your address this hour; try again later, or ask the "
            "secretariat to register your organisation.")
    try:
        return _changed(ctx, ctx.call("members", "apply_for_membership", wire(input)))
    except (BadUserInput, Conflict):
        if limited:
            ctx.limits.give_back(APPLICATIONS, ctx.client)
        raise


def sign_mou(root, info, member_id):
    info.context.viewer.require_admin_or_member(member_id)
    return _changed(info.context, info.context.call("members", "sign_mou", member_id))


def withdraw_membership(root, info, member_id, reason=None):
    info.context.viewer.require_admin_or_member(member_id)
    return _changed(info.context,
                    info.context.call("members", "withdraw_membership", member_id, reason))


def reinstate_member(root, info, member_id):
    ctx = _admin(info.context)
    return _changed(ctx, ctx.call("members", "reinstate_member", member_id))


def propose_suspension(root, info, member_id, reason, closes_at=None):
    ctx = _admin(info.context)
    return ctx.call("consultations", "propose_suspension",
                    {"memberId": member_id, "reason": reason, "closesAt": closes_at},
                    ctx.viewer.sub)


def open_consultation(root, info, input):
    ctx = _admin(info.context)
    return ctx.call("consultations", "open_consultation", wire(input), ctx.viewer.sub)


def cast_stance(root, info, consultation_id, value, reason=None):
    """canVote must hold at the moment of the cast (DOMAIN.md section 5), so
    the member's status is read fresh from the members service, not from the
    cache; being in the round's snapshot is checked by consultations."""
    ctx = info.context
    ctx.viewer.require_token()
    if ctx.viewer.role == "MEMBER":
        ctx.members.require_can_vote(ctx.viewer)
    return ctx.call("consultations", "cast_stance", ctx.viewer.actor, consultation_id,
                    plain(value), reason)


# Outcomes another service applies to the subject (DOMAIN.md section 4), and
# how the gateway sees that they were: (service, bulk RPC, applied(subject)).
APPLIED_BY = {
    ("MEMBERSHIP_ADMISSION", "ADOPTED"): ("members", "get_many", lambda m: m["status"] != "CANDIDATE"),
    ("MEMBERSHIP_ADMISSION", "CANCELLED"): ("members", "get_many",
                                            lambda m: m["status"] != "CANDIDATE"),
    ("MEMBER_SUSPENSION", "ADOPTED"): ("members", "get_many", lambda m: m["status"] != "ACTIVE"),
    ("GRANT_ALLOCATION", "ADOPTED"): ("grants", "get_allocations",
                                      lambda a: a["status"] != "PROPOSED"),
    ("GRANT_ALLOCATION", "CANCELLED"): ("grants", "get_allocations",
                                        lambda a: a["status"] != "PROPOSED"),
}
OUTCOME_WAIT_SECONDS = 5.0


def applied(ctx, consultation):
    """Return once the consultation's outcome has reached its subject.

    Read your writes (DOMAIN.md section 5): after closeConsultation returned
    an adopted admission, the new member's signMou must find it ACTIVE, but
    members applies the outcome from the round_closed event a moment later.
    So the mutation waits until it has, at most OUTCOME_WAIT_SECONDS
    (then it answers anyway: the outcome is decided and will be applied)."""
    rule = APPLIED_BY.get((consultation["kind"],
                           consultation.get("outcome") if consultation["status"] == "CLOSED"
                           else consultation["status"]))
    if rule is None or not consultation.get("subject_id"):
        return consultation
    service, method, done = rule
    deadline = time.monotonic() + OUTCOME_WAIT_SECONDS
    while True:
        found = ctx.call(service, method, [consultation["subject_id"]])
        if service == "members" and found:
            ctx.members.remember(found[0])
        if not found or done(found[0]):
            return consultation
        if time.monotonic() > deadline:
            log.warning("outcome of consultation %s not yet applied after %.0fs",
                        consultation["id"], OUTCOME_WAIT_SECONDS)
            return consultation
        time.sleep(0.05)


def close_consultation(root, info, id):
    ctx = _admin(info.context)
    return applied(ctx, ctx.call("consultations", "close_consultation", id))


def start_next_round(root, info, id, proposal, closes_at):
    return _admin(info.context).call("consultations", "start_next_round", id,
                                     {"proposal": proposal, "closesAt": closes_at})


def cancel_consultation(root, info, id, reason):
    ctx = _admin(info.context)
    return applied(ctx, ctx.call("consultations", "cancel_consultation", id, reason))


def create_grant(root, info, input):
    return _admin(info.context).call("grants", "create_grant", wire(input))


def activate_grant(root, info, id):
    return _admin(info.context).call("grants", "activate_grant", id)


def propose_allocation(root, info, input):
    return _admin(info.context).call("grants", "propose_allocation", wire(input))


def record_disbursement(root, info, input):
    return _admin(info.context).call("grants", "record_disbursement", wire(input))


class Mutation(ObjectType):
    register_founding_member = _field(Member, register_founding_member,
                                      input=Argument(req(MemberInput)))
    apply_for_membership = _field(Member, apply_for_membership, input=Argument(req(MemberInput)))
    sign_mou = _field(Member, sign_mou, member_id=ID(required=True))
    withdraw_membership = _field(Member, withdraw_membership, member_id=ID(required=True),
                                 reason=String())
    reinstate_member = _field(Member, reinstate_member, member_id=ID(required=True))
    propose_suspension = _field(Consultation, propose_suspension, member_id=ID(required=True),
                                reason=String(required=True), closes_at=DateTime())
    open_consultation = _field(Consultation, open_consultation,
                               input=Argument(req(ConsultationInput)))
    cast_stance = _field(Stance, cast_stance, consultation_id=ID(required=True),
                         value=StanceValue(required=True), reason=String())
    close_consultation = _field(Consultation, close_consultation, id=ID(required=True))
    start_next_round = _field(Consultation, start_next_round, id=ID(required=True),
                              proposal=String(required=True), closes_at=DateTime(required=True))
    cancel_consultation = _field(Consultation, cancel_consultation, id=ID(required=True),
                                 reason=String(required=True))
    create_grant = _field(Grant, create_grant, input=Argument(req(GrantInput)))
    activate_grant = _field(Grant, activate_grant, id=ID(required=True))
    propose_allocation = _field(Allocation, propose_allocation,
                                input=Argument(req(AllocationInput)))
    record_disbursement = _field(Disbursement, record_disbursement,
                                 input=Argument(req(DisbursementInput)))


schema = graphene.Schema(query=Query, mutation=Mutation)
