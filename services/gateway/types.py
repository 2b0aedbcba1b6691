"""The object types of ../shared/api/schema.graphql, and its enums.

Every GraphQL enum is the vocabulary's enum of the same name
(services/common/vocabulary.py), made by `api_enum`: a resolver gets the
vocabulary's member for an enum argument, and a view's plain text
serialises as the value it equals. Every list of the API that is paged has
a `<Node>Connection` of `<Node>Edge`s made by `connection`.

Types resolve from the services' RPC views (plain dicts with snake_case
keys); nested lists go through the per-request DataLoaders
(services/gateway/loaders.py), so a list level costs one RPC whatever its
length. The types about who asks (Viewer, Person, Session, Preferences,
Notification) are in viewer_types.py. Which reports a viewer sees
(`Allocation.reports`) is reports.py's rule; what a viewer may learn of a
member (MEMBERS_ONLY members, focal points) is disclosure.py's.
"""
from enum import StrEnum
from typing import Any, Awaitable, Callable, cast

import graphene
from graphene import ID, Boolean, Field, Float, Int, List, NonNull, ObjectType, String
from graphql import GraphQLResolveInfo

from services.common import vocabulary
from services.gateway import disclosure
from services.gateway.reports import visible_reports
from services.gateway.scalars import Date, DateTime, Decimal


def api_enum(values: type[StrEnum]) -> type[graphene.Enum]:
    """The GraphQL enum of a vocabulary enum: same name, same values."""
    return graphene.Enum.from_enum(values)


ENUMS = {values.__name__: api_enum(values) for values in vocabulary.API_ENUMS}
Role = ENUMS["Role"]
MemberStatus = ENUMS["MemberStatus"]
OrgType = ENUMS["OrgType"]
Constituency = ENUMS["Constituency"]
ConsultationKind = ENUMS["ConsultationKind"]
ConsultationStatus = ENUMS["ConsultationStatus"]
DecisionRule = ENUMS["DecisionRule"]
StanceValue = ENUMS["StanceValue"]
Outcome = ENUMS["Outcome"]
GrantStatus = ENUMS["GrantStatus"]
AllocationStatus = ENUMS["AllocationStatus"]
ResultsVisibility = ENUMS["ResultsVisibility"]
ProxyStatus = ENUMS["ProxyStatus"]
ReportStatus = ENUMS["ReportStatus"]
Visibility = ENUMS["Visibility"]


def api_enum_without(values: type[StrEnum], *left_out: StrEnum) -> type[graphene.Enum]:
    """The GraphQL enum of a vocabulary enum but the `left_out` values."""
    return api_enum(cast(type[StrEnum], StrEnum(values.__name__, [
        (value.name, value.value) for value in values if value not in left_out])))


Language = ENUMS["Language"]
# sign-in codes are e-mail only (DOMAIN.md section 8): the API's kinds are the rest
NotificationKind = api_enum_without(vocabulary.NotificationKind,
                                    vocabulary.NotificationKind.SIGN_IN)


def req(of: Any) -> NonNull:
    """`of!`"""
    return NonNull(of)


def req_list(of: Any, **options: Any) -> List:
    """`[of!]!`"""
    return List(NonNull(of), required=True, **options)


class PageInfo(ObjectType):
    has_next_page = Boolean(required=True)
    end_cursor = String()


def _page_info(page: dict, info: GraphQLResolveInfo) -> dict:
    return {"has_next_page": page["has_next_page"], "end_cursor": page["end_cursor"]}


def connection(node: type[ObjectType], **extra: Any) -> type[ObjectType]:
    """`<Node>Connection { edges: [<Node>Edge!]! pageInfo totalCount }` of a
    page as the services' `list` RPC answers it (services/common/paging.py),
    and the `extra` fields of this connection (each from the page's own key)."""
    edge = type(f"{node.__name__}Edge", (ObjectType,), {
        "cursor": String(required=True),
        "node": Field(req(node)),
    })
    return type(f"{node.__name__}Connection", (ObjectType,), {
        "edges": req_list(edge),
        "page_info": Field(req(PageInfo)),
        "total_count": Int(required=True),
        **extra,
        "resolve_page_info": staticmethod(_page_info),
    })


