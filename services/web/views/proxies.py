"""Proxies on the web pages (DOMAIN.md section 9): what a member sees of the
proxies it gives and holds, whom it may offer its proxy to, and the four
proxy forms (offer, accept, decline, revoke). The views are in
views/consultations.py (the consultation's page) and views/public.py (the
member's home, where offers wait for an answer).

Invariants:
- the lists come from `Consultation.proxies`, which the API fills with the
  viewer's own (given or held) only; the pages never guess a proxy;
- the holder is chosen from a bounded list: by default the members of the
  snapshot that have not responded yet (`awaiting(first: AWAITING_SHOWN)`,
  already on the page), or, after a search by name, at most HOLDER_MATCHES
  members of the snapshot matching it (`eligibleMembers`, loaded only when a
  search is made); the member itself and the member the consultation is
  about are never offered;
- every refusal of the API is shown beside the form that was sent: the
  holder's select for an offer, the proxy's row for accept, decline and
  revoke, with the answer 400, 403, 404 or 409 as the API's code says;
- after a change the browser is sent on (303) with a fixed sentence (page.DONE).
"""
from typing import Any, Final, Iterable

from werkzeug.wrappers import Response

from services.web.page import Page
from services.web.views import documents as D
from services.web.views.shared import api_messages

Errors = dict[str, list[str]]
LIVE: Final = ("OFFERED", "ACCEPTED")
FIND_LENGTH: Final = 100
# form action -> (its mutation, the confirmation after it)
ACTIONS: Final = {"accept": (D.ACCEPT_PROXY, "proxy-accepted"),
                  "decline": (D.DECLINE_PROXY, "proxy-declined"),
                  "revoke": (D.REVOKE_PROXY, "proxy-revoked")}
REFUSAL_STATUS: Final = {"BAD_USER_INPUT": 400, "FORBIDDEN": 403, "NOT_FOUND": 404,
                         "CONFLICT": 409}


def refusal_status(code: str | None) -> int:
    """The page's status for a refused mutation (400 unless the API says more)."""
    return REFUSAL_STATUS.get(code or "", 400)


def given(c: dict[str, Any], member_id: str | None) -> list[dict]:
    """The proxies of the current round that `member_id` gives."""
    return [p for p in c.get("proxies") or [] if p["granter"]["id"] == member_id]


def held(c: dict[str, Any], member_id: str | None) -> list[dict]:
    """The proxies of the current round offered to `member_id`."""
    return [p for p in c.get("proxies") or [] if p["holder"]["id"] == member_id]


def accepted_granters(c: dict[str, Any], member_id: str | None) -> list[dict]:
    """The members ({id, name}) for which `member_id` may give the stance now:
    their proxy to it is ACCEPTED (not yet used)."""
    return [p["granter"] for p in held(c, member_id) if p["status"] == "ACCEPTED"]


def find_text(page: Page) -> str:
    """The search for a holder typed in the address (?find=), bounded."""
    return " ".join(page.request.args.get("find", "").split())[:FIND_LENGTH]


def matches(member: dict[str, Any], text: str) -> bool:
    wanted = text.casefold()
    return any(wanted in (member.get(k) or "").casefold() for k in ("name", "acronym"))


def holder_options(c: dict[str, Any], member_id: str, find: str) -> list[tuple[str, str]]:
    """(id, name) of the members the viewer may offer its proxy to (see the
    module docstring), sorted by name."""
    if find:
        pool = [m for m in c.get("eligibleMembers") or [] if matches(m, find)]
        bound = D.HOLDER_MATCHES
    else:
        pool, bound = c["awaiting"], D.AWAITING_SHOWN
    left_out = {member_id, c.get("subjectId")}
    chosen = sorted((m for m in pool if m["id"] not in left_out),
                    key=lambda m: m["name"].casefold())[:bound]
    return [(m["id"], m["name"] + (f" ({m['acronym']})" if m.get("acronym") else ""))
            for m in chosen]


def proxy_values(page: Page, c: dict[str, Any], member: dict | None, can_cast: bool,
                 responded: bool) -> dict[str, Any]:
    """What the consultation's page shows of proxies, for its template."""
    member_id = member["id"] if member else None
    mine, theirs = given(c, member_id), held(c, member_id)
    find = find_text(page)
    can_offer = (can_cast and not responded and member_id != c.get("subjectId")
                 and not any(p["status"] in LIVE for p in mine))
    return {"given": mine, "held": theirs, "find": find, "can_offer": can_offer,
            "holder_options": holder_options(c, member_id, find) if can_offer and member_id
            else [],
            "show_proxies": bool(mine or theirs or can_offer)}


def messages_of(page: Page, errors: Errors) -> list[str]:
    return [m for texts in api_messages(page, errors).values() for m in texts]


def act(page: Page, back: str, consultation_id: str | None = None,
        allowed: Iterable[str] = ("offer", *ACTIONS)) -> tuple[Response | None, Errors, int]:
    """Run the proxy form's mutation: (the redirect to `back`, or None, the
    errors by form field and the page's status)."""
    page.require_signed_in()
    action = page.form.get("action", "")
    if action not in allowed:
        return None, {"": [page._("Choose what to do with the proxy.")]}, 400
    if action == "offer":
        holder = page.form.get("holder", "").strip()
        if not holder:
            return None, {"holder": [page._("Choose the member to give your proxy to.")]}, 400
        result = page.mutate(D.GRANT_PROXY, id=consultation_id, holder=holder)
        done, field = "proxy-offered", "holder"
    else:
        proxy_id = page.form.get("proxy", "").strip()
        document, done = ACTIONS[action]
        result = page.mutate(document, id=proxy_id)
        field = f"proxy-{proxy_id}"
    if result.ok:
        return page.redirect(back, done=done), {}, 303
    return None, {field: messages_of(page, result.errors)}, refusal_status(result.code)


def home_offers(member: dict | None, live: list[dict], rounds: list[dict],
                failed: Iterable[str] = ()) -> tuple[list[dict], list[dict]]:
    """(offers waiting for the viewer's answer, accepted proxies it may use),
    each with its consultation ({id, title, closesAt}), from the viewer's
    live proxies in every open round (`Viewer.liveProxies`). An offer whose
    answer was just refused (`failed`: form error keys) is no longer live,
    most likely: it is taken from the rounds of / (their proxies are asked
    for only then) and stays in the first list, so the refusal shows beside it."""
    if not member:
        return [], []
    mine = {p["id"]: p for p in live if p["holder"]["id"] == member["id"]}
    for c in rounds:
        for p in held(c, member["id"]):
            if f"proxy-{p['id']}" in failed:
                mine[p["id"]] = {**p, "consultation": {k: c[k] for k in ("id", "title",
                                                                          "closesAt")}}
    offers = [p for p in mine.values()
              if p["status"] == "OFFERED" or f"proxy-{p['id']}" in failed]
    usable = [p for p in mine.values() if p["status"] == "ACCEPTED" and p not in offers]
    return offers, usable
