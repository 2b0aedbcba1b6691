"""The demo coalition: plain data, and the loader `coalition demo load` runs.

Everything goes through the gateway's public GraphQL API, as a secretariat
would do it: an ADMIN token for the secretariat's steps, one MEMBER token per
organisation for its stances, no token at all for the membership application.
Loading twice reuses what is there (members by name, grants by title, the
consultation by title, allocations by member) instead of duplicating it.

The organisations are real community-led networks; their names, countries,
types and constituencies are public facts, to the best of our knowledge
(`countries` is where the secretariat is registered or hosted). The focal
points are NOT their people: every one is an obviously fictional placeholder
("Focal point, IDPC", focal@idpc.example.org). Amounts other than the RCNF
grant's total are illustrative, and say so.
"""
import time
from datetime import datetime, timedelta, timezone

import requests

from services.gateway.auth import issue_token


def _org(name, acronym, slug, org_type, countries, region, constituencies):
    return {
        "name": name, "acronym": acronym, "orgType": org_type, "countries": countries,
        "region": region, "constituencies": constituencies,
        "focalPoint": {"name": f"Focal point, {acronym or name}",
                       "email": f"focal@{slug}.example.org", "phone": None},
    }


PWUD, PLHIV, SW = "PEOPLE_WHO_USE_DRUGS", "PEOPLE_LIVING_WITH_HIV", "SEX_WORKERS"
EURASIA = "Eastern Europe and Central Asia"
ASIA_PACIFIC = "Asia and the Pacific"
BALKANS = "Western Balkans"
KYRGYZSTAN = "Central Asia"

# The harm-reduction consortium that shared one Robert Carr Fund grant (2016-2018).
HARM_REDUCTION_CONSORTIUM = [
    _org("International Drug Policy Consortium", "IDPC", "idpc", "NGO", ["GB"], "Global", [PWUD]),
    _org("Harm Reduction International", "HRI", "hri", "NGO", ["GB"], "Global", [PWUD]),
    # a global youth-led network; hosted in London when it was founded
    _org("Youth RISE", None, "youthrise", "REGIONAL_NETWORK", ["GB"], "Global",
         ["YOUNG_PEOPLE", PWUD]),
    _org("Middle East and North Africa Harm Reduction Association", "MENAHRA", "menahra",
         "REGIONAL_NETWORK", ["LB"], "Middle East and North Africa", [PWUD]),
    # renamed Eurasian Harm Reduction Association (EHRA) in 2017; Vilnius
    _org("Eurasian Harm Reduction Network", "EHRN", "ehrn", "REGIONAL_NETWORK", ["LT"],
         "Central and Eastern Europe and Central Asia", [PWUD]),
    # registered in the Republic of Ireland in 2022
    _org("European Network of People Who Use Drugs", "EuroNPUD", "euronpud", "REGIONAL_NETWORK",
         ["IE"], "Europe", [PWUD]),
    # secretariat and financial agent: EHRN/EHRA in Vilnius
    _org("Eurasian Network of People who Use Drugs", "ENPUD", "enpud", "REGIONAL_NETWORK", ["LT"],
         EURASIA, [PWUD]),
]

# Asia-Pacific regional networks of key populations (secretariats in Bangkok).
ASIA_PACIFIC_NETWORKS = [
    _org("Asia Pacific Network of People Living with HIV", "APN+", "apnplus", "REGIONAL_NETWORK",
         ["TH"], ASIA_PACIFIC, [PLHIV]),
    _org("Asia Pacific Network of Sex Workers", "APNSW", "apnsw", "REGIONAL_NETWORK", ["TH"],
         ASIA_PACIFIC, [SW]),
    _org("APCOM", None, "apcom", "REGIONAL_NETWORK", ["TH"], ASIA_PACIFIC,
         ["MEN_WHO_HAVE_SEX_WITH_MEN", "LGBT"]),
    _org("ICW Asia Pacific", "ICWAP", "icwap", "REGIONAL_NETWORK", ["TH"], ASIA_PACIFIC,
         [PLHIV, "WOMEN_AND_GIRLS"]),
    _org("Network of Asian People who Use Drugs", "NAPUD", "napud", "REGIONAL_NETWORK", ["TH"],
         ASIA_PACIFIC, [PWUD]),
    _org("Youth LEAD", None, "youthlead", "REGIONAL_NETWORK", ["TH"], ASIA_PACIFIC,
         ["YOUNG_PEOPLE"]),
]

