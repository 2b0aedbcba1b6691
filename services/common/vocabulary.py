"""The coalition's words, written once: every value list, the names of the
services and the defaults of a consultation.

Every service, the gateway's GraphQL enums, the CLI and the tests import
them from here. They are `StrEnum`s whose every member's value is its name
(written as one tuple, names then values): a member equals its text
(`MemberStatus.ACTIVE == "ACTIVE"`), so it goes unchanged into the store,
JSON, RPC payloads and marshmallow, and text read back compares equal to it.
The GraphQL names are the enum class names (shared/api/schema.graphql);
tests/unit/test_schema_contract.py checks the values against the contract.

Rules about these words (which status may follow which, who may vote) live
in the services' domain modules; this module only names them.
"""
from enum import StrEnum
from typing import Final


class Role(StrEnum):
    ADMIN, MEMBER, ANONYMOUS = "ADMIN", "MEMBER", "ANONYMOUS"


class MemberStatus(StrEnum):
    CANDIDATE, ACTIVE, SUSPENDED, WITHDRAWN, REJECTED = (
        "CANDIDATE", "ACTIVE", "SUSPENDED", "WITHDRAWN", "REJECTED")


class OrgType(StrEnum):
    REGIONAL_NETWORK, NATIONAL_NETWORK, COMMUNITY_ORGANISATION, NGO, OTHER = (
        "REGIONAL_NETWORK", "NATIONAL_NETWORK", "COMMUNITY_ORGANISATION", "NGO", "OTHER")


# A member's orgType as an IATI OrganisationType code (its IATI exports):
# 23 Regional NGO, 22 National NGO, 24 Partner Country based NGO, 90 Other
IATI_ORG_TYPES: Final = {OrgType.REGIONAL_NETWORK: "23", OrgType.NATIONAL_NETWORK: "22",
                         OrgType.NGO: "22", OrgType.COMMUNITY_ORGANISATION: "24",
                         OrgType.OTHER: "90"}


class Constituency(StrEnum):
    (PEOPLE_LIVING_WITH_HIV, PEOPLE_WHO_USE_DRUGS, SEX_WORKERS, MEN_WHO_HAVE_SEX_WITH_MEN,
     TRANSGENDER_PEOPLE, LGBT, YOUNG_PEOPLE, WOMEN_AND_GIRLS, MIGRANTS, PRISONERS,
     REFUGEES_AND_DISPLACED) = (
        "PEOPLE_LIVING_WITH_HIV", "PEOPLE_WHO_USE_DRUGS", "SEX_WORKERS",
        "MEN_WHO_HAVE_SEX_WITH_MEN", "TRANSGENDER_PEOPLE", "LGBT", "YOUNG_PEOPLE",
        "WOMEN_AND_GIRLS", "MIGRANTS", "PRISONERS", "REFUGEES_AND_DISPLACED")


class ConsultationKind(StrEnum):
    GENERAL, MEMBERSHIP_ADMISSION, MEMBER_SUSPENSION, GRANT_ALLOCATION = (
        "GENERAL", "MEMBERSHIP_ADMISSION", "MEMBER_SUSPENSION", "GRANT_ALLOCATION")


class ConsultationStatus(StrEnum):
    OPEN, CLOSED, CANCELLED = "OPEN", "CLOSED", "CANCELLED"


class DecisionRule(StrEnum):
    CONSENSUS, MODIFIED_CONSENSUS = "CONSENSUS", "MODIFIED_CONSENSUS"


class StanceValue(StrEnum):
    AGREE, RESERVATIONS, STAND_ASIDE, BLOCK = "AGREE", "RESERVATIONS", "STAND_ASIDE", "BLOCK"


class Outcome(StrEnum):
    ADOPTED, BLOCKED, NO_QUORUM, NOT_ADOPTED = "ADOPTED", "BLOCKED", "NO_QUORUM", "NOT_ADOPTED"


class GrantStatus(StrEnum):
    PIPELINE, ACTIVE, CLOSED = "PIPELINE", "ACTIVE", "CLOSED"


class AllocationStatus(StrEnum):
    PROPOSED, APPROVED, REJECTED, ON_HOLD = "PROPOSED", "APPROVED", "REJECTED", "ON_HOLD"


class Language(StrEnum):
    """Of a member's (or a person's) e-mails and pages; EN unless chosen."""
    EN, RU = "EN", "RU"


class ResultsVisibility(StrEnum):
    """Chosen when a consultation opens, never changed (DOMAIN.md section 9)."""
    OPEN, HIDDEN_UNTIL_CLOSED = "OPEN", "HIDDEN_UNTIL_CLOSED"


class ProxyStatus(StrEnum):
    """A proxy's life in one round (DOMAIN.md section 9): OFFERED -> ACCEPTED
    -> USED, or DECLINED, REVOKED (by the granter, or its own cast), EXPIRED
    (the round closed while it was OFFERED or ACCEPTED)."""
    OFFERED, ACCEPTED, DECLINED, REVOKED, USED, EXPIRED = (
        "OFFERED", "ACCEPTED", "DECLINED", "REVOKED", "USED", "EXPIRED")


