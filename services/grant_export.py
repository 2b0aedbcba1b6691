"""A grant's allocations, disbursements or reports as one CSV table each,
for the finance people who live in spreadsheets: `coalition export grant ID
KIND` (services/cli_export.py) and the secretariat's CSV links of a grant
(the web app). Pure: the callers fetch, this shapes and writes.

Every function takes the grants service's RPC views, as they come over RPC
(snake_case keys, money as "x.xx" text, dates "YYYY-MM-DD"):
- `grant`: grants.get's view (id, title, currency, ...);
- `allocations`: the grant's allocation views, oldest first
  (grants.allocations_by_grants()[grant id]);
- `children`: {allocation id: [views, oldest first]}, grants'
  disbursements_by_allocations or reports_by_allocations of those
  allocations (not used for "allocations"; an allocation missing has none);
- `names`: {member id: member name} (members.get_many); an id missing gives
  an empty name.

`from_api` makes these arguments from a `grant(id:)` answer of the GraphQL
API (camelCase, each allocation with `member { id name }` and its
`disbursements` or `reports`), for a caller that asks the gateway.

One row per allocation, per disbursement or per report, grouped by
allocation in the order given. A report's indicators are one cell,
"name: actual [unit] (target T)" joined by "; ". Amounts stay the exact text
the service gave, in the grant's currency (the `currency` column).

Invariant: text written by people (titles, purposes, names, references,
narratives, notes, indicators) never starts a cell with a character a
spreadsheet runs as a formula: services/export.py's guard (`cell`).
"""
import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from services.export import cell

Row = dict[str, Any]
View = Mapping[str, Any]

_GRANT = ["grant_id", "grant_title", "currency"]
COLUMNS: dict[str, list[str]] = {
    "allocations": _GRANT + ["allocation_id", "member_id", "member_name", "status", "amount",
                             "disbursed", "purpose", "created_at"],
    "disbursements": _GRANT + ["disbursement_id", "allocation_id", "member_id", "member_name",
                               "amount", "paid_on", "reference", "recorded_at"],
    "reports": _GRANT + ["report_id", "allocation_id", "member_id", "member_name", "due_on",
                         "status", "overdue", "spent", "submitted_at", "reviewed_at",
                         "review_note", "narrative", "indicators"],
}
KINDS = tuple(COLUMNS)  # "allocations", "disbursements", "reports"
# the columns of text written by people, each guarded as services/export.py guards its own
TEXT = {"grant_title", "member_name", "purpose", "reference", "review_note", "narrative",
        "indicators"}


def grant_cell(column: str, value: Any) -> str:
    """A value as its cell: services/export.py's `cell`, guarded in a TEXT column."""
    return cell(column, value, TEXT)


def _base(grant: View, allocation: View, names: Mapping[str, str]) -> Row:
    return {"grant_id": grant["id"], "grant_title": grant.get("title"),
            "currency": grant.get("currency"), "allocation_id": allocation["id"],
            "member_id": allocation.get("member_id"),
            "member_name": names.get(allocation.get("member_id") or "", "")}


def allocation_rows(grant: View, allocations: Iterable[View],
                    names: Mapping[str, str]) -> Iterator[Row]:
    """One row per allocation: its member, status, amount, what was disbursed
    of it, its purpose and when it was proposed."""
    for allocation in allocations:
        yield {**_base(grant, allocation, names), "status": allocation.get("status"),
               "amount": allocation.get("amount"), "disbursed": allocation.get("disbursed"),
               "purpose": allocation.get("purpose"), "created_at": allocation.get("created_at")}


def disbursement_rows(grant: View, allocations: Iterable[View],
                      disbursements: Mapping[str, Sequence[View]],
                      names: Mapping[str, str]) -> Iterator[Row]:
    """One row per disbursement: the allocation and member it paid, the
    amount, the day it was paid, its reference and when it was recorded."""
    for allocation in allocations:
        for paid in disbursements.get(allocation["id"], ()):
            yield {**_base(grant, allocation, names), "disbursement_id": paid["id"],
                   "amount": paid.get("amount"), "paid_on": paid.get("paid_on"),
                   "reference": paid.get("reference"), "recorded_at": paid.get("recorded_at")}


