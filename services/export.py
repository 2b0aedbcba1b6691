"""A consultation as one CSV table: `coalition export consultation ID`
(services/cli.py). Pure: the CLI fetches, this shapes and writes.

The `record` column says what a row is: consultation, round or stance.
Invariant: text written by people (titles, proposals, reasons, names) never
starts a cell with a character a spreadsheet runs as a formula, and no
focal-point data is in any row.
"""
import csv
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

Row = dict[str, Any]

EXPORT_COLUMNS: list[str] = [
    "record", "consultation_id", "kind", "title", "status", "rule", "quorum", "threshold",
    "round", "proposal", "outcome", "explanation", "eligible", "responded", "agree",
    "reservations", "stand_aside", "block", "quorum_reached", "opened_at", "closes_at",
    "closed_at", "member_id", "member_name", "stance", "reason", "cast_at", "replaces",
    "superseded",
]
TEXT_COLUMNS = {"title", "proposal", "explanation", "member_name", "reason"}


def cell(column: str, value: Any) -> str:
    """Text written by people is data: never let a spreadsheet run it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    value = str(value)
    if column in TEXT_COLUMNS and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _tally(tally: Mapping[str, Any]) -> Row:
    return {k: tally.get(k) for k in ("eligible", "responded", "agree", "reservations",
                                      "stand_aside", "block", "quorum_reached")}


def export_rows(consultation: Mapping[str, Any], audit: list[Mapping[str, Any]],
                names: Mapping[str, str]) -> Iterator[Row]:
    """The consultation, each round (closed ones, then the open one) and every
    stance ever cast (replaced ones too, marked superseded), oldest first."""
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
               "superseded": last[(entry["round"], entry["member_id"])] != i}


def write_csv(stream: TextIO, rows: Iterable[Row]) -> None:
    """The header, then one line per row, in EXPORT_COLUMNS' order."""
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow([cell(c, row.get(c)) for c in EXPORT_COLUMNS])