# a proxy that may still be acted on: a granter has at most one at a time per round
LIVE_PROXY: Final = (ProxyStatus.OFFERED, ProxyStatus.ACCEPTED)
# a proxy that counts against its holder's MAX_PROXIES_PER_HOLDER
HELD_PROXY: Final = (ProxyStatus.ACCEPTED, ProxyStatus.USED)


class ReportStatus(StrEnum):
    """A report on an allocation (DOMAIN.md section 10): DUE when scheduled,
    SUBMITTED by its member, then ACCEPTED or CHANGES_REQUESTED (submitted
    again) by the secretariat."""
    DUE, SUBMITTED, ACCEPTED, CHANGES_REQUESTED = (
        "DUE", "SUBMITTED", "ACCEPTED", "CHANGES_REQUESTED")


class Visibility(StrEnum):
    """Who may learn that a member exists (DOMAIN.md section 11): PUBLIC
    (anyone), or MEMBERS_ONLY (members and the secretariat: ANONYMOUS never)."""
    PUBLIC, MEMBERS_ONLY = "PUBLIC", "MEMBERS_ONLY"


DEFAULT_VISIBILITY: Final = Visibility.PUBLIC
# how public answers and exports (IATI, public pages) name a MEMBERS_ONLY member
UNDISCLOSED_MEMBER: Final = "Undisclosed member organisation"
# the statuses in which a member's personal data may be erased (DOMAIN.md section 11)
ERASABLE_STATUSES: Final = frozenset({MemberStatus.WITHDRAWN, MemberStatus.REJECTED})


# the statuses in which a member may submit a report, and in which it is
# `overdue` once its due date has passed
SUBMITTABLE_REPORT: Final = (ReportStatus.DUE, ReportStatus.CHANGES_REQUESTED)
# the beneficiary is told of a report this many days before its due date
REPORT_DUE_SOON_DAYS: Final = 7
# a grant's OECD DAC 5-digit purpose code unless it says otherwise:
# "STD control including HIV/AIDS"
DEFAULT_SECTOR_CODE: Final = "13040"


class NotificationKind(StrEnum):
    """What a notification is about (DOMAIN.md section 8). SIGN_IN is e-mail
    only and never shown in the API (it is not in NotificationKind there).
    PROXY (an offer to its holder; accepted, declined, used to its granter:
    DOMAIN.md section 9) is one the gateway adds to the contract's enum."""
    (CONSULTATION_OPENED, REMINDER, ROUND_CLOSED, MEMBERSHIP, ALLOCATION, REPORT, PROXY,
     SIGN_IN) = (
        "CONSULTATION_OPENED", "REMINDER", "ROUND_CLOSED", "MEMBERSHIP", "ALLOCATION", "REPORT",
        "PROXY", "SIGN_IN")


class MailStatus(StrEnum):
    """A queued mail's delivery (services/notifications/sender.py)."""
    QUEUED, SENDING, SENT, FAILED = "QUEUED", "SENDING", "SENT", "FAILED"


DEFAULT_LANGUAGE: Final = Language.EN

# The recipient of what DOMAIN.md sends "to the secretariat": in the app, what
# ADMIN tokens and secretariat people see; by mail, the SECRETARIAT_EMAIL
# setting (the secretariat's shared mailbox). Its language and switches are
# shared by every secretariat person (docs/accounts.md).
SECRETARIAT: Final = "secretariat"

# The kinds a person may turn off (DOMAIN.md section 8), by the name of their
# switch in Preferences; decisions about the member itself and sign-in codes
# are always sent.
OPT_OUTS: Final = {"consultation_opened": NotificationKind.CONSULTATION_OPENED,
                   "reminders": NotificationKind.REMINDER,
                   "outcomes": NotificationKind.ROUND_CLOSED}

# The enums the public API shows, in the order of shared/api/schema.graphql.
# NotificationKind is shown without SIGN_IN (services/gateway/types.py).
API_ENUMS: Final = (Role, MemberStatus, OrgType, Constituency, ConsultationKind,
                    ConsultationStatus, DecisionRule, StanceValue, Outcome, GrantStatus,
                    AllocationStatus, Language, ResultsVisibility, ProxyStatus, ReportStatus,
                    Visibility)

# The services that own data (each its own database and RPC queue); the
# gateway is a process of its own but owns no data.
SERVICES: Final = ("members", "consultations", "grants", "notifications", "accounts")



class AuditAction(StrEnum):
    """What the accounts service keeps in its audit (DOMAIN.md section 7):
    with time, person id (never an address) and client address."""
    (CODE_SENT, CODE_LIMITED, CODE_FAILED, SIGNED_IN, SIGNED_OUT, REVOKED, SECRETARIAT_ADDED,
     SECRETARIAT_REMOVED) = (
        "CODE_SENT", "CODE_LIMITED", "CODE_FAILED", "SIGNED_IN", "SIGNED_OUT", "REVOKED",
        "SECRETARIAT_ADDED", "SECRETARIAT_REMOVED")


# A consultation opened without saying otherwise (DOMAIN.md section 2). The
# quorum is a fraction of the eligible members, a Float in the API; the
# consensus arithmetic turns it into an exact Fraction (consultations/domain.py).
DEFAULT_RULE: Final = DecisionRule.CONSENSUS
DEFAULT_QUORUM: Final = 0.5