def indicators_text(indicators: Iterable[View]) -> str:
    """A report's indicators in one cell: "name: actual [unit] (target T)",
    joined by "; " (empty when there are none)."""
    parts = []
    for indicator in indicators:
        text = f"{indicator['name']}: {indicator['actual']}"
        if indicator.get("unit"):
            text += f" {indicator['unit']}"
        if indicator.get("target") is not None:
            text += f" (target {indicator['target']})"
        parts.append(text)
    return "; ".join(parts)


def report_rows(grant: View, allocations: Iterable[View], reports: Mapping[str, Sequence[View]],
                names: Mapping[str, str]) -> Iterator[Row]:
    """One row per report: due date, status, overdue, amount spent, when it
    was submitted and reviewed, the review note, the narrative and the
    indicators."""
    for allocation in allocations:
        for report in reports.get(allocation["id"], ()):
            yield {**_base(grant, allocation, names), "report_id": report["id"],
                   "due_on": report.get("due_on"), "status": report.get("status"),
                   "overdue": bool(report.get("overdue")), "spent": report.get("spent"),
                   "submitted_at": report.get("submitted_at"),
                   "reviewed_at": report.get("reviewed_at"),
                   "review_note": report.get("review_note"),
                   "narrative": report.get("narrative"),
                   "indicators": indicators_text(report.get("indicators") or ())}


def rows(kind: str, grant: View, allocations: Sequence[View],
         children: Mapping[str, Sequence[View]], names: Mapping[str, str]) -> Iterator[Row]:
    """The rows of `kind` (one of KINDS; KeyError otherwise)."""
    if kind == "allocations":
        return allocation_rows(grant, allocations, names)
    if kind == "disbursements":
        return disbursement_rows(grant, allocations, children, names)
    if kind == "reports":
        return report_rows(grant, allocations, children, names)
    raise KeyError(kind)


def write_rows(stream: TextIO, kind: str, table: Iterable[Row]) -> None:
    """The header of `kind`, then one line per row, in COLUMNS[kind]'s order."""
    writer = csv.writer(stream)
    writer.writerow(COLUMNS[kind])
    for row in table:
        writer.writerow([grant_cell(c, row.get(c)) for c in COLUMNS[kind]])


def grant_csv(kind: str, grant: View, allocations: Sequence[View],
              children: Mapping[str, Sequence[View]], names: Mapping[str, str]) -> str:
    """The whole CSV text of `kind` (see the module's docstring for the arguments)."""
    buffer = io.StringIO(newline="")
    write_rows(buffer, kind, rows(kind, grant, allocations, children, names))
    return buffer.getvalue()


def snake(value: Any) -> Any:
    """camelCase keys -> snake_case, all the way down (values unchanged)."""
    if isinstance(value, Mapping):
        return {re.sub(r"(?<!^)(?=[A-Z])", "_", k).lower(): snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake(v) for v in value]
    return value


def from_api(kind: str, grant: Mapping[str, Any]) -> tuple[Row, list[Row], dict, dict]:
    """(grant, allocations, children, names) for `rows` and `grant_csv`, from
    a GraphQL `grant` answer whose allocations hold `member { id name }` and,
    for "disbursements" and "reports", that list."""
    view = snake(grant)
    allocations: list[Row] = [{**a, "member_id": (a.get("member") or {}).get("id")}
                   for a in view.get("allocations") or []]
    children = {a["id"]: a.get(kind) or [] for a in allocations} if kind != "allocations" else {}
    names = {a["member_id"]: a["member"].get("name") or "" for a in allocations
             if a.get("member_id")}
    return view, allocations, children, names
