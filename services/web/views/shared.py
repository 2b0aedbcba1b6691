"""What the public and member views (views/public.py, views/apply.py,
views/consultations.py, views/member.py) share: the page's labels and
formatters, a connection's nodes, the API's field errors as form fields,
and the filters a list page reads from its address.

Invariants:
- a value read from the address (a filter, a cursor) reaches a query only
  if it is one the API takes (an enum value, a country code, text of a
  bounded length): a hand-edited address gives a page, never a 500;
- an API error that names a field the form does not have is shown at the
  top of the form (key ""), never dropped;
- a link from the API (a notification's) is shown as a path of this site,
  never as an address of another host.
"""
import re
from datetime import datetime
from typing import Any, Iterable, Mapping
from urllib.parse import urlencode, urlsplit

from services.common.vocabulary import Constituency, ConsultationStatus, MemberStatus
from services.web.page import N_, Page
from services.web.views.labels import Labels, country_names, labels

SEARCH_LENGTH = 200          # the members service's longest search
CURSOR = re.compile(r"^[A-Za-z0-9_=\-]{1,200}$")


def labels_of(page: Page) -> Labels:
    return labels(page._, page.language)


def fmt(page: Page, name: str) -> Any:
    """One of the page's formatting filters (services/web/i18n.py): when, day, money, number."""
    return page.words.filters[name]


def nodes(connection: Mapping[str, Any]) -> list[dict]:
    return [edge["node"] for edge in connection["edges"]]


def form_errors(errors: Mapping[str, list[str]], names: Mapping[str, str]) -> dict[str, list[str]]:
    """The API's errors by field (page.Result.errors) as form field names:
    `names` maps an API field ("focalPoint.email") to a form field; an item
    of a list ("countries.0") goes to its list's field; the rest to ""."""
    found: dict[str, list[str]] = {}
    for key, messages in errors.items():
        base = re.sub(r"\.\d+$", "", key)
        name = names.get(key, names.get(base, ""))
        found.setdefault(name, []).extend(messages)
    return found


# messages of the API a form shows often, in the catalogue so that a Russian
# page shows them in Russian (any other message is shown as the API wrote it)
API_MESSAGES = frozenset({
    N_("A BLOCK needs a reason: say what principle it protects."),
    N_("Must not be empty."),
    N_("Name at least one country."),
    N_("Name at least one constituency."),
    N_("A member with this name already exists."),
    N_("This focal point's e-mail address is already used by another member."),
    N_("Only digits, spaces and + ( ) - ."),
    # proxies (services/consultations/proxies.py)
    N_("It is your own organisation."),
    N_("This consultation is about it."),
    N_("Not in this round's snapshot."),
    N_("Only a member organisation, with its own token, can give, hold or use a proxy."),
    N_("Only the member this proxy was offered to can accept or decline it."),
    N_("Only the member that gave this proxy can revoke it."),
    N_("You hold no accepted proxy from this member in this round, so you cannot respond "
       "for it."),
    N_("This proxy has already been used: a proxy casts one stance."),
    N_("This proxy has already been used; cast your own stance to replace the one cast "
       "for you."),
    N_("Your organisation has already responded in this round; a proxy could only replace "
       "its own stance. Change your stance instead."),
    N_("This proxy changed meanwhile; reload the page and try again."),
    N_("This proxy's round is over; proxies end with their round."),
})


def api_messages(page: Page, errors: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """`errors` with the messages of API_MESSAGES in the page's language."""
    return {name: [page._(m) if m in API_MESSAGES else m for m in messages]
            for name, messages in errors.items()}


def cursor(args: Mapping[str, str]) -> str | None:
    """The `after` of a list page, if it looks like one of the API's cursors."""
    value = args.get("after", "")
    return value if CURSOR.match(value) else None


def enum_arg(args: Mapping[str, str], name: str, values: Iterable[str]) -> str | None:
    value = args.get(name, "")
    return value if value in {str(v) for v in values} else None


def member_filters(page: Page) -> tuple[dict[str, str | None], dict[str, list[str]]]:
    """(the /members filters for the query, errors by field) from the address."""
    args = page.request.args
    errors: dict[str, list[str]] = {}
    country = args.get("country", "").strip().upper() or None
    if country and country not in country_names(page.language):
        errors["country"] = [page._("Choose a country from the list.")]
        country = None
    search = " ".join(args.get("search", "").split())[:SEARCH_LENGTH] or None
    return {"status": enum_arg(args, "status", MemberStatus),
            "constituency": enum_arg(args, "constituency", Constituency),
            "country": country, "search": search}, errors


def consultation_status(page: Page) -> str | None:
    return enum_arg(page.request.args, "status", ConsultationStatus)


def list_path(base: str, filters: Mapping[str, str | None]) -> str:
    """`base` with the filters that are set, for the pager's next link."""
    query = urlencode([(k, v) for k, v in filters.items() if v])
    return f"{base}?{query}" if query else base


def local_link(link: str | None) -> str | None:
    """A link of the API (absolute, under PUBLIC_URL) as a path of this site."""
    if not link:
        return None
    parts = urlsplit(link)
    if parts.scheme not in ("http", "https", "") or not parts.path.startswith("/") \
            or parts.path.startswith("//"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "") + \
        (f"#{parts.fragment}" if parts.fragment else "")


def allocation_points(allocations: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """(when, amount, currency, status) of each allocation, for
    charts.allocations_over_time: when its consultation opened (an allocation
    has no date of its own), else its first disbursement."""
    points = []
    for a in allocations:
        consultation = a.get("consultation") or {}
        when = consultation.get("openedAt") or next(
            (d["paidOn"] for d in a.get("disbursements") or []), None)
        if when:
            points.append((when, a["amount"], a["grant"]["currency"], a["status"]))
    return points


def newest_first(reads: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A member's focal-point read records (DOMAIN.md section 11: when, by
    whom), the newest first whatever order the API gave them in."""
    return sorted(reads, key=lambda r: datetime.fromisoformat(r["at"]), reverse=True)
