"""The object types of ../shared/api/schema.graphql about who asks: the
viewer, the secretariat's people and focal points (Person), sessions,
preferences and notifications. The rest are in types.py (with the enums)."""
from typing import Any

from graphene import ID, Boolean, Field, Int, List, NonNull, ObjectType, String
from graphql import GraphQLResolveInfo

from services.common import vocabulary
from services.gateway import disclosure
from services.gateway.auth import focal_point_person, secretariat_person
from services.gateway.scalars import DateTime
from services.gateway.types import (
    Language, Member, NotificationKind, Proxy, Role, connection, req)


# No docstrings on the types below: graphene would publish them as descriptions.

class Preferences(ObjectType):
    language = Field(req(Language))
    consultation_opened = Boolean(required=True)
    reminders = Boolean(required=True)
    outcomes = Boolean(required=True)


# A Person view (auth.secretariat_person, auth.focal_point_person); its preferences are those of
# its recipient: its member's (a focal point) or the secretariat's, shared by
# every secretariat person (docs/accounts.md).
class Person(ObjectType):
    name = String()
    email = String(required=True)
    role = Field(req(Role))
    member = Field(Member)
    preferences = Field(req(Preferences))

    @staticmethod
    async def resolve_member(person: dict, info: GraphQLResolveInfo) -> dict | None:
        if not person.get("member_id"):
            return None
        return await info.context.loaders.member.load(person["member_id"])

    @staticmethod
    async def resolve_preferences(person: dict, info: GraphQLResolveInfo) -> dict:
        return await info.context.loaders.preferences.load(
            person.get("member_id") or vocabulary.SECRETARIAT)


class Viewer(ObjectType):
    role = Field(req(Role))
    member = Field(Member)
    person = Field(Person)
    live_proxies = Field(NonNull(List(NonNull(Proxy))), description=(
        "The proxies the viewer's member gives or holds that are OFFERED or ACCEPTED, in "
        "any open round, oldest first (empty for anyone but a MEMBER): the offers waiting "
        "for its answer, and those it may use."))

    @staticmethod
    def resolve_live_proxies(viewer: Any, info: GraphQLResolveInfo) -> list:
        if viewer.role != vocabulary.Role.MEMBER or not viewer.member_id:
            return []
        proxies: list = info.context.call("consultations", "live_proxies_of", viewer.member_id)
        return proxies

    @staticmethod
    async def resolve_member(viewer: Any, info: GraphQLResolveInfo) -> dict | None:
        if not viewer.member_id:
            return None
        return await info.context.loaders.member.load(viewer.member_id)

    @staticmethod
    async def resolve_person(viewer: Any, info: GraphQLResolveInfo) -> dict | None:
        """Null without a session (ANONYMOUS, a CLI token). A secretariat
        person: name and email as accounts answered for the session (asked
        again only for the viewer of a session just made: completeSignIn
        answers no name). A focal point: its member's focalPoint."""
        if not viewer.sid:
            return None
        if viewer.role == vocabulary.Role.ADMIN:
            name, email = viewer.name, viewer.email
            if email is None:
                found = info.context.call("accounts", "session", viewer.sid)
                if not found:
                    return None
                name, email = found.get("name"), found.get("email")
            return secretariat_person(name, email) if email else None
        person = focal_point_person(await info.context.loaders.member.load(viewer.member_id))
        if person is not None:  # its own focal point, carried by the answer
            disclosure.shown_focal_point(info.context, viewer.member_id)
        return person


class Session(ObjectType):
    token = String(required=True)
    expires_at = DateTime(required=True)
    viewer = Field(req(Viewer))


class Notification(ObjectType):
    id = ID(required=True)
    kind = Field(req(NotificationKind))
    at = DateTime(required=True)
    subject = String(required=True)
    body = String(required=True)
    link = String()
    read = Boolean(required=True)


NotificationConnection = connection(Notification, unread_count=Int(required=True))