def loaded(loader: str, key: str = "id") -> Callable[[dict, GraphQLResolveInfo], Awaitable]:
    """Resolver of a field one of the request's DataLoaders gives
    (services/gateway/loaders.py), asked with the view's `key` (None when
    the view has none: a nullable field)."""
    async def resolve(view: dict, info: GraphQLResolveInfo) -> Any:
        if view.get(key) is None:
            return None
        return await getattr(info.context.loaders, loader).load(view[key])
    return resolve


# Fields an object type shares with the input that creates it (inputs.py).
# graphene lists a type's fields base by base, from the last base listed to
# the class itself: in `Grant(GrantTerms, Identified, ObjectType)`, `id`
# comes first, then the terms, then Grant's own fields.

class Identified:
    id = ID(required=True)


class FocalPointFields:
    name = String(required=True)
    email = String(required=True)
    phone = String()


class GrantTerms:
    title = String(required=True)
    donor = String(required=True)
    currency = String(required=True)
    amount = Decimal(required=True)
    start_date = Date(required=True)
    end_date = Date(required=True)


class IndicatorFields:  # Indicator and IndicatorInput
    name = String(required=True)
    unit = String()
    target = Decimal()
    actual = Decimal(required=True)


class BudgetLineFields:  # BudgetLine and BudgetLineInput
    period_start = Date(required=True)
    period_end = Date(required=True)
    amount = Decimal(required=True)


class DisbursementRecord:
    amount = Decimal(required=True)
    paid_on = Date(required=True)
    reference = String()


# No docstrings on the types below: graphene would publish them as descriptions.

class MemberChange(ObjectType):
    at = DateTime(required=True)
    status = Field(req(MemberStatus))
    note = String()


class FocalPoint(FocalPointFields, ObjectType):
    pass


class FocalPointRead(ObjectType):
    at = DateTime(required=True)
    by = String(required=True)


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
    language = Field(req(Language))
    visibility = Field(req(Visibility))
    # ADMIN and the member itself only (disclosure.py)
    focal_point_reads = req_list(FocalPointRead, resolver=disclosure.focal_point_reads)
    focal_point = Field(FocalPoint, resolver=disclosure.focal_point)
    allocations = req_list(lambda: Allocation, resolver=loaded("allocations_by_member"))
    history = req_list(MemberChange)
    erased_at = DateTime(description=(
        "When the member's personal data was erased (null unless it was)."))

    @staticmethod
    def resolve_visibility(member: dict, info: GraphQLResolveInfo) -> str:
        return disclosure.visibility(member)


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
    member = Field(req(Member), resolver=loaded("member", "member_id"))
    value = Field(req(StanceValue))
    reason = String()
    cast_at = DateTime(required=True)
    # the proxy holder, when it cast the stance for its granter (`member`)
    cast_by = Field(Member, resolver=loaded("member", "cast_by"))