# Western Balkans harm-reduction organisations.
WESTERN_BALKANS = [
    _org("Prevent", None, "prevent", "NGO", ["RS"], BALKANS, [PWUD, "YOUNG_PEOPLE"]),
    _org("Timočki omladinski centar", "TOC", "toc", "NGO", ["RS"], BALKANS,
         ["YOUNG_PEOPLE", PWUD]),
    _org("Duga", None, "duga", "COMMUNITY_ORGANISATION", ["BA"], BALKANS, [PWUD]),
    _org("Re Generacija", None, "regeneracija", "COMMUNITY_ORGANISATION", ["RS"], BALKANS, [PWUD]),
    _org("Juventas", None, "juventas", "NGO", ["ME"], BALKANS,
         ["YOUNG_PEOPLE", PWUD, SW, "PRISONERS"]),
    _org("CAZAS", None, "cazas", "NGO", ["ME"], BALKANS, [PWUD, PLHIV]),
]

# The Kyrgyz coalition of communities (all in Kyrgyzstan, KG).
KYRGYZ_COALITION = [
    _org("Asteria", None, "asteria", "COMMUNITY_ORGANISATION", ["KG"], KYRGYZSTAN,
         [SW, PWUD, "WOMEN_AND_GIRLS"]),
    _org("Tais Plus", None, "taisplus", "COMMUNITY_ORGANISATION", ["KG"], KYRGYZSTAN, [SW]),
    _org("Labrys", None, "labrys", "COMMUNITY_ORGANISATION", ["KG"], KYRGYZSTAN,
         ["LGBT", "TRANSGENDER_PEOPLE"]),
    _org("Harm Reduction Network Association", None, "hrn-kg", "NATIONAL_NETWORK", ["KG"],
         KYRGYZSTAN, [PWUD]),
    _org("Prosvet", None, "prosvet", "COMMUNITY_ORGANISATION", ["KG"], KYRGYZSTAN, [PWUD]),
]

# Registered by the secretariat: ACTIVE with the MoU signed.
FOUNDERS = (HARM_REDUCTION_CONSORTIUM + ASIA_PACIFIC_NETWORKS + WESTERN_BALKANS
            + KYRGYZ_COALITION[:4])
# Applies itself (anonymously): CANDIDATE, with its admission consultation open.
APPLICANT = KYRGYZ_COALITION[4]
ALL_MEMBERS = FOUNDERS + [APPLICANT]

RCNF_GRANT = {
    "title": "Harm Reduction Consortium: Strengthening civil society advocacy for critical "
             "enablers of the HIV response for people who use drugs",
    "donor": "Robert Carr civil society Networks Fund (RCNF)",
    "currency": "USD", "amount": "1455000.00",
    "startDate": "2016-01-01", "endDate": "2018-12-31",
}
# The real figure and dates of this grant are not known to us: the amount and
# the period are ILLUSTRATIVE, and the title and donor say so.
UNODC_GRANT = {
    "title": "Western Balkans emergency support to harm reduction services "
             "(illustrative amount)",
    "donor": "UNODC (illustrative figures, not the real grant's)",
    "currency": "USD", "amount": "60000.00",
    "startDate": "2020-05-01", "endDate": "2020-12-31",
}
GRANTS = [RCNF_GRANT, UNODC_GRANT]

# Proposed on the RCNF grant (the split is illustrative, and says so).
ALLOCATIONS = [
    {"grant": RCNF_GRANT["title"], "member": "Middle East and North Africa Harm Reduction Association",
     "amount": "180000.00",
     "purpose": "Regional advocacy for harm reduction in the Middle East and North Africa "
                "(illustrative share of the consortium grant)."},
    {"grant": RCNF_GRANT["title"], "member": "Eurasian Network of People who Use Drugs",
     "amount": "150000.00",
     "purpose": "Small grants to community groups of people who use drugs in Eastern Europe "
                "and Central Asia (illustrative share of the consortium grant)."},
]

