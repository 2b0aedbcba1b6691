"""How the demo loader (services/demo_loader.py) talks to a gateway: a tiny GraphQL
client over HTTP, and the GraphQL documents the loader sends. Nothing here is
used by the services themselves; it is a client of the public API, as a
secretariat's own scripts would be.

A refusal comes back as GatewayError with the gateway's error code (the
loader reuses what is there on CONFLICT, waits on NOT_FOUND for an event to
arrive); any other trouble (no gateway, not JSON) is DemoError, one line a
person can act on.
"""
from collections.abc import Iterator
from typing import Any

import requests


class DemoError(Exception):
    """Loading stopped; str() is one line a person can act on."""


class GatewayError(DemoError):
    """The gateway refused a request; `code` is its error code."""

    def __init__(self, code: str, message: str, operation: str) -> None:
        super().__init__(f"the gateway refused {operation}: {code}: {message}")
        self.code = code


class Gateway:
    """A tiny GraphQL client: data of a request, or GatewayError/DemoError."""

    def __init__(self, url: str, timeout: float = 30) -> None:
        self.base = url.rstrip("/")
        self.endpoint = self.base + "/graphql"
        self.timeout = timeout
        self.http = requests.Session()

    def gql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
            operation: str = "a request") -> dict[str, Any]:
        """The data of one request; `operation` names it in an error."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self.http.post(self.endpoint, json={"query": query, "variables": variables},
                                      headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise DemoError(f"the gateway at {self.base} did not answer within {self.timeout}s")
        except requests.ConnectionError:
            raise DemoError(f"the gateway at {self.base} does not answer (is it running? "
                            "`make up`, or pass --url)")
        try:
            body = response.json()
        except ValueError:
            raise DemoError(f"{self.endpoint} answered HTTP {response.status_code} without JSON; "
                            "is that the coalition gateway?")
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            first = errors[0]
            code = (first.get("extensions") or {}).get("code", "ERROR")
            message = first.get("message", "")
            if code == "UNAUTHENTICATED" and token:
                message += (" (does COALITION_JWT_SECRET here match the gateway's?)")
            raise GatewayError(code, message, operation)
        if response.status_code != 200 or not isinstance(body, dict) or "data" not in body:
            raise DemoError(f"{self.endpoint} answered HTTP {response.status_code}")
        return body["data"]

    def close(self) -> None:
        """Closes the connections kept open to the gateway."""
        self.http.close()

    def pages(self, field: str, query: str, variables: dict[str, Any], token: str | None = None,
              operation: str = "a list") -> Iterator[dict[str, Any]]:
        """Every node of a connection query with $after."""
        after = None
        while True:
            data = self.gql(query, {**variables, "after": after}, token, operation)[field]
            for edge in data["edges"]:
                yield edge["node"]
            if not data["pageInfo"]["hasNextPage"]:
                return
            after = data["pageInfo"]["endCursor"]


VIEWER = "{ viewer { role } }"
MEMBER_FIELDS = "id name acronym status canVote mouSignedAt"
FIND_MEMBERS = f"""query($search: String, $after: String) {{
  members(search: $search, first: 50, after: $after) {{
    edges {{ node {{ {MEMBER_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
REGISTER = f"""mutation($input: MemberInput!) {{
  registerFoundingMember(input: $input) {{ {MEMBER_FIELDS} }} }}"""
APPLY = f"""mutation($input: MemberInput!) {{
  applyForMembership(input: $input) {{ {MEMBER_FIELDS} }} }}"""
SIGN_MOU = f"mutation($id: ID!) {{ signMou(memberId: $id) {{ {MEMBER_FIELDS} }} }}"

CONSULTATION_FIELDS = """id kind title status round subjectId outcome closesAt
  eligibleMembers { id } tally { eligible responded }
  rounds { number outcome }"""
LIST_CONSULTATIONS = f"""query($kind: ConsultationKind, $status: ConsultationStatus,
                              $after: String) {{
  consultations(kind: $kind, status: $status, first: 50, after: $after) {{
    edges {{ node {{ {CONSULTATION_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
GET_CONSULTATION = f"query($id: ID!) {{ consultation(id: $id) {{ {CONSULTATION_FIELDS} }} }}"
OPEN_CONSULTATION = f"""mutation($input: ConsultationInput!) {{
  openConsultation(input: $input) {{ {CONSULTATION_FIELDS} }} }}"""
CAST = """mutation($c: ID!, $v: StanceValue!, $r: String) {
  castStance(consultationId: $c, value: $v, reason: $r) { value castAt } }"""
CLOSE = f"mutation($id: ID!) {{ closeConsultation(id: $id) {{ {CONSULTATION_FIELDS} }} }}"
NEXT_ROUND = f"""mutation($id: ID!, $p: String!, $at: DateTime!) {{
  startNextRound(id: $id, proposal: $p, closesAt: $at) {{ {CONSULTATION_FIELDS} }} }}"""

# The list finds a grant by its title; the rest is read one grant at a time
# (an allocation's reports and disbursements nested in 50 grants would pass
# the gateway's query cost limit).
LIST_GRANTS = """query($after: String) {
  grants(first: 50, after: $after) {
    edges { node { id title status } } pageInfo { hasNextPage endCursor } } }"""
GRANT_FIELDS = """id title donor currency amount status allocated available sectorCode
  budgetLines { periodStart periodEnd amount }
  allocations { id amount status member { id name } consultation { id status }
                disbursements { amount paidOn } reports { id status dueOn overdue } }"""
GET_GRANT = f"query($id: ID!) {{ grant(id: $id) {{ {GRANT_FIELDS} }} }}"
CREATE_GRANT = f"""mutation($input: GrantInput!) {{
  createGrant(input: $input) {{ {GRANT_FIELDS} }} }}"""
ACTIVATE_GRANT = f"mutation($id: ID!) {{ activateGrant(id: $id) {{ {GRANT_FIELDS} }} }}"
PROPOSE = """mutation($input: AllocationInput!) {
  proposeAllocation(input: $input) { id amount status } }"""
DISBURSE = """mutation($input: DisbursementInput!) {
  recordDisbursement(input: $input) { id amount paidOn } }"""

# The round of an allocation's consultation, as the loader needs it to agree
# (`stances` names who has responded already, when the round shows it).
ALLOCATION_ROUND = """query($id: ID!) { consultation(id: $id) {
  id status quorum tally { eligible responded } eligibleMembers { id }
  stances { member { id } } } }"""

REPORT_FIELDS = "id status dueOn overdue"
SCHEDULE_REPORT = f"""mutation($a: ID!, $d: Date!) {{
  scheduleReport(allocationId: $a, dueOn: $d) {{ {REPORT_FIELDS} }} }}"""
SUBMIT_REPORT = f"""mutation($id: ID!, $input: ReportInput!) {{
  submitReport(id: $id, input: $input) {{ {REPORT_FIELDS} }} }}"""
REVIEW_REPORT = f"""mutation($id: ID!, $accept: Boolean!, $note: String) {{
  reviewReport(id: $id, accept: $accept, note: $note) {{ {REPORT_FIELDS} }} }}"""
