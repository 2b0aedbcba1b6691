"""Reports on allocations (DOMAIN.md section 10) in the gateway: who sees
which report, the resolvers of `Allocation.reports`, `Query.report` and
`Query.overdueReports`, and the report and grant-closing mutations (each one
RPC to grants, which checks every rule of the report's life).

Who sees a report (`sees`), wherever the API shows one:
- ADMIN: every report;
- the MEMBER that received the allocation: every report on it, whatever
  its status (it writes them);
- another MEMBER: only ACCEPTED reports (what the coalition stands behind;
  a draft sent back, or one not yet reviewed, stays between the member and
  the secretariat);
- ANONYMOUS: none, and no call is made for it.
`Allocation.reports` leaves out what the viewer may not see, and
`report(id:)` answers null for it, as for an id that names nothing (so a
report's existence is not told either). The mutations answer only to those
who may make them (`MAY_CALL` in mutations.py: scheduleReport, reviewReport
and closeGrant ADMIN, submitReport the member itself, `reporter`), and each
answers its own report, which its caller sees by this rule.

This module imports no GraphQL type nor inputs.py (which imports types.py):
types.py and mutations.py import it.
"""
from typing import Any

from graphql import GraphQLResolveInfo

from services.common.errors import Forbidden
from services.common.vocabulary import ReportStatus, Role
from services.gateway.auth import Viewer

# overdueReports answers at most this many (grants' overdue_reports `limit`);
# limits.py counts the list as this many in a query's cost
OVERDUE_LIMIT = 100
ONLY_THE_MEMBER = "Only the member that received the allocation submits its report."


def sees(viewer: Viewer, report: dict) -> bool:
    """Whether `viewer` may see `report` (a grants report view): the rule above."""
    if viewer.is_admin():
        return True
    if viewer.role != Role.MEMBER or not viewer.member_id:
        return False
    return viewer.member_id == report["member_id"] or report["status"] == ReportStatus.ACCEPTED


async def visible_reports(allocation: dict, info: GraphQLResolveInfo) -> list[dict]:
    """`Allocation.reports`: the allocation's reports the viewer sees, oldest
    first (one reports_by_allocations call per query level; none for ANONYMOUS)."""
    viewer = info.context.viewer
    if viewer.role == Role.ANONYMOUS:
        return []
    reports = await info.context.loaders.reports.load(allocation["id"])
    return [report for report in reports if sees(viewer, report)]


async def report(root: Any, info: GraphQLResolveInfo, id: str) -> dict | None:
    """`report(id:)`: the report if the viewer sees it, else null (as for an
    unknown id)."""
    viewer = info.context.viewer
    if viewer.role == Role.ANONYMOUS:
        return None
    found = await info.context.loaders.report.load(id)
    return found if found is not None and sees(viewer, found) else None


def overdue_reports(root: Any, info: GraphQLResolveInfo) -> list[dict]:
    """`overdueReports` (ADMIN only; a MEMBER is FORBIDDEN, ANONYMOUS
    UNAUTHENTICATED): DUE or CHANGES_REQUESTED reports past their due date,
    the longest overdue first, at most OVERDUE_LIMIT."""
    ctx = info.context
    ctx.viewer.require_admin()
    reports = ctx.call("grants", "overdue_reports", OVERDUE_LIMIT)
    for one in reports:
        ctx.loaders.report.prime(one["id"], one)
    return reports


# ---- who may submit (a MAY_CALL check, mutations.py) -----------------------------------------

def reporter(ctx: Any, args: dict) -> None:
    """A MEMBER token: the member that received the allocation writes its
    report (grants checks it is that member). ADMIN is FORBIDDEN: the
    secretariat reviews reports, it does not write them for a member."""
    ctx.viewer.require_token()
    if ctx.viewer.role != Role.MEMBER or not ctx.viewer.member_id:
        raise Forbidden(ONLY_THE_MEMBER)


# ---- the mutations' resolvers -------------------------------------------------------------

INDICATOR_KEYS = ("name", "unit", "target", "actual")


def report_data(input: dict) -> dict:
    """A ReportInput as grants' submit_report takes it: plain dicts, each
    indicator with all four keys (an optional one left out is null). Its
    names are single words, the same in snake_case and camelCase."""
    return {"narrative": input["narrative"], "spent": input["spent"],
            "indicators": [{key: row.get(key) for key in INDICATOR_KEYS}
                           for row in input["indicators"]]}


def schedule_report(root: Any, info: GraphQLResolveInfo, allocation_id: str,
                    due_on: str) -> dict:
    """A DUE report on an APPROVED allocation (else CONFLICT;
    an unknown allocation NOT_FOUND); the due date may be in the past."""
    return info.context.call("grants", "schedule_report", allocation_id, due_on)


def submit_report(root: Any, info: GraphQLResolveInfo, id: str, input: dict) -> dict:
    """The viewer's member submits a DUE or CHANGES_REQUESTED report on its
    own allocation (grants: FORBIDDEN for another member, BAD_USER_INPUT on
    `narrative`, `spent` or `indicators`, CONFLICT in any other status)."""
    ctx = info.context
    return ctx.call("grants", "submit_report", id, ctx.viewer.member_id,
                    report_data(input))


def review_report(root: Any, info: GraphQLResolveInfo, id: str, accept: bool,
                  note: str | None = None) -> dict:
    """Accept a SUBMITTED report, or send it back with a note (required then)."""
    return info.context.call("grants", "review_report", id, bool(accept), note)


def close_grant(root: Any, info: GraphQLResolveInfo, id: str) -> dict:
    """ACTIVE -> CLOSED (CONFLICT otherwise): no disbursement after it;
    reports on its allocations can still be scheduled, submitted and reviewed."""
    return info.context.call("grants", "close_grant", id)
