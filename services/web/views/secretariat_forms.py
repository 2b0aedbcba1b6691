"""What the secretariat's forms share (views/secretariat*.py): reading typed
values, a moment typed as a date and a time in UTC, the API's errors put
beside the form's fields, the options of a select, and CSV answers.

Invariants:
- a form shown again shows what was typed (`typed`), never what the API
  changed it to;
- an API error names a form field when the field exists (its key as the API
  names it, `focalPoint.email`, `countries.0` -> `countries`,
  `indicators[1].actual` -> `indicators`); any other
  goes to the error summary (key ""), so no message is ever lost;
- a moment is sent as ISO-8601 in UTC, built from what was typed; the web
  app judges only the shape of a date or a time, the API everything else;
- money is never converted: the typed text goes to the API as it was typed
  (stripped), which refuses what is not exact;
- every cell of a CSV goes through services/export.py `cell`, which keeps a
  spreadsheet from running text written by people as a formula.
"""
import csv
import io
import re
from datetime import date, datetime, time, timezone
from typing import Any, Iterable, Mapping

from werkzeug.wrappers import Response

from services.export import cell
from services.web.page import FORM_KEY, Page
from services.web.views.shared import api_messages, cursor

Errors = dict[str, list[str]]
MAX_CHOICE_PAGES = 25  # a select is filled from at most this many pages of the API
# the last part of an API error's key within a list or an object (".0",
# "[1]", ".actual"): left off until the key names a form field
NESTED = re.compile(r"(\.[^.\[]+|\[\d+\])$")


def typed(page: Page, *multi: str) -> dict[str, Any]:
    """The posted form: one stripped string per field, a list for `multi`."""
    values: dict[str, Any] = {k: v.strip() for k, v in page.form.items()}
    for name in multi:
        values[name] = [v.strip() for v in page.form.getlist(name) if v.strip()]
    values.pop("csrf_token", None)
    values.pop(FORM_KEY, None)
    return values


def optional(value: str | None) -> str | None:
    """An empty field is null for the API."""
    return value or None


def moment(page: Page, values: Mapping[str, Any], name: str, errors: Errors,
           required: bool = True) -> str | None:
    """The moment typed in `name` (a date, YYYY-MM-DD) and `name`Time (HH:MM),
    both in UTC, as ISO-8601; None when both are empty and not `required`.
    A date or time that cannot be read adds an error beside its field."""
    day_text, time_text = values.get(name, ""), values.get(name + "Time", "")
    if not day_text and not time_text and not required:
        return None
    on = day(page, values, name, errors)
    at: time | None = None
    try:
        at = time.fromisoformat(time_text)
    except ValueError:
        errors.setdefault(name + "Time", []).append(
            page._("Enter a time on the 24-hour clock, for example 18:00."))
    if on is None or at is None:
        return None
    return datetime.combine(on, at.replace(tzinfo=None), timezone.utc).isoformat()


def day(page: Page, values: Mapping[str, Any], name: str, errors: Errors) -> date | None:
    """The date typed in `name` (YYYY-MM-DD), or None with an error beside it."""
    try:
        return date.fromisoformat(values.get(name, ""))
    except ValueError:
        errors.setdefault(name, []).append(
            page._("Enter a date as year-month-day, for example 2026-12-03."))
        return None


def fraction(page: Page, values: Mapping[str, Any], name: str, errors: Errors) -> float | None:
    """A number typed as a fraction (0.5); None if empty. The API judges its range."""
    text = values.get(name, "").replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        errors.setdefault(name, []).append(page._("Enter a number, for example 0.5."))
        return None


def form_errors(api: Mapping[str, list[str]], fields: Iterable[str]) -> Errors:
    """The API's errors by the form's field names (see the module docstring)."""
    known = set(fields)
    out: Errors = {}
    for key, messages in api.items():
        name = key
        while name not in known and NESTED.search(name):
            name = NESTED.sub("", name)
        if name in known:
            out.setdefault(name, []).extend(messages)
        else:
            shown = [m if key in ("", "_", "_schema") else f"{key}: {m}" for m in messages]
            out.setdefault("", []).extend(shown)
    return out


def refusal(page: Page, api: Mapping[str, list[str]], fields: Iterable[str]) -> Errors:
    """A mutation's errors (page.Result.errors) by the form's field names, the
    API's usual messages in the page's language (views/shared.py)."""
    return form_errors(api_messages(page, api), fields)


def all_nodes(page: Page, document: str, path: str, **variables: Any) -> list[dict]:
    """Every node of the connection at `path` (e.g. "members"), page after page
    (at most MAX_CHOICE_PAGES)."""
    nodes: list[dict] = []
    after: str | None = None
    for _ in range(MAX_CHOICE_PAGES):
        found = page.query(document, after=after, **variables)[path]
        nodes += [edge["node"] for edge in found["edges"]]
        if not found["pageInfo"]["hasNextPage"]:
            break
        after = found["pageInfo"]["endCursor"]
    return nodes


def written(value: Any) -> str:
    """A cell of text written by people, guarded as services/export.py guards
    its text columns (a list is one cell: "KG UZ")."""
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    return cell("title", value)  # "title" is one of export.TEXT_COLUMNS: guarded


def csv_text(columns: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A CSV table, every cell guarded (`written`), with a BOM so that
    spreadsheets read Cyrillic as UTF-8."""
    stream = io.StringIO()
    stream.write("\ufeff")
    writer = csv.writer(stream)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([written(row.get(c)) for c in columns])
    return stream.getvalue()


def after(page: Page) -> str | None:
    """The `after` of a list page, if it looks like one of the API's cursors."""
    return cursor(page.request.args)


def csv_response(text: str, filename: str) -> Response:
    """A download: text/csv, never cached, with its file name."""
    return Response(text, content_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})
