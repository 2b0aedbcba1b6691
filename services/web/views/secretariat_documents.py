"""The GraphQL documents of the secretariat's pages (views/secretariat*.py):
one query document per page, one mutation document per form.

Invariants:
- every document validates against the gateway's schema and stays under its
  cost limit (tests/integration/test_web_secretariat.py runs them all);
- page sizes are fixed here, never taken from the URL;
- no document asks for a focal point: each answer that holds one is a read
  recorded against the member (DOMAIN.md section 11), and no secretariat
  page or export needs it (the member's public page shows it to ADMIN);
- money stays the API's Decimal strings from document to page.
"""
from typing import Final

from services.web.views.documents import (AWAITING_SHOWN, FOCAL_POINT_READS, PROXY, TALLY,
                                          grant_fields)

LIST_SIZE: Final = 50        # rows of a dashboard list and of /secretariat/members
CHOICES: Final = 200         # options a select is filled with per call (MAX_PAGE_SIZE)
AWAITING_NAMED: Final = 5    # members named per open round on the dashboard; the rest counted

DASHBOARD: Final = """
query Dashboard {
  candidates: members(status: CANDIDATE, first: %(n)d) {
    totalCount
    edges { node { id name acronym countries history { at status } } }
  }
  admissions: consultations(kind: MEMBERSHIP_ADMISSION, status: OPEN, first: %(choices)d) {
    edges { node { id subjectId closesAt } }
  }
  open: consultations(status: OPEN, first: %(n)d) {
    totalCount
    edges { node {
      id title kind round closesAt resultsVisibility
      tally { eligible responded quorumReached }
      awaiting(first: %(named)d) { id name }
    } }
  }
  operations { failedMails deadLetters }
}
""" % {"n": LIST_SIZE, "choices": CHOICES, "named": AWAITING_NAMED}

CLOSED: Final = """
query ClosedRounds($after: String) {
  consultations(status: CLOSED, first: %d, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id title kind round outcome closedAt } }
  }
}
""" % CHOICES

MEMBERS: Final = """
query SecretariatMembers($status: MemberStatus, $search: String, $after: String) {
  members(status: $status, search: $search, first: %d, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name acronym countries status canVote } }
  }
}
""" % LIST_SIZE

MEMBERS_CSV: Final = """
query MembersCsv($after: String) {
  members(first: %d, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id name acronym orgType countries region constituencies status mouSignedAt canVote
      joinedAt language
    } }
  }
}
""" % CHOICES

MEMBER: Final = """
query SecretariatMember($id: ID!) {
  member(id: $id) {
    id name acronym orgType countries region constituencies status mouSignedAt canVote
    joinedAt language %s
    history { at status note }
    allocations { id amount purpose status disbursed grant { id title currency } }
  }
}
""" % FOCAL_POINT_READS

ABOUT: Final = """
query ConsultationsOfKind($kind: ConsultationKind!, $after: String) {
  consultations(kind: $kind, first: %d, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id subjectId status round closesAt } }
  }
}
""" % CHOICES

CONSULTATION: Final = """
query SecretariatConsultation($id: ID!) {
  consultation(id: $id) {
    id kind title proposal subjectId status round rule quorum threshold resultsVisibility
    openedAt closesAt closedAt outcome
    %(tally)s
    stances { member { id name } value reason castAt castBy { id name } }
    awaiting(first: %(shown)d) { id name }
    proxies { %(proxy)s }
    rounds { number proposal outcome closedAt explanation %(tally)s }
  }
}
""" % {"tally": TALLY, "shown": AWAITING_SHOWN, "proxy": PROXY}

GRANTS: Final = """
query SecretariatGrants($after: String) {
  grants(first: %d, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id title donor currency amount status available } }
  }
}
""" % LIST_SIZE

GRANT: Final = """
query SecretariatGrant($id: ID!) {
  grant(id: $id) {%s
  }
}
""" % grant_fields(reports="id dueOn status overdue submittedAt")

GRANT_CHOICES: Final = """
query GrantChoices($after: String) {
  grants(first: %d, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id title currency status available } }
  }
}
""" % CHOICES

MEMBER_CHOICES: Final = """
query MemberChoices($after: String) {
  members(status: ACTIVE, first: %d, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id name acronym } }
  }
}
""" % CHOICES