CONSULTATION = {
    "title": "Joint statement to the Commission on Narcotic Drugs",
    "proposal": "Endorse the coalition's joint statement to the Commission on Narcotic Drugs: "
                "fund harm reduction, and stop criminalising people who use drugs.",
    "next_proposal": "Endorse the joint statement to the Commission on Narcotic Drugs, as "
                     "amended: it now has a section on young people who use drugs and on "
                     "services for women who use drugs.",
}
# (member name, stance, reason[, replaced later by (stance, reason)])
ROUND_1_STANCES = [
    ("International Drug Policy Consortium", "AGREE", None),
    ("Harm Reduction International", "AGREE", None),
    ("Youth RISE", "BLOCK", "The statement says nothing about young people who use drugs; we "
                            "cannot put our name to it as drafted."),
    ("Middle East and North Africa Harm Reduction Association", "AGREE", None),
    ("Eurasian Harm Reduction Network", "RESERVATIONS", "The Eurasia section should use the "
                                                        "latest data."),
    ("European Network of People Who Use Drugs", "AGREE", None),
    ("Eurasian Network of People who Use Drugs", "AGREE", None),
    ("Asia Pacific Network of People Living with HIV", "STAND_ASIDE",
     "Outside our mandate; we will not stand in the way."),
    ("Asia Pacific Network of Sex Workers", "AGREE", None),
    ("APCOM", "AGREE", None),
    ("ICW Asia Pacific", "RESERVATIONS", "Please name women who use drugs."),
    ("Network of Asian People who Use Drugs", "AGREE", None),
    ("Youth LEAD", "AGREE", None),
]
ROUND_2_STANCES = [
    ("International Drug Policy Consortium", "AGREE", None),
    ("Youth RISE", "AGREE", "Thank you for the new section."),
    ("Eurasian Harm Reduction Network", "RESERVATIONS", "We still want the newest data.",
     ("AGREE", "The data are now up to date.")),
    ("ICW Asia Pacific", "AGREE", None),
    ("Harm Reduction International", "AGREE", None),
]

DEADLINE_DAYS = 14


# ---- talking to the gateway ---------------------------------------------------

class DemoError(Exception):
    """Loading stopped; str() is one line a person can act on."""


class GatewayError(DemoError):
    def __init__(self, code, message, operation):
        super().__init__(f"the gateway refused {operation}: {code}: {message}")
        self.code = code


class Gateway:
    """A tiny GraphQL client: data of a request, or GatewayError/DemoError."""

    def __init__(self, url, timeout=30):
        self.base = url.rstrip("/")
        self.endpoint = self.base + "/graphql"
        self.timeout = timeout
        self.http = requests.Session()

    def gql(self, query, variables=None, token=None, operation="a request"):
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

    def pages(self, field, query, variables, token=None, operation="a list"):
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

GRANT_FIELDS = """id title donor currency amount status allocated available
  allocations { id amount status member { id name } consultation { id status } }"""
