"""Who learns what about a member (DOMAIN.md section 11), in one place: the
gateway's viewer-aware filter. Every answer that could name a member goes
through a function of this module.

Invariants:
- ANONYMOUS never learns that a MEMBERS_ONLY member exists. The member
  DataLoader drops it (`keeps_member`: `member(id)` is null, and
  `eligibleMembers`, `awaiting`, `Viewer.member` leave it out), the
  `members` list asks the members service for PUBLIC members only
  (`listed_filters`, so `totalCount` counts what is shown) and drops any
  other node it answers (`listed_page`), `Grant.allocations` leaves out the
  allocations of a member it cannot see (`shown_allocations`; the grant's
  totals stay whole, and `undisclosedAllocations` and `undisclosedAmount`
  say how many and how much was left out), and a consultation about such a
  member is redacted (`redacted`: no name, no subject) wherever it is shown
  (the consultation loaders and the `consultations` page). A member whose
  view cannot be had (unknown) counts as hidden: the safe side.
- Members and ADMIN see every member as usual; nothing is left out for them
  and no call is made to decide it.
- A focal point is shown to ADMIN and to the member itself only
  (`focal_point`). To ADMIN it is read through members `read_focal_points`,
  which records who read it (one call, and one record, per list level); the
  member itself reads its own from its view (no record). An erased member's
  focal point is null. Every focal point an answer carries is noted in the
  request's Context (`shown_focal_points`), so that a kept answer that shows
  it can be scrubbed when the member's personal data is erased
  (services/gateway/idempotency.py).
- A context that names no viewer is treated as ANONYMOUS (`viewer_of`).

This module imports no GraphQL type: types.py, queries.py and loaders.py
import it.
"""
from decimal import Decimal
from typing import Any, Awaitable, Iterable

from graphql import GraphQLResolveInfo

from services.common.vocabulary import (DEFAULT_VISIBILITY, UNDISCLOSED_MEMBER,
                                        ConsultationKind, Role, Visibility)
from services.gateway.auth import Viewer

# what a redacted consultation says instead of its proposal (and each round's)
UNDISCLOSED_PROPOSAL = "About an undisclosed member organisation."
# the first words of a redacted consultation's title, by its kind
KIND_WORDS: dict[str, str] = {
    ConsultationKind.MEMBERSHIP_ADMISSION: "Admission",
    ConsultationKind.MEMBER_SUSPENSION: "Suspension",
    ConsultationKind.GRANT_ALLOCATION: "Allocation",
}
# the kinds whose subject is the member itself (a view without beneficiary_id)
ABOUT_A_MEMBER = (ConsultationKind.MEMBERSHIP_ADMISSION, ConsultationKind.MEMBER_SUSPENSION)
# who read a focal point, when neither a name nor a token's subject is known
SECRETARIAT_READER = "secretariat"
READER_LENGTH = 200  # members takes `by` as text of at most this many characters


# ---- the rules (pure) -------------------------------------------------------------------

def viewer_of(ctx: Any) -> Viewer:
    """The context's viewer; ANONYMOUS for a context without one."""
    viewer = getattr(ctx, "viewer", None)
    return viewer if isinstance(viewer, Viewer) else Viewer()


def hides(viewer: Viewer) -> bool:
    """Whether MEMBERS_ONLY members are hidden from this viewer (ANONYMOUS only)."""
    return viewer.role == Role.ANONYMOUS


def visibility(member: dict) -> str:
    """A member view's visibility (a view without one is PUBLIC, the default)."""
    return str(member.get("visibility") or DEFAULT_VISIBILITY)


def keeps_member(viewer: Viewer, member: dict) -> bool:
    """Whether `viewer` may learn that `member` (a members view) exists."""
    return not hides(viewer) or visibility(member) == Visibility.PUBLIC


def listed_filters(viewer: Viewer, filters: dict) -> dict:
    """The filters of the `members` list as the members service is asked
    them: PUBLIC members only for a viewer they are hidden from."""
    return {**filters, "visibility": Visibility.PUBLIC.value} if hides(viewer) else filters


def split_allocations(allocations: list[dict],
                      visible: Iterable[str]) -> tuple[list[dict], list[dict]]:
    """(shown, left out): the allocations whose member is in `visible`, and the rest."""
    seen = set(visible)
    shown = [a for a in allocations if a["member_id"] in seen]
    return shown, [a for a in allocations if a["member_id"] not in seen]


def undisclosed_totals(left_out: list[dict]) -> tuple[int, Decimal]:
    """(how many, their amounts' exact sum) of the allocations left out."""
    return len(left_out), sum((Decimal(str(a["amount"])) for a in left_out), Decimal("0.00"))


def beneficiary(consultation: dict) -> str | None:
    """The member a consultation is about (its view's `beneficiary_id`; for
    an admission or a suspension, its subject), None for a general one."""
    if consultation.get("beneficiary_id"):
        return str(consultation["beneficiary_id"])
    if consultation.get("kind") in ABOUT_A_MEMBER and consultation.get("subject_id"):
        return str(consultation["subject_id"])
    return None


