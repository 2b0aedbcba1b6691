"""The coalition as anyone sees it: / (for a signed-in member, first the open
rounds it has not answered), /members and /members/<id>, /grants and
/grants/<id>. Consultations are views/consultations.py, applying
views/apply.py.

Invariants:
- each page runs one query document (views/documents.py) as the viewer, so
  it shows exactly what the API gives that viewer: a focal point only when
  the API gave one, a member's history only to ADMIN and the member itself;
- a list page's filters come from its address and go back into its "Next
  page" link, so paging keeps them;
- "waiting for your stance" on / lists the OPEN rounds whose snapshot holds
  the viewer's member, which can vote and has no stance in them;
- proxies offered to the viewer's member in any open round (its live
  proxies, not only those of the rounds listed) wait on / for an answer
  (accept, decline: POST /); the accepted ones not yet used link to their
  consultation, where the stance is given.
"""
from typing import Any

from werkzeug.wrappers import Response

from services.web import charts
from services.web.page import Page
from services.web.views import documents as D
from services.web.views import proxies, route
from services.web.views.shared import (allocation_points, cursor, fmt, labels_of, list_path,
                                       member_filters, nodes)


def waiting(member: dict | None, rounds: list[dict]) -> list[dict]:
    """The open rounds `member` (the viewer's) should answer: it can vote,
    is in the round's snapshot and has not responded."""
    if not member or not member.get("canVote"):
        return []
    return [c for c in rounds if c.get("myStance") is None and c.get("inSnapshot")]


def home_page(page: Page, errors: dict[str, list[str]] | None = None,
              status: int = 200) -> Response:
    data = page.query(D.HOME, member=page.is_member, answered=page.is_member and bool(errors))
    rounds = nodes(data["open"])
    member = data["viewer"]["member"]
    offers, usable = proxies.home_offers(member if page.is_member else None,
                                         data["viewer"].get("liveProxies") or [], rounds,
                                         failed=errors or {})
    return page.render(
        "public/home.html", status=status, title=page._("The coalition"), L=labels_of(page),
        member=member, to_answer=waiting(member, rounds) if page.is_member else [],
        offers=offers, usable=usable, proxy_errors=errors or {},
        members=nodes(data["members"]), active=data["members"]["totalCount"],
        candidates=data["candidates"]["totalCount"], rounds=rounds,
        open_count=data["open"]["totalCount"], grants=nodes(data["grants"]),
        grant_count=data["grants"]["totalCount"])


@route("/", methods=("GET", "POST"))
def home(page: Page) -> Response:
    """GET: the home page. POST: accept or decline a proxy offered to the
    viewer's member (views/proxies.py); a refusal is shown beside the offer."""
    if page.request.method != "POST":
        return home_page(page)
    done, errors, status = proxies.act(page, "/", allowed=("accept", "decline"))
    return done if done is not None else home_page(page, errors, status)


@route("/members")
def members(page: Page) -> Response:
    filters, errors = member_filters(page)
    data = page.query(D.MEMBERS, after=cursor(page.request.args), **filters)["members"]
    L = labels_of(page)
    return page.render(
        "public/members.html", title=page._("Members"), L=L, errors=errors,
        filters=filters, typed_country=page.request.args.get("country", ""),
        members=nodes(data), total=data["totalCount"], page_info=data["pageInfo"],
        next_base=list_path("/members", filters), paged=bool(cursor(page.request.args)),
        status_options=[("", page._("Any status"))] + L.options("member_status"),
        constituency_options=[("", page._("Any constituency"))] + L.options("constituency"),
        country_options=[("", page._("Any country"))] + L.country_options(),
        filtered=any(filters.values()))


@route("/members/<id>")
def member(page: Page, id: str) -> Response:
    data = page.query(D.MEMBER, id=id)
    found = data["member"]
    if found is None:
        page.not_found()
    viewer_member = data["viewer"]["member"]
    own = bool(viewer_member and viewer_member["id"] == found["id"])
    allocations = found["allocations"]
    chart = charts.allocations_over_time(allocation_points(allocations), page._,
                                         fmt(page, "money"), fmt(page, "day"), "allocations")
    return page.render(
        "public/member.html", title=found["name"], L=labels_of(page), m=found, own=own,
        privileged=own or page.is_admin, allocations=allocations, chart=chart,
        chart_text=charts.allocations_text(allocation_points(allocations), page._,
                                           fmt(page, "money"), fmt(page, "day")))


@route("/grants")
def grants(page: Page) -> Response:
    data = page.query(D.GRANTS, after=cursor(page.request.args))["grants"]
    return page.render("public/grants.html", title=page._("Grants"), L=labels_of(page),
                       grants=nodes(data), total=data["totalCount"], page_info=data["pageInfo"],
                       paged=bool(cursor(page.request.args)))


def grant_chart(page: Page, grant: dict[str, Any]) -> Any:
    values = (grant["amount"], grant["allocated"], grant["disbursed"], grant["available"],
              grant["currency"], page._, fmt(page, "money"))
    return charts.figure(charts.grant_split(*values, id_prefix=f"grant-{grant['id']}"),
                         charts.grant_legend(*values))


@route("/grants/<id>")
def grant(page: Page, id: str) -> Response:
    found = page.query(D.GRANT, id=id)["grant"]
    if found is None:
        page.not_found()
    return page.render("public/grant.html", title=found["title"], L=labels_of(page), g=found,
                       chart=grant_chart(page, found))
