"""The GraphQL documents of the public and member pages (views/public.py,
views/consultations.py, views/member.py): one query document per page, so a
page costs one run through the gateway's schema, and one mutation document
per form.

Invariants:
- every document validates against the gateway's schema and stays under its
  cost limit (tests/integration/test_web_public.py checks them all);
- page sizes are modest and fixed here (PAGE_SIZE), never taken from the URL;
- nothing asks for a focal point but the pages that may show it, and those
  show only what the API gave (null for anyone but ADMIN and the member).
"""
from typing import Final

from services.gateway.schema import schema


def has_field(type_name: str, field: str) -> bool:
    """Whether the gateway's schema has `type_name.field` (a field a later
    capability adds: the pages use it once it is there)."""
    found = schema.graphql_schema.get_type(type_name)
    return found is not None and field in getattr(found, "fields", {})


# DOMAIN.md section 11 (member visibility): the pages always offer it now;
# kept for the tests that ask whether the API has it
HAS_VISIBILITY: Final = has_field("MemberInput", "visibility")
FOCAL_POINT_READS: Final = "visibility focalPointReads { at by }"  # DOMAIN.md section 11

PAGE_SIZE: Final = 50          # members per page of /members
AWAITING_SHOWN: Final = 200    # members named as not yet responded; the rest are counted
LIST_SIZE: Final = 20          # consultations and grants per page
HOME_MEMBERS: Final = 8        # members in brief on /
HOME_ROUNDS: Final = 20        # open consultations on /
HOLDER_MATCHES: Final = 50     # members a search for a proxy's holder offers
NOTIFICATIONS: Final = 20      # notifications on /preferences

HOME: Final = """
query Home($member: Boolean!, $answered: Boolean!) {
  viewer {
    role member { id name canVote }
    liveProxies @include(if: $member) {
      id status granter { id name } holder { id } consultation { id title closesAt }
    }
  }
  members(status: ACTIVE, first: %(members)d) {
    totalCount
    edges { node { id name acronym countries constituencies } }
  }
  candidates: members(status: CANDIDATE, first: 1) { totalCount }
  open: consultations(status: OPEN, first: %(rounds)d) {
    totalCount
    edges { node {
      id title kind round closesAt
      tally { eligible responded }
      myStance @include(if: $member) { value }
      inSnapshot @include(if: $member)
      proxies @include(if: $answered) { id status granter { id name } holder { id } }
    } }
  }
  grants(first: 10) {
    totalCount
    edges { node { id title donor currency amount allocated disbursed available status } }
  }
}
""" % {"members": HOME_MEMBERS, "rounds": HOME_ROUNDS}

MEMBERS: Final = """
query Members($status: MemberStatus, $constituency: Constituency, $country: String,
              $search: String, $after: String) {
  members(status: $status, constituency: $constituency, country: $country, search: $search,
          first: %d, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name acronym orgType countries region constituencies status } }
  }
}
""" % PAGE_SIZE

def member_fields(consultation: str, disbursement: str, reports: str = "") -> str:
    """A member's fields as its public page and its own organisation page ask
    for them: the facts, focal point, history and allocations, with
    `consultation`, `disbursement` and `reports` the fields of an
    allocation's (no reports unless asked for)."""
    return """
    id name acronym orgType countries region constituencies status mouSignedAt canVote
    joinedAt language
    focalPoint { name email phone }
    history { at status note }
    allocations {
      id amount purpose status disbursed
      grant { id title currency }
      consultation { %s }
      disbursements { %s }%s
    }""" % (consultation, disbursement,
            f"\n      reports {{ {reports} }}" if reports else "")


MEMBER: Final = """
query Member($id: ID!) {
  viewer { role member { id } }
  member(id: $id) {%s
  }
}
""" % member_fields(consultation="id openedAt closedAt", disbursement="id amount paidOn")

CONSULTATIONS: Final = """
query Consultations($status: ConsultationStatus, $after: String) {
  consultations(status: $status, first: %d, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id title kind status round openedAt closesAt closedAt outcome
      tally { eligible responded quorumReached }
    } }
  }
}
""" % LIST_SIZE

TALLY: Final = "tally { eligible responded agree reservations standAside block quorumReached }"
PROXY: Final = "id round status offeredAt granter { id name } holder { id name }"

CONSULTATION: Final = """
query Consultation($id: ID!, $find: Boolean!) {
  viewer { role member { id name canVote } }
  consultation(id: $id) {
    id kind title proposal subjectId status round rule quorum threshold resultsVisibility
    openedAt closesAt closedAt outcome
    %(tally)s
    myStance { value reason castAt castBy { id name } }
    inSnapshot
    stances { member { id name } value reason castAt castBy { id name } }
    awaiting(first: %(shown)d) { id name }
    eligibleMembers @include(if: $find) { id name acronym }
    proxies { %(proxy)s }
    rounds { number proposal outcome closedAt explanation %(tally)s }
  }
}
""" % {"tally": TALLY, "shown": AWAITING_SHOWN, "proxy": PROXY}