LIST_GRANTS = f"""query($after: String) {{
  grants(first: 50, after: $after) {{
    edges {{ node {{ {GRANT_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
GET_GRANT = f"query($id: ID!) {{ grant(id: $id) {{ {GRANT_FIELDS} }} }}"
CREATE_GRANT = f"mutation($input: GrantInput!) {{ createGrant(input: $input) {{ {GRANT_FIELDS} }} }}"
ACTIVATE_GRANT = f"mutation($id: ID!) {{ activateGrant(id: $id) {{ {GRANT_FIELDS} }} }}"
PROPOSE = """mutation($input: AllocationInput!) {
  proposeAllocation(input: $input) { id amount status } }"""


# ---- the loader -----------------------------------------------------------------

def _later(days=DEADLINE_DAYS):
    return (datetime.now(timezone.utc) + timedelta(days=days)).isoformat(timespec="seconds")


def _key(name):
    return name.casefold()


class Loader:
    def __init__(self, url, secret, echo=print, wait_seconds=20.0, poll_seconds=0.5):
        self.gw = Gateway(url)
        self.secret = secret
        self.echo = echo
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.admin = issue_token(secret, "ADMIN", "demo-loader", ttl=timedelta(hours=1))
        self.members = {}  # name casefolded -> member
        self.summary = {"created": 0, "reused": 0}

    def member_token(self, member):
        return issue_token(self.secret, "MEMBER", f"demo-{member['id']}", member["id"],
                           ttl=timedelta(hours=1))

    def _wait(self, probe):
        """probe() until truthy or wait_seconds have passed; the last value."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            value = probe()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(self.poll_seconds)

    # ---- members -------------------------------------------------------------

    def find_member(self, name):
        """The member with exactly this name (case-insensitively), not REJECTED."""
        for node in self.gw.pages("members", FIND_MEMBERS, {"search": name}, self.admin,
                                  "the member search"):
            if _key(node["name"]) == _key(name) and node["status"] != "REJECTED":
                return node
        return None

    def ensure_founder(self, data):
        member = self.find_member(data["name"])
        if member is None:
            member = self.gw.gql(REGISTER, {"input": data}, self.admin,
                                 f"registerFoundingMember({data['name']})")["registerFoundingMember"]
            self.summary["created"] += 1
        else:
            self.summary["reused"] += 1
            if member["status"] == "ACTIVE" and not member["mouSignedAt"]:
                member = self.gw.gql(SIGN_MOU, {"id": member["id"]}, self.admin,
                                     f"signMou({data['name']})")["signMou"]
        self.members[_key(data["name"])] = member
        return member

    def ensure_applicant(self, data):
        member = self.find_member(data["name"])
        if member is None:
            # anyone may apply, also without a token
            member = self.gw.gql(APPLY, {"input": data}, None,
                                 f"applyForMembership({data['name']})")["applyForMembership"]
            self.summary["created"] += 1
        else:
            self.summary["reused"] += 1
        self.members[_key(data["name"])] = member
        admission = None
        if member["status"] == "CANDIDATE":
            admission = self._wait(lambda: self.admission_of(member["id"]))
        return member, admission

    def admission_of(self, member_id):
        for node in self.gw.pages("consultations", LIST_CONSULTATIONS,
                                  {"kind": "MEMBERSHIP_ADMISSION", "status": "OPEN"}, self.admin,
                                  "the consultations list"):
            if node["subjectId"] == member_id:
                return node
        return None

    # ---- grants ----------------------------------------------------------------

    def find_grant(self, title):
        for node in self.gw.pages("grants", LIST_GRANTS, {}, self.admin, "the grants list"):
            if node["title"] == title:
                return node
        return None

    def ensure_grant(self, data, activate=True):
        grant = self.find_grant(data["title"])
        if grant is None:
            grant = self.gw.gql(CREATE_GRANT, {"input": data}, self.admin,
                                f"createGrant({data['title'][:40]}...)")["createGrant"]
        if activate and grant["status"] == "PIPELINE":
            grant = self.gw.gql(ACTIVATE_GRANT, {"id": grant["id"]}, self.admin,
                                "activateGrant")["activateGrant"]
        return grant

    def ensure_allocation(self, grant, spec):
        member = self.members.get(_key(spec["member"]))
        if member is None:
            return "skipped: not a demo member"
        for allocation in grant["allocations"]:
            if allocation["member"]["id"] == member["id"] and allocation["status"] != "REJECTED":
                return f"already {allocation['status']}"
        variables = {"input": {"grantId": grant["id"], "memberId": member["id"],
                               "amount": spec["amount"], "purpose": spec["purpose"],
                               "closesAt": _later()}}
        # the grants service learns of a new member by an event: until it has,
        # the member is NOT_FOUND there; try again for a while
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                self.gw.gql(PROPOSE, variables, self.admin,
                            f"proposeAllocation({spec['member']})")
                return "PROPOSED"
            except GatewayError as exc:
                if exc.code == "NOT_FOUND" and time.monotonic() < deadline:
                    time.sleep(self.poll_seconds)
                    continue
                if exc.code == "CONFLICT":  # e.g. the member withdrew meanwhile
                    return f"skipped: {exc}"
                raise

    # ---- the general consultation -------------------------------------------------

    def find_general(self, title):
        for node in self.gw.pages("consultations", LIST_CONSULTATIONS, {"kind": "GENERAL"},
                                  self.admin, "the consultations list"):
            if node["title"] == title:
                return node
        return None

    def cast_round(self, consultation, plan):
        """Cast each planned stance of a member eligible in this round."""
        eligible = {m["id"] for m in consultation["eligibleMembers"]}
        cast = replaced = 0
        for name, value, reason, *then in plan:
            member = self.members.get(_key(name))
            if member is None or member["id"] not in eligible:
                continue
            token = self.member_token(member)
            for value_, reason_ in [(value, reason)] + list(then):
                self.gw.gql(CAST, {"c": consultation["id"], "v": value_, "r": reason_}, token,
                            f"castStance({name})")
                cast += 1
            replaced += len(then)
        return cast, replaced

    def ensure_consultation(self):
        existing = self.find_general(CONSULTATION["title"])
        if existing is not None:
            return existing, "reused (stances left as they are)"
        opened = self.gw.gql(OPEN_CONSULTATION, {"input": {
            "title": CONSULTATION["title"], "proposal": CONSULTATION["proposal"],
            "closesAt": _later(), "rule": "CONSENSUS", "quorum": 0.5}}, self.admin,
            "openConsultation")["openConsultation"]
        first, _ = self.cast_round(opened, ROUND_1_STANCES)
        closed = self.gw.gql(CLOSE, {"id": opened["id"]}, self.admin,
                             "closeConsultation")["closeConsultation"]
        outcome = closed["outcome"]
        if outcome == "ADOPTED":  # cannot happen with the planned BLOCK, but be honest
            return closed, f"round 1: {first} stances, ADOPTED"
        second_round = self.gw.gql(NEXT_ROUND, {"id": opened["id"],
                                                "p": CONSULTATION["next_proposal"],
                                                "at": _later()}, self.admin,
                                   "startNextRound")["startNextRound"]
        second, replaced = self.cast_round(second_round, ROUND_2_STANCES)
        current = self.gw.gql(GET_CONSULTATION, {"id": opened["id"]}, self.admin,
                              "consultation")["consultation"]
        return current, (f"round 1: {first} stances, closed {outcome}; round 2 OPEN: "
                         f"{second} stances cast, {replaced} of them replacing an earlier one")

    # ---- all of it -----------------------------------------------------------------

    def load(self):
        viewer = self.gw.gql(VIEWER, None, self.admin, "the ADMIN token")["viewer"]
        if viewer["role"] != "ADMIN":
            raise DemoError("the gateway did not accept the loader's ADMIN token")
        echo = self.echo
        echo(f"Loading the demo coalition through {self.gw.endpoint}")
        for data in FOUNDERS:
            self.ensure_founder(data)
        echo(f"  founding members: {len(FOUNDERS)} ({self.summary['created']} registered, "
             f"{self.summary['reused']} already there)")
        applicant, admission = self.ensure_applicant(APPLICANT)
        if admission:
            note = f"admission consultation {admission['id']} OPEN"
        elif applicant["status"] == "CANDIDATE":
            note = "admission consultation not open yet (it opens by an event; look again soon)"
        else:
            note = "no longer a candidate"
        echo(f"  applicant: {applicant['name']} {applicant['status']}, {note}")

        grants = {}
        for data in GRANTS:
            grant = self.ensure_grant(data)
            grants[data["title"]] = grant
            title = grant["title"] if len(grant["title"]) <= 70 else grant["title"][:67] + "..."
            echo(f"  grant: {title} {grant['currency']} {grant['amount']} "
                 f"{grant['status']} ({grant['id']})")
        for spec in ALLOCATIONS:
            grant = grants[spec["grant"]]
            result = self.ensure_allocation(grant, spec)
            echo(f"    allocation {spec['amount']} to {spec['member']}: {result}")
        for data in GRANTS:  # wait until each allocation's consultation opened
            grant_id = grants[data["title"]]["id"]
            grants[data["title"]] = self._wait(lambda: self._grant_settled(grant_id)) or \
                self.gw.gql(GET_GRANT, {"id": grant_id}, self.admin, "grant")["grant"]

        consultation, note = self.ensure_consultation()
        echo(f"  consultation: {consultation['title']} ({consultation['id']}): {note}")
        return {"members": dict(self.members), "applicant": applicant, "admission": admission,
                "grants": grants, "consultation": consultation}

    def _grant_settled(self, grant_id):
        grant = self.gw.gql(GET_GRANT, {"id": grant_id}, self.admin, "grant")["grant"]
        pending = [a for a in grant["allocations"]
                   if a["status"] == "PROPOSED" and a["consultation"] is None]
        return None if pending else grant


def load(url, secret, echo=print, **options):
    """Load the demo coalition through the gateway at `url`; a summary dict.
    Raises DemoError (one line) when the gateway does not answer or refuses."""
    return Loader(url, secret, echo, **options).load()