def redacted(consultation: dict) -> dict:
    """The consultation with nothing that names its member: title
    "<Kind>: Undisclosed member organisation", the proposal of the current
    round and of every closed one UNDISCLOSED_PROPOSAL, no subject."""
    words = KIND_WORDS.get(str(consultation.get("kind")), "Consultation")
    return {**consultation, "title": f"{words}: {UNDISCLOSED_MEMBER}",
            "proposal": UNDISCLOSED_PROPOSAL, "subject_id": None, "beneficiary_id": None,
            "rounds": [{**one, "proposal": UNDISCLOSED_PROPOSAL}
                       for one in consultation.get("rounds") or []]}


def redact_hidden(consultations: list[dict], visible: Iterable[str]) -> list[dict]:
    """Each consultation, redacted if its member is not in `visible`."""
    seen = set(visible)
    return [redacted(c) if (b := beneficiary(c)) is not None and b not in seen else c
            for c in consultations]


def reader(viewer: Viewer) -> str:
    """Who reads a focal point, as members records it: the secretariat
    person's name, else the token's subject, else "secretariat"."""
    return (viewer.name or viewer.sub or SECRETARIAT_READER)[:READER_LENGTH]


def sees_focal_point(viewer: Viewer, member_id: str) -> bool:
    """ADMIN and the member itself (its focal point and who read it)."""
    return viewer.is_admin() or viewer.is_member(member_id)


# ---- applied to a request (its Context and DataLoaders) ----------------------------------

async def visible_ids(ctx: Any, member_ids: Iterable[str]) -> set[str]:
    """Those of `member_ids` whose member the viewer may learn of, through
    the member loader (which drops the others)."""
    wanted = list(dict.fromkeys(member_ids))
    members = await ctx.loaders.member.load_many(wanted) if wanted else []
    return {m["id"] for m in members if m is not None}


async def shown_consultations(ctx: Any, consultations: list[dict]) -> list[dict]:
    """The consultations as the viewer may see them (see `redacted`)."""
    if not hides(viewer_of(ctx)):
        return consultations
    about = [b for c in consultations if c is not None and (b := beneficiary(c))]
    if not about:
        return consultations
    seen = await visible_ids(ctx, about)
    return [None if c is None else redact_hidden([c], seen)[0] for c in consultations]


def shown_page(ctx: Any, page: dict) -> dict | Awaitable[dict]:
    """A `consultations` page as the viewer may see it: the page itself
    when nothing needs a look (members, ADMIN, no consultation about a
    member), else an awaitable of it redacted (before its nodes are primed)."""
    nodes = [edge["node"] for edge in page["edges"]]
    if not hides(viewer_of(ctx)) or not any(beneficiary(n) for n in nodes):
        return page

    async def redacted_page() -> dict:
        shown = await shown_consultations(ctx, nodes)
        return {**page, "edges": [{**edge, "node": node}
                                  for edge, node in zip(page["edges"], shown)]}
    return redacted_page()


def listed_page(ctx: Any, page: dict) -> dict:
    """A `members` page without a node the viewer may not learn of (none
    once members applied `listed_filters`: this is the second lock)."""
    viewer = viewer_of(ctx)
    if not hides(viewer):
        return page
    return {**page, "edges": [e for e in page["edges"] if keeps_member(viewer, e["node"])]}


async def grant_allocations(ctx: Any, grant: dict) -> tuple[list[dict], list[dict]]:
    """(shown, left out) of a grant's allocations for the viewer."""
    allocations = await ctx.loaders.allocations_by_grant.load(grant["id"])
    if not hides(viewer_of(ctx)) or not allocations:
        return allocations, []
    seen = await visible_ids(ctx, (a["member_id"] for a in allocations))
    return split_allocations(allocations, seen)


async def shown_allocations(grant: dict, info: GraphQLResolveInfo) -> list[dict]:
    """`Grant.allocations`: those whose member the viewer may learn of."""
    return (await grant_allocations(info.context, grant))[0]


async def undisclosed_allocations(grant: dict, info: GraphQLResolveInfo) -> int:
    """`Grant.undisclosedAllocations`: how many allocations were left out."""
    return undisclosed_totals((await grant_allocations(info.context, grant))[1])[0]


async def undisclosed_amount(grant: dict, info: GraphQLResolveInfo) -> Decimal:
    """`Grant.undisclosedAmount`: the sum of the allocations left out."""
    return undisclosed_totals((await grant_allocations(info.context, grant))[1])[1]


def shown_focal_point(ctx: Any, member_id: str) -> None:
    """Note that the answer carries `member_id`'s focal point."""
    ctx.shown_focal_points.add(member_id)


async def focal_point(member: dict, info: GraphQLResolveInfo) -> dict | None:
    """`Member.focalPoint`: to the member itself from its view, to ADMIN
    through the loader that records the read; null for anyone else and
    for an erased member."""
    ctx = info.context
    viewer = viewer_of(ctx)
    if member.get("erased_at") or not sees_focal_point(viewer, member["id"]):
        return None
    if viewer.is_member(member["id"]):
        found = member.get("focal_point")
    else:
        found = await ctx.loaders.focal_point.load(member["id"])
    if found:
        shown_focal_point(ctx, member["id"])
    return found or None


async def focal_point_reads(member: dict, info: GraphQLResolveInfo) -> list[dict]:
    """`Member.focalPointReads`: to ADMIN and the member itself, else []."""
    ctx = info.context
    if not sees_focal_point(viewer_of(ctx), member["id"]):
        return []
    reads: list[dict] = await ctx.loaders.focal_point_reads.load(member["id"])
    return reads
