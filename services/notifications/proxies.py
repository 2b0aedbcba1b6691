"""Who is told of a proxy, and who a stance counts for (DOMAIN.md section 9),
as pure functions beside domain.py (the service calls them).

- proxy_offered tells the holder; proxy_accepted, proxy_declined and
  proxy_used tell the granter (events.PROXY_NOTICES). proxy_revoked tells no
  one: the granter revoked it itself, or its own cast did. The PROXY kind is
  always sent (it is not in vocabulary.OPT_OUTS).
- A PROXY notification names the other member (from the `members` read
  model; None when it has not been heard of yet, and the template says
  "another member" instead), the consultation's title and round, and links
  to the consultation's page. The events hold no stance value, and neither
  does a context.
- A stance cast by proxy is the granter's response (stance_cast.member_id),
  never the holder's (stance_cast.cast_by): the granter gets no reminder,
  the holder still gets its own.
"""
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from services.notifications.domain import Doc, consultation_link, preferences_link

# each of events.PROXY_NOTICES -> the field of its data that names who is told of it
TOLD: Final[Mapping[str, str]] = {
    "proxy_offered": "holder_id", "proxy_accepted": "granter_id",
    "proxy_declined": "granter_id", "proxy_used": "granter_id"}


class Parties(NamedTuple):
    """Who is told of a proxy event, and the member it is told about."""
    recipient: str
    other: str


def proxy_parties(event_type: str, data: Mapping[str, Any]) -> Parties | None:
    """The recipient of a proxy event and the other party (the granter for an
    offer, the holder for the rest); None for an event that tells no one."""
    field = TOLD.get(event_type)
    if field is None:
        return None
    other = "granter_id" if field == "holder_id" else "holder_id"
    return Parties(recipient=data[field], other=data[other])


def proxy_context(event_type: str, data: Mapping[str, Any], other_name: str | None,
                  public_url: str) -> Doc:
    """A PROXY notification's context: what happened, to which consultation,
    with whom (`other_name`, None if unknown here). No stance value: the
    event holds none."""
    return {"event": event_type, "title": data.get("title") or "", "round": data["round"],
            "other_name": other_name or None,
            "link": consultation_link(public_url, data["consultation_id"]),
            "preferences_link": preferences_link(public_url)}


def responder(data: Mapping[str, Any]) -> str:
    """The member a stance_cast records a response of: its member_id, the
    granter when a holder cast it by proxy (cast_by), never the holder."""
    member_id: str = data["member_id"]
    return member_id
