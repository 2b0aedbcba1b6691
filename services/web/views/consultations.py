"""/consultations (a status filter, pages) and /consultations/<id>: the
proposal, its earlier rounds and what changed between them, the tally as a
chart and in words, who has not responded, and for a member in the round's
snapshot the stance form (POST to the same path runs castStance) and its
proxies (POST /consultations/<id>/proxies: offer, accept, decline, revoke;
views/proxies.py).

Invariants:
- the stance form is offered only while the round is OPEN, to a member in
  its snapshot that can vote; the API decides anyway, and what it refuses
  is shown beside the field it names ("reason" beside the Reason box), with
  what was typed kept;
- a stance, once cast, is shown with "Change your stance" until the round
  closes, and the form then comes prefilled with it;
- after a cast the browser is sent back to the page (303), which reads the
  new stance and tally (DOMAIN.md section 5: read your writes);
- who has not responded is shown only to ADMIN and to members in the
  snapshot (DOMAIN.md section 9), from the API's own lists;
- the stance form's "for" choice offers the viewer's organisation and each
  member whose proxy it holds ACCEPTED (castStance onBehalfOf); a refusal of
  the proxy is shown beside that choice;
- while a HIDDEN_UNTIL_CLOSED round is open the API gives no counts: the page
  says they are hidden until the round closes and shows only who responded
  against the quorum (charts.hidden).
"""
from typing import Any

from markupsafe import Markup
from werkzeug.wrappers import Response

from services.common.vocabulary import StanceValue
from services.web import charts
from services.web.diff import word_diff
from services.web.page import Page
from services.web.views import documents as D
from services.web.views import proxies, route
from services.web.views.shared import (api_messages, consultation_status, cursor, fmt, form_errors,
                                       labels_of, list_path, nodes)

STANCES = tuple(str(v) for v in StanceValue)


def stance_options(page: Page) -> list[tuple[str, str, str]]:
    """(value, label, a one-line explanation) of the four stances (DOMAIN.md section 2)."""
    return [
        ("AGREE", page._("Agree"), page._("You support the proposal as it stands.")),
        ("RESERVATIONS", page._("Agree with reservations"),
         page._("You support it but have concerns; say them in the reason.")),
        ("STAND_ASIDE", page._("Stand aside"),
         page._("You will not stop it, and you will not take part in carrying it out.")),
        ("BLOCK", page._("Block"),
         page._("A principled objection that stops the proposal; a reason is required.")),
    ]


@route("/consultations")
def consultations(page: Page) -> Response:
    status = consultation_status(page)
    after = cursor(page.request.args)
    data = page.query(D.CONSULTATIONS, status=status, after=after)["consultations"]
    L = labels_of(page)
    return page.render(
        "public/consultations.html", title=page._("Consultations"), L=L, errors={},
        chosen_status=status or "", consultations=nodes(data), total=data["totalCount"],
        page_info=data["pageInfo"], paged=bool(after),
        next_base=list_path("/consultations", {"status": status}),
        status_options=[("", page._("Any status"))] + L.options("consultation_status"))


def versions(c: dict[str, Any]) -> list[tuple[int, str]]:
    """(round, proposal) of every round so far, oldest first: the closed
    rounds, then the current one while it is not closed."""
    found = [(r["number"], r["proposal"]) for r in c["rounds"]]
    if not found or found[-1][0] < c["round"]:
        found.append((c["round"], c["proposal"]))
    return found


def changes(page: Page, c: dict[str, Any]) -> dict[int, Markup]:
    """Round number -> what changed in its proposal since the round before."""
    found: dict[int, Markup] = {}
    listed = versions(c)
    for (_, earlier), (number, later) in zip(listed, listed[1:]):
        diff = word_diff(earlier, later, page._)
        found[number] = diff.html if diff.changed else Markup("")
    return found


def not_named(c: dict[str, Any]) -> int:
    """How many of those who have not responded the page does not name (it
    names at most documents.AWAITING_SHOWN of them)."""
    return max(0, c["tally"]["eligible"] - c["tally"]["responded"] - len(c["awaiting"]))


def tally_figure(page: Page, tally: dict[str, Any], quorum: float, id_prefix: str) -> Markup:
    number = fmt(page, "number")
    return charts.figure(charts.tally_bar(tally, quorum, page._, id_prefix, number),
                         charts.tally_legend(tally, page._, number))


Cast = tuple[Response | None, dict[str, list[str]], dict[str, str], int]


