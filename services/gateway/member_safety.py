"""The mutations of a member's safety (DOMAIN.md section 11) and the Erasure
type: `setMemberVisibility`, `exportMemberData` and `eraseMemberData`.

Who may call each is `MAY_CALL` in mutations.py: the first two ADMIN or the
member itself, the erasure ADMIN only. What a viewer may then learn of a
member is disclosure.py's rule.

Invariants:
- the export is one JSON document (EXPORT_FORMAT): the member's view and
  what every data-owning service holds about it (`member_data`, each
  service's declared MEMBER_DATA), keys sorted, text not escaped; an
  unknown member is NOT_FOUND before anything is read; an export given to
  ADMIN is recorded as a read of the focal point (members
  `read_focal_points`) before it is answered;
- an erasure is services/common/erasure.py's `erase` (members first, which
  refuses an ACTIVE, CANDIDATE or SUSPENDED member with CONFLICT), then the
  gateway's own kept answers that showed the member's focal point are
  replaced (idempotency.Keys.scrub); each step is idempotent, so a failed
  erasure is repeated as a whole.

This module imports no mutation: mutations.py imports it.
"""
import json
from datetime import datetime, timezone
from typing import Any

from graphene import Field, ObjectType, String
from graphql import GraphQLResolveInfo

from services.common import erasure
from services.common.member_data import jsonable
from services.common.records import not_found
from services.gateway import disclosure
from services.gateway.inputs import plain
from services.gateway.types import Member, req, req_list

EXPORT_FORMAT = "coalition-member-export/1"
# the data-owning services, each answering `member_data(member_id)`
EXPORTED_FROM = ("members", "consultations", "grants", "notifications", "accounts")


# No docstring: graphene would publish it as a description.
class Erasure(ObjectType):
    member = Field(req(Member))
    removed = req_list(String)


def set_member_visibility(root: Any, info: GraphQLResolveInfo, member_id: str,
                          visibility: Any) -> dict:
    """PUBLIC or MEMBERS_ONLY, in any status (members: NOT_FOUND for an
    unknown member; the same value again changes nothing)."""
    ctx = info.context
    member: dict = ctx.call("members", "set_visibility", member_id, plain(visibility))
    ctx.members.remember(member)
    return member


def the_member(ctx: Any, member_id: str) -> dict:
    """The member's view, or NOT_FOUND."""
    found = ctx.call("members", "get_many", [member_id])
    if not found:
        raise not_found("member", member_id)
    member: dict = found[0]
    return member


def export_document(ctx: Any, member: dict) -> dict:
    """Everything the services hold about the member, as plain JSON values."""
    document: dict[str, Any] = {"format": EXPORT_FORMAT,
                                "exported_at": datetime.now(timezone.utc).isoformat(),
                                "member_id": member["id"], "member": member}
    for service in EXPORTED_FROM:
        document[service] = ctx.call(service, "member_data", member["id"])
    exported: dict = jsonable(document)
    return exported


def export_member_data(root: Any, info: GraphQLResolveInfo, member_id: str) -> str:
    """One JSON document (see the module's invariants). Its focal point,
    unless erased, is recorded as read when ADMIN asks, and noted as shown
    (the answer may be kept under an Idempotency-Key)."""
    ctx = info.context
    member = the_member(ctx, member_id)
    if member.get("focal_point") and not member.get("erased_at"):
        if ctx.viewer.is_admin():
            ctx.call("members", "read_focal_points", [member["id"]],
                     disclosure.reader(ctx.viewer))
        disclosure.shown_focal_point(ctx, member["id"])
    return json.dumps(export_document(ctx, member), sort_keys=True, ensure_ascii=False)


def kept_answers_words(count: int) -> list[str]:
    """What scrubbing the gateway's kept answers removed, in words."""
    if count == 0:
        return []
    if count == 1:
        return ["1 kept answer of an earlier request to the gateway that showed the focal point"]
    return [f"{count} kept answers of earlier requests to the gateway that showed the focal point"]


def erase_member_data(root: Any, info: GraphQLResolveInfo, member_id: str) -> dict:
    """Erase a WITHDRAWN or REJECTED member's personal data everywhere
    (services/common/erasure.py), then the gateway's kept answers that
    showed its focal point: {member, removed (in words)}."""
    ctx = info.context
    member, removed = erasure.erase(ctx.call, member_id, disclosure.reader(ctx.viewer))
    ctx.members.remember(member)
    removed += kept_answers_words(ctx.keys.scrub(member["id"]))
    return {"member": member, "removed": removed}
