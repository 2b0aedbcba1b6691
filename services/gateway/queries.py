"""The Query root: one thing by id through the request's DataLoader, or a
page of a list through one `list` RPC.

A page's nodes are primed into the loader of their type, so the same object
asked again in the query costs no RPC. The service counts a list only when
the query selects `totalCount` (`asks_total`): a count costs more than a page.
What a viewer may learn of a member decides what a list asks and shows
(disclosure.py): `members` asks for PUBLIC members only for ANONYMOUS, and
`consultations` redacts the consultations about members hidden from it
before they are primed.
"""
import inspect
from typing import Any, Awaitable, Callable

from graphene import ID, Boolean, Field, Int, ObjectType, String
from graphql import (FieldNode, FragmentSpreadNode, GraphQLResolveInfo, InlineFragmentNode,
                     SelectionSetNode)

from services.gateway import disclosure
from services.gateway.auth import secretariat_person
from services.gateway.inputs import plain
from services.gateway.operations import operations_field
from services.gateway.reports import overdue_reports, report
from services.gateway.types import (Consultation, ConsultationConnection, ConsultationKind,
                                    ConsultationStatus, Constituency, Grant, GrantConnection,
                                    GrantStatus, Member, MemberConnection, MemberStatus, Report,
                                    req, req_list)
from services.gateway.viewer_types import NotificationConnection, Person, Viewer

DEFAULT_PAGE_SIZE = 50  # a list asked for without `first`


def selects(info: GraphQLResolveInfo, selection_set: SelectionSetNode | None, name: str) -> bool:
    """Whether a selection set asks for field `name`, directly or in fragments."""
    for node in selection_set.selections if selection_set else ():
        if isinstance(node, FragmentSpreadNode):
            found = selects(info, info.fragments[node.name.value].selection_set, name)
        elif isinstance(node, InlineFragmentNode):
            found = selects(info, node.selection_set, name)
        elif isinstance(node, FieldNode):
            found = node.name.value == name
        if found:
            return True
    return False


def asks_total(info: GraphQLResolveInfo) -> bool:
    """Whether the field being resolved selects its `totalCount`."""
    return any(selects(info, node.selection_set, "totalCount") for node in info.field_nodes)


def one(loader: str) -> Callable:
    """Resolver of `thing(id:)`: through the request's DataLoader (null if unknown)."""
    async def resolve(root: Any, info: GraphQLResolveInfo, id: str) -> dict | None:
        return await getattr(info.context.loaders, loader).load(id)
    return resolve


def _prime(loader: Any, page: dict) -> dict:
    for edge in page["edges"]:
        loader.prime(edge["node"]["id"], edge["node"])
    return page


async def _primed_later(loader: Any, page: Awaitable[dict]) -> dict:
    return _prime(loader, await page)


Filtered = Callable[[Any, dict], dict]  # (context, filters) -> the filters asked
Shown = Callable[[Any, dict], "dict | Awaitable[dict]"]  # (context, page) -> the page shown


def page_of(service: str, loader: str, filtered: Filtered | None = None,
            shown: Shown | None = None) -> Callable:
    """Resolver of a list: one `list` RPC with the filters `filtered` makes
    of the query's; the page as `shown` shows it (maybe awaited), its nodes
    then primed into the loader. The service counts only if the query
    selects totalCount."""
    def resolve(root: Any, info: GraphQLResolveInfo, first: int = DEFAULT_PAGE_SIZE,
                after: str | None = None, **filters: Any) -> dict | Awaitable[dict]:
        ctx = info.context
        wanted = plain(filters)
        if filtered is not None:
            wanted = filtered(ctx, wanted)
        page = ctx.call(service, "list", wanted, first, after, asks_total(info))
        out = page if shown is None else shown(ctx, page)
        if inspect.isawaitable(out):
            return _primed_later(getattr(ctx.loaders, loader), out)
        return _prime(getattr(ctx.loaders, loader), out)
    return resolve


def paged(connection: Any, service: str, loader: str, filtered: Filtered | None = None,
          shown: Shown | None = None, **filters: Any) -> Field:
    """A list field: its filters, then `first` and `after` (services/common/paging.py)."""
    return Field(req(connection), **filters, first=Int(default_value=DEFAULT_PAGE_SIZE),
                 after=String(), resolver=page_of(service, loader, filtered, shown))


def members_filters(ctx: Any, filters: dict) -> dict:
    """PUBLIC members only for a viewer MEMBERS_ONLY ones are hidden from."""
    return disclosure.listed_filters(disclosure.viewer_of(ctx), filters)


def notifications(root: Any, info: GraphQLResolveInfo, unread_only: bool | None = False,
                  first: int = DEFAULT_PAGE_SIZE, after: str | None = None) -> dict:
    """The viewer's notifications, newest first: its member's (MEMBER) or the
    secretariat's (ADMIN); UNAUTHENTICATED without a token.

    Read your writes: this query and markNotificationsRead both ask the
    notifications service itself, which answers from its own store (no read
    model in between), so a query sent after markNotificationsRead returned
    sees what it marked."""
    ctx = info.context
    return ctx.call("notifications", "notifications_for", ctx.viewer.recipient(),
                    bool(unread_only), first, after)


def secretariat(root: Any, info: GraphQLResolveInfo) -> list[dict]:
    """The secretariat's people, by name (ADMIN only): one accounts call."""
    ctx = info.context
    ctx.viewer.require_admin()
    return [secretariat_person(p.get("name"), p["email"])
            for p in ctx.call("accounts", "secretariat")]


class Query(ObjectType):
    viewer = Field(req(Viewer))
    member = Field(Member, id=ID(required=True), resolver=one("member"))
    members = paged(MemberConnection, "members", "member", members_filters,
                    disclosure.listed_page, status=MemberStatus(),
                    constituency=Constituency(), country=String(), search=String())
    consultation = Field(Consultation, id=ID(required=True), resolver=one("consultation"))
    consultations = paged(ConsultationConnection, "consultations", "consultation",
                          shown=disclosure.shown_page, status=ConsultationStatus(),
                          kind=ConsultationKind())
    grant = Field(Grant, id=ID(required=True), resolver=one("grant"))
    grants = paged(GrantConnection, "grants", "grant", status=GrantStatus())
    notifications = Field(req(NotificationConnection), unread_only=Boolean(default_value=False),
                          first=Int(default_value=DEFAULT_PAGE_SIZE), after=String(),
                          resolver=notifications)
    secretariat = req_list(Person, resolver=secretariat)
    operations = operations_field()  # ADMIN only: failed mails, dead letters (operations.py)
    # null when the viewer may not see it (services/gateway/reports.py)
    report = Field(Report, id=ID(required=True), resolver=report)
    overdue_reports = req_list(Report, resolver=overdue_reports, description=(
        "Reports past their due date and not yet submitted (or sent back), the longest "
        "overdue first; at most 100 (ADMIN only)."))

    @staticmethod
    def resolve_viewer(root: Any, info: GraphQLResolveInfo) -> Any:
        return info.context.viewer