def cast(page: Page, id: str) -> Cast:
    """Run castStance from the form: (the redirect, or None and the errors
    by form field, what was typed and the page's status). `for` is empty for
    the viewer's own organisation, else the granter whose proxy it holds."""
    page.require_signed_in()
    value, reason = page.form.get("value", ""), page.form.get("reason", "")
    granter = page.form.get("for", "").strip()
    typed = {"value": value, "reason": reason, "for": granter}
    if value not in STANCES:
        return None, {"value": [page._("Choose your stance.")]}, typed, 400
    result = page.mutate(D.CAST, id=id, value=value, reason=reason.strip() or None,
                         granter=granter or None)
    if result.ok:
        return page.redirect(f"/consultations/{id}",
                             done="stance-proxy" if granter else "stance"), {}, typed, 303
    errors = form_errors(result.errors, {"value": "value", "reason": "reason",
                                         "onBehalfOf": "for"})
    if granter and "" in errors:  # a refusal of the proxy (FORBIDDEN, CONFLICT): beside "for"
        errors.setdefault("for", []).extend(errors.pop(""))
    return None, api_messages(page, errors), typed, proxies.refusal_status(result.code)


def for_options(page: Page, member: dict | None, granters: list[dict]) -> list[tuple[str, str]]:
    """The stance form's "for" choice: the viewer's organisation, then each
    granter whose ACCEPTED proxy it holds."""
    own = page._("My organisation (%(name)s)", name=member["name"]) if member else ""
    return [("", own)] + [(g["id"], page._("%(name)s, by its proxy", name=g["name"]))
                          for g in granters]


def first_typed(page: Page, mine: dict | None, granters: list[dict]) -> dict[str, str]:
    """The stance form as it first shows: for a granter whose proxy the viewer
    holds once its own stance is given, else prefilled with its own stance."""
    if mine is not None and granters and "change" not in page.request.args:
        return {"value": "", "reason": "", "for": granters[0]["id"]}
    return {"value": mine["value"] if mine else "", "reason": (mine or {}).get("reason") or "",
            "for": ""}


def consultation_data(page: Page, id: str) -> dict[str, Any]:
    data = page.query(D.CONSULTATION, id=id, find=bool(proxies.find_text(page)))
    if data["consultation"] is None:
        page.not_found()
    return data


def consultation_page(page: Page, id: str, errors: dict[str, list[str]] | None = None,
                      typed: dict[str, str] | None = None,
                      proxy_errors: dict[str, list[str]] | None = None,
                      status: int = 200) -> Response:
    data = consultation_data(page, id)
    c, member = data["consultation"], data["viewer"]["member"]
    in_snapshot, is_open, mine = bool(c["inSnapshot"]), c["status"] == "OPEN", c["myStance"]
    can_cast = is_open and in_snapshot and bool(member and member["canVote"])
    granters = proxies.accepted_granters(c, member["id"] if member else None)
    errors = errors or {}
    typed = typed or first_typed(page, mine, granters)
    show_form = can_cast and (mine is None or bool(errors) or "change" in page.request.args
                              or bool(granters))
    number = fmt(page, "number")
    return page.render(
        "public/consultation.html", status=status, title=c["title"],
        L=labels_of(page), c=c, member=member, in_snapshot=in_snapshot, is_open=is_open,
        mine=mine, can_cast=can_cast, show_form=show_form, errors=errors, typed=typed,
        stance_options=stance_options(page), for_options=for_options(page, member, granters),
        show_for=bool(granters) or "for" in errors, rounds=past_rounds(page, c),
        current=next((r for r in c["rounds"] if r["number"] == c["round"]), None),
        changes=changes(page, c), hidden=charts.hidden(c["tally"]),
        chart=tally_figure(page, c["tally"], c["quorum"], "tally"),
        tally_text=charts.tally_text(c["tally"], c["quorum"], page._, number),
        awaiting=c["awaiting"] if (page.is_admin or in_snapshot) else None, more=not_named(c),
        proxy_errors=proxy_errors or {},
        **proxies.proxy_values(page, c, member, can_cast, mine is not None),
        countdown={"left": page._("%(days)s d %(hours)s h %(minutes)s min left", days="%d",
                                  hours="%h", minutes="%m"),
                   "closed": page._("closed")},
        subject_is_member=c["kind"] in ("MEMBERSHIP_ADMISSION", "MEMBER_SUSPENSION"))


def past_rounds(page: Page, c: dict[str, Any]) -> list[dict[str, Any]]:
    number = fmt(page, "number")
    return [{**r, "text": charts.tally_text(r["tally"], c["quorum"], page._, number)}
            for r in c["rounds"] if r["number"] < c["round"]]


@route("/consultations/<id>", methods=("GET", "POST"))
def consultation(page: Page, id: str) -> Response:
    if page.request.method == "POST":
        done, errors, typed, status = cast(page, id)
        if done is not None:
            return done
        return consultation_page(page, id, errors, typed, status=status)
    return consultation_page(page, id)


@route("/consultations/<id>/proxies", methods=("POST",))
def proxy_form(page: Page, id: str) -> Response:
    """Offer, accept, decline or revoke a proxy (views/proxies.py); a refusal
    is shown beside the form on the consultation's page."""
    done, errors, status = proxies.act(page, f"/consultations/{id}", id)
    if done is not None:
        return done
    return consultation_page(page, id, proxy_errors=errors, status=status)