class Proxy(ObjectType):
    id = ID(required=True)
    consultation = Field(req(lambda: Consultation), resolver=loaded("consultation",
                                                                   "consultation_id"))
    round = Int(required=True)
    granter = Field(req(Member), resolver=loaded("member", "granter_id"))
    holder = Field(req(Member), resolver=loaded("member", "holder_id"))
    status = Field(req(ProxyStatus))
    offered_at = DateTime(required=True)


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
    results_visibility = Field(req(ResultsVisibility))
    awaiting = Field(NonNull(List(NonNull(Member))), first=Int(
        description="At most this many, in the snapshot's order (the web app's pages)."))
    in_snapshot = Boolean(required=True, description=(
        "Whether the viewer's member is in the current round's snapshot (false for "
        "ANONYMOUS and ADMIN): who may be offered the stance form, without loading "
        "every eligible member."))
    proxies = req_list(Proxy)

    @staticmethod
    async def resolve_in_snapshot(consultation: dict, info: GraphQLResolveInfo) -> bool:
        viewer = info.context.viewer
        if viewer.role != vocabulary.Role.MEMBER:
            return False
        return viewer.member_id in await info.context.loaders.eligible.load(consultation["id"])

    @staticmethod
    async def resolve_awaiting(consultation: dict, info: GraphQLResolveInfo,
                               first: int | None = None) -> list:
        """The snapshot's members that have not responded (DOMAIN.md section
        9): ADMIN and members in the snapshot see them, anyone else none.
        Only the members listed are loaded."""
        viewer = info.context.viewer
        eligible = await info.context.loaders.eligible.load(consultation["id"])
        if not (viewer.is_admin() or (viewer.role == vocabulary.Role.MEMBER
                                      and viewer.member_id in eligible)):
            return []
        # who responded, never what: stances of a hidden round are not all shown
        responded = set(await info.context.loaders.responded.load(consultation["id"]))
        waiting = [m for m in eligible if m not in responded]
        members = await info.context.loaders.member.load_many(
            waiting if first is None else waiting[:max(0, first)])
        return [m for m in members if m is not None]

    @staticmethod
    async def resolve_eligible_members(consultation: dict, info: GraphQLResolveInfo) -> list:
        ids = await info.context.loaders.eligible.load(consultation["id"])
        members = await info.context.loaders.member.load_many(ids)
        return [m for m in members if m is not None]

    @staticmethod
    async def resolve_stances(consultation: dict, info: GraphQLResolveInfo) -> list:
        """Shown to signed-in viewers only."""
        if info.context.viewer.role == vocabulary.Role.ANONYMOUS:
            return []
        return await info.context.loaders.stances.load(consultation["id"])

    @staticmethod
    async def resolve_my_stance(consultation: dict, info: GraphQLResolveInfo) -> dict | None:
        loader = info.context.loaders.my_stance
        return await loader.load(consultation["id"]) if loader else None

    @staticmethod
    async def resolve_proxies(consultation: dict, info: GraphQLResolveInfo) -> list:
        """Of the current round: ADMIN sees all, a MEMBER those it gives or
        holds, anyone else none (loaders.Loaders.proxies)."""
        loader = info.context.loaders.proxies
        return await loader.load(consultation["id"]) if loader else []


class Disbursement(DisbursementRecord, Identified, ObjectType):
    pass


class Indicator(IndicatorFields, ObjectType):
    pass


class BudgetLine(BudgetLineFields, ObjectType):
    pass


# a report on an allocation (DOMAIN.md section 10); who sees which: reports.py
class Report(ObjectType):
    id = ID(required=True)
    allocation = Field(req(lambda: Allocation), resolver=loaded("allocation", "allocation_id"))
    due_on = Date(required=True)
    status = Field(req(ReportStatus))
    overdue = Boolean(required=True)
    narrative = String()
    spent = Decimal()
    indicators = req_list(Indicator)
    submitted_at = DateTime()
    review_note = String()
    reviewed_at = DateTime(description="When the secretariat last reviewed it.")


class Allocation(ObjectType):
    id = ID(required=True)
    grant = Field(req(lambda: Grant), resolver=loaded("grant", "grant_id"))
    member = Field(req(Member), resolver=loaded("member", "member_id"))
    amount = Decimal(required=True)
    purpose = String(required=True)
    status = Field(req(AllocationStatus))
    consultation = Field(Consultation, resolver=loaded("consultation_by_subject"))
    disbursements = req_list(Disbursement, resolver=loaded("disbursements"))
    disbursed = Decimal(required=True)
    reports = req_list(Report, resolver=visible_reports)


class Grant(GrantTerms, Identified, ObjectType):
    status = Field(req(GrantStatus))
    # for ANONYMOUS, without those of MEMBERS_ONLY members (disclosure.py)
    allocations = req_list(Allocation, resolver=disclosure.shown_allocations)
    allocated = Decimal(required=True)
    disbursed = Decimal(required=True)
    available = Decimal(required=True)
    sector_code = String(required=True)
    budget_lines = req_list(BudgetLine)
    iati_xml = String(required=True, resolver=loaded("iati"))
    closed_at = DateTime(description="When the grant was closed (null unless CLOSED).")
    undisclosed_allocations = Int(required=True, resolver=disclosure.undisclosed_allocations,
                                  description=(
                                      "How many of its allocations `allocations` leaves out for "
                                      "this viewer (those of members hidden from it); 0 for "
                                      "members and ADMIN."))
    undisclosed_amount = Decimal(required=True, resolver=disclosure.undisclosed_amount,
                                 description="The sum of the allocations left out (0.00 if none).")


MemberConnection = connection(Member)
ConsultationConnection = connection(Consultation)
GrantConnection = connection(Grant)