GRANTS: Final = """
query Grants($after: String) {
  grants(first: %d, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id title donor currency amount startDate endDate status
                   allocated disbursed available } }
  }
}
""" % LIST_SIZE

def grant_fields(reports: str = "") -> str:
    """A grant's fields as its pages ask for them, with `reports` the fields
    of each allocation's reports (the API gives each viewer those it may see:
    none to a visitor, ACCEPTED ones to another member)."""
    return """
    id title donor currency amount startDate endDate status allocated disbursed available
    sectorCode budgetLines { periodStart periodEnd amount }
    allocations {
      id amount purpose status disbursed
      member { id name }
      consultation { id status }
      disbursements { id amount paidOn reference }%s
    }""" % (f"\n      reports {{ {reports} }}" if reports else "")


GRANT_FIELDS: Final = grant_fields(reports="id dueOn status overdue")

GRANT: Final = """
query Grant($id: ID!) {
  grant(id: $id) {%s
    undisclosedAllocations undisclosedAmount
  }
}
""" % GRANT_FIELDS

ORGANISATION: Final = """
query Organisation {
  viewer {
    role
    member {%s
      %s
    }
  }
}
""" % (member_fields(consultation="id openedAt", disbursement="id amount paidOn reference",
                    reports="id dueOn status overdue submittedAt"), FOCAL_POINT_READS)

WITHDRAWAL: Final = """
query Withdrawal { viewer { role member { id name status } } }
"""

PREFERENCES: Final = """
query Preferences {
  viewer {
    role
    member { id name visibility }
    person { name email role preferences { language consultationOpened reminders outcomes } }
  }
  notifications(first: %d) {
    totalCount unreadCount
    edges { node { id kind at subject body link read } }
  }
}
""" % NOTIFICATIONS

UNREAD: Final = """
query Unread {
  notifications(unreadOnly: true, first: 200) { edges { node { id } } }
}
"""

# ---- mutations ----------------------------------------------------------------------

APPLY: Final = """
mutation Apply($input: MemberInput!) { applyForMembership(input: $input) { id name status } }
"""

CAST: Final = """
mutation Cast($id: ID!, $value: StanceValue!, $reason: String, $granter: ID) {
  castStance(consultationId: $id, value: $value, reason: $reason, onBehalfOf: $granter) {
    value reason castAt
  }
}
"""

GRANT_PROXY: Final = """
mutation GrantProxy($id: ID!, $holder: ID!) {
  grantProxy(consultationId: $id, holderId: $holder) { id status }
}
"""

ACCEPT_PROXY: Final = """
mutation AcceptProxy($id: ID!) { acceptProxy(id: $id) { id status } }
"""

DECLINE_PROXY: Final = """
mutation DeclineProxy($id: ID!) { declineProxy(id: $id) { id status } }
"""

REVOKE_PROXY: Final = """
mutation RevokeProxy($id: ID!) { revokeProxy(id: $id) { id status } }
"""

SIGN_MOU: Final = """
mutation SignMou($id: ID!) { signMou(memberId: $id) { id status mouSignedAt canVote } }
"""

WITHDRAW: Final = """
mutation Withdraw($id: ID!, $reason: String) {
  withdrawMembership(memberId: $id, reason: $reason) { id status }
}
"""

SET_PREFERENCES: Final = """
mutation SetPreferences($input: PreferencesInput!) {
  setPreferences(input: $input) { language consultationOpened reminders outcomes }
}
"""

MARK_READ: Final = """
mutation MarkRead($ids: [ID!]!) { markNotificationsRead(ids: $ids) }
"""

# DOMAIN.md section 11: the member itself or ADMIN (the API decides)
SET_VISIBILITY: Final = """
mutation SetVisibility($id: ID!, $visibility: Visibility!) {
  setMemberVisibility(memberId: $id, visibility: $visibility) { id visibility }
}
"""

# run as a query (no form key): the JSON is never kept among the API's answers
EXPORT: Final = """
mutation ExportMemberData($id: ID!) { exportMemberData(memberId: $id) }
"""

QUERIES: Final = {"HOME": HOME, "MEMBERS": MEMBERS, "MEMBER": MEMBER,
                  "CONSULTATIONS": CONSULTATIONS, "CONSULTATION": CONSULTATION,
                  "GRANTS": GRANTS, "GRANT": GRANT, "ORGANISATION": ORGANISATION,
                  "WITHDRAWAL": WITHDRAWAL, "PREFERENCES": PREFERENCES, "UNREAD": UNREAD}
MUTATIONS: Final = {"APPLY": APPLY, "CAST": CAST, "SIGN_MOU": SIGN_MOU, "WITHDRAW": WITHDRAW,
                    "SET_PREFERENCES": SET_PREFERENCES, "MARK_READ": MARK_READ,
                    "GRANT_PROXY": GRANT_PROXY, "ACCEPT_PROXY": ACCEPT_PROXY,
                    "DECLINE_PROXY": DECLINE_PROXY, "REVOKE_PROXY": REVOKE_PROXY,
                    "SET_VISIBILITY": SET_VISIBILITY, "EXPORT": EXPORT}