ALLOCATION_CHOICES: Final = """
query AllocationChoices($after: String) {
  grants(status: ACTIVE, first: %d, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id title currency
      allocations { id amount disbursed status member { id name } }
    } }
  }
}
""" % LIST_SIZE

PEOPLE: Final = """
query SecretariatPeople { viewer { person { email } } secretariat { name email } }
"""

# ---- mutations ----------------------------------------------------------------------

REGISTER: Final = """
mutation Register($input: MemberInput!) { registerFoundingMember(input: $input) { id } }
"""

SIGN_MOU: Final = """
mutation SignMouForMember($id: ID!) { signMou(memberId: $id) { id canVote } }
"""

WITHDRAW: Final = """
mutation WithdrawMember($id: ID!, $reason: String) {
  withdrawMembership(memberId: $id, reason: $reason) { id status }
}
"""

REINSTATE: Final = """
mutation Reinstate($id: ID!) { reinstateMember(memberId: $id) { id status } }
"""

SUSPEND: Final = """
mutation ProposeSuspension($id: ID!, $reason: String!, $closesAt: DateTime) {
  proposeSuspension(memberId: $id, reason: $reason, closesAt: $closesAt) { id }
}
"""

OPEN: Final = """
mutation Open($input: ConsultationInput!) { openConsultation(input: $input) { id } }
"""

CLOSE: Final = """
mutation Close($id: ID!) { closeConsultation(id: $id) { id status outcome } }
"""

NEXT_ROUND: Final = """
mutation NextRound($id: ID!, $proposal: String!, $closesAt: DateTime!) {
  startNextRound(id: $id, proposal: $proposal, closesAt: $closesAt) { id round }
}
"""

CANCEL: Final = """
mutation Cancel($id: ID!, $reason: String!) { cancelConsultation(id: $id, reason: $reason) { id } }
"""

CREATE_GRANT: Final = """
mutation CreateGrant($input: GrantInput!) { createGrant(input: $input) { id } }
"""

ACTIVATE_GRANT: Final = """
mutation ActivateGrant($id: ID!) { activateGrant(id: $id) { id status } }
"""

PROPOSE: Final = """
mutation Propose($input: AllocationInput!) {
  proposeAllocation(input: $input) { id grant { id } }
}
"""

DISBURSE: Final = """
mutation Disburse($input: DisbursementInput!) { recordDisbursement(input: $input) { id } }
"""

INVITE: Final = """
mutation Invite($email: String!, $name: String!) { inviteSecretariat(email: $email, name: $name) }
"""

REMOVE: Final = """
mutation Remove($email: String!) { removeSecretariat(email: $email) }
"""

# DOMAIN.md section 11: never asks for the focal point (that would be a read)
ERASE: Final = """
mutation Erase($id: ID!) { eraseMemberData(memberId: $id) { member { id status } removed } }
"""

QUERIES: Final = {"DASHBOARD": DASHBOARD, "CLOSED": CLOSED, "MEMBERS": MEMBERS,
                  "MEMBERS_CSV": MEMBERS_CSV, "MEMBER": MEMBER, "ABOUT": ABOUT,
                  "CONSULTATION": CONSULTATION,
                  "GRANTS": GRANTS, "GRANT": GRANT, "GRANT_CHOICES": GRANT_CHOICES,
                  "MEMBER_CHOICES": MEMBER_CHOICES, "ALLOCATION_CHOICES": ALLOCATION_CHOICES,
                  "PEOPLE": PEOPLE}
MUTATIONS: Final = {"REGISTER": REGISTER, "SIGN_MOU": SIGN_MOU, "WITHDRAW": WITHDRAW,
                    "REINSTATE": REINSTATE, "SUSPEND": SUSPEND, "OPEN": OPEN, "CLOSE": CLOSE,
                    "NEXT_ROUND": NEXT_ROUND, "CANCEL": CANCEL, "CREATE_GRANT": CREATE_GRANT,
                    "ACTIVATE_GRANT": ACTIVATE_GRANT, "PROPOSE": PROPOSE, "DISBURSE": DISBURSE,
                    "INVITE": INVITE, "REMOVE": REMOVE, "ERASE": ERASE}
