"""A consultation as one CSV table: `coalition export consultation ID`
(services/cli.py) and the secretariat's export.csv
(services/web/views/secretariat_consultations.py). Pure: they fetch, this
shapes and writes.

The `record` column says what a row is: consultation, round, stance or
proxy. A stance cast by proxy names its holder in `cast_by` (`member_id` is
the granter's). A proxy row is one change of a proxy (DOMAIN.md section 9):
`member_id` the granter, `holder_id`, `proxy_status` the status it took,
`actor` the member that acted and `cast_at` when.

Invariants: text written by people (titles, proposals, reasons, names) never
starts a cell with a character a spreadsheet runs as a formula; no
focal-point data is in any row; no export is made while the current round's
results are hidden (`results_hidden`: the services refuse to give its
stances, and the callers refuse first).
"""
import csv
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, TextIO

from services.common.vocabulary import ConsultationStatus, ResultsVisibility

Row = dict[str, Any]

EXPORT_COLUMNS: list[str] = [
    "record", "consultation_id", "kind", "title", "status", "rule", "quorum", "threshold",
    "round", "proposal", "outcome", "explanation", "eligible", "responded", "agree",
    "reservations", "stand_aside", "block", "quorum_reached", "opened_at", "closes_at",
    "closed_at", "member_id", "member_name", "stance", "reason", "cast_at", "replaces",
    "superseded", "cast_by", "holder_id", "proxy_status", "actor",
]
HIDDEN = ("this round's results are hidden until it closes: export the consultation "
          "once the round is closed")
TEXT_COLUMNS = {"title", "proposal", "explanation", "member_name", "reason"}


def cell(column: str, value: Any, text_columns: Collection[str] = TEXT_COLUMNS) -> str:
    """Text written by people (a column of `text_columns`) is data: never let
    a spreadsheet run it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = str(value)
    if column in text_columns and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def results_hidden(consultation: Mapping[str, Any]) -> bool:
    """Whether the current round's values are hidden (a HIDDEN_UNTIL_CLOSED
    consultation whose round is OPEN): no export then."""
    return (consultation.get("results_visibility") == ResultsVisibility.HIDDEN_UNTIL_CLOSED
            and consultation["status"] == ConsultationStatus.OPEN)


def _tally(tally: Mapping[str, Any]) -> Row:
    return {k: tally.get(k) for k in ("eligible", "responded", "agree", "reservations",
                                      "stand_aside", "block", "quorum_reached")}


def export_rows(consultation: Mapping[str, Any], audit: list[Mapping[str, Any]],
                names: Mapping[str, str],
                proxies: Iterable[Mapping[str, Any]] = ()) -> Iterator[Row]:
    """The consultation, each round (closed ones, then the open one), every
    stance ever cast (replaced ones too, marked superseded), then every change
    of a proxy (`proxies`: consultations' proxy_audit), each oldest first."""
    base = {"consultation_id": consultation["id"], "kind": consultation["kind"],
            "title": consultation["title"]}
    yield {**base, "record": "consultation", "status": consultation["status"],
           "rule": consultation["rule"], "quorum": consultation["quorum"],
           "threshold": consultation.get("threshold"), "round": consultation["round"],
           "proposal": consultation["proposal"], "outcome": consultation.get("outcome"),
           "opened_at": consultation["opened_at"], "closes_at": consultation["closes_at"],
           "closed_at": consultation.get("closed_at"), **_tally(consultation["tally"])}
    closed_numbers: set[int] = set()
    for r in consultation["rounds"]:
        closed_numbers.add(r["number"])
        yield {**base, "record": "round", "status": "CLOSED", "round": r["number"],
               "proposal": r["proposal"], "outcome": r["outcome"],
               "explanation": r.get("explanation"), "closed_at": r["closed_at"],
               **_tally(r["tally"])}
    if consultation["round"] not in closed_numbers:  # the current round, not closed
        yield {**base, "record": "round", "status": consultation["status"],
               "round": consultation["round"], "proposal": consultation["proposal"],
               "closes_at": consultation["closes_at"], **_tally(consultation["tally"])}
    last: dict[tuple[int, str], int] = {}
    for i, entry in enumerate(audit):
        last[(entry["round"], entry["member_id"])] = i
    for i, entry in enumerate(audit):
        yield {**base, "record": "stance", "round": entry["round"],
               "member_id": entry["member_id"], "member_name": names.get(entry["member_id"], ""),
               "stance": entry["value"], "reason": entry.get("reason"),
               "cast_at": entry.get("cast_at") or entry.get("at"),
               "replaces": entry.get("replaces"),
               "superseded": last[(entry["round"], entry["member_id"])] != i,
               "cast_by": entry.get("cast_by")}
    for change in proxies:
        yield {**base, "record": "proxy", "round": change["round"],
               "member_id": change["granter_id"],
               "member_name": names.get(change["granter_id"], ""),
               "holder_id": change["holder_id"], "proxy_status": change["status"],
               "actor": change.get("actor"), "cast_at": change.get("at")}


def write_csv(stream: TextIO, rows: Iterable[Row]) -> None:
    """The header, then one line per row, in EXPORT_COLUMNS' order."""
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([cell(c, row.get(c)) for c in EXPORT_COLUMNS])
