"""`Query.operations` (ADMIN only): what the secretariat's dashboard shows of
the system's health, beside the public contract.

- `failedMails`: the notifications service's mails that FAILED for good
  (refused by the SMTP server, or given up after MAIL_GIVE_UP_HOURS);
  `coalition mail failed` lists them and `coalition mail retry` sends them again.
- `deadLetters`: the PARKED dead letters of every service (events a consumer
  failed on after every retry); `coalition dlq list` lists them and
  `coalition dlq replay` sends them back to their consumer.

Invariants: a MEMBER is FORBIDDEN and ANONYMOUS UNAUTHENTICATED, checked
before any call; the gateway asks only for counts (`failed_mail_count`,
`dead_letter_count`), never for a mail or a letter, which stay the
operator's (services/common/permissions.py); each count is asked only when
its field is selected. A service that does not answer makes the field
SERVICE_UNAVAILABLE (no partial sum is ever given as the count).
"""
from typing import Any

from graphene import Field, Int, ObjectType
from graphql import GraphQLResolveInfo

from services.common.vocabulary import SERVICES
from services.gateway.types import req


class Operations(ObjectType):
    failed_mails = Int(required=True, description=(
        "Mails that failed for good: `coalition mail failed` lists them, "
        "`coalition mail retry` sends them again."))
    dead_letters = Int(required=True, description=(
        "Parked dead letters of every service: `coalition dlq list` lists them, "
        "`coalition dlq replay` sends them back to their consumer."))

    @staticmethod
    def resolve_failed_mails(root: Any, info: GraphQLResolveInfo) -> int:
        return int(info.context.call("notifications", "failed_mail_count"))

    @staticmethod
    def resolve_dead_letters(root: Any, info: GraphQLResolveInfo) -> int:
        return sum(int(info.context.call(service, "dead_letter_count")) for service in SERVICES)


def operations(root: Any, info: GraphQLResolveInfo) -> dict:
    """The counts' holder, once the viewer is known to be ADMIN."""
    info.context.viewer.require_admin()
    return {}


def operations_field() -> Field:
    """`operations: Operations!` for the Query root."""
    return Field(req(Operations), resolver=operations,
                 description="The system's health for the secretariat (ADMIN only).")
