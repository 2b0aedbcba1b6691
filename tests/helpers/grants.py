"""Grants through the gateway, as a client sends them: grants, allocations
approved the real way (votes, then a close), disbursements, and the checks
that a refusal left the books exactly as they were; and, for the hosted
grants service of tests/service, allocations approved by the event that
approves them (hosted_allocation)."""
import uuid

from tests.helpers.consultations import cast, close
from tests.helpers.events import round_closed
from tests.support import member_input, wait_for

GRANT_FIELDS = "id title donor currency amount startDate endDate status allocated disbursed available"
CREATE = f"mutation($i: GrantInput!) {{ createGrant(input: $i) {{ {GRANT_FIELDS} }} }}"
ACTIVATE = f"mutation($id: ID!) {{ activateGrant(id: $id) {{ {GRANT_FIELDS} }} }}"
ALLOCATION_FIELDS = """id amount purpose status disbursed
    grant { id status allocated disbursed available }
    member { id name status }
    disbursements { id amount paidOn reference }
    consultation { id kind status subjectId title eligibleMembers { id } outcome }"""
PROPOSE = f"mutation($i: AllocationInput!) {{ proposeAllocation(input: $i) {{ {ALLOCATION_FIELDS} }} }}"
# no `consultation` in the answer: the gateway would ask consultations for it
PROPOSE_ONLY = """mutation($i: AllocationInput!) { proposeAllocation(input: $i) {
    id status grant { allocated available } } }"""
DISBURSE = "mutation($i: DisbursementInput!) { recordDisbursement(input: $i) { id amount paidOn reference } }"
GET_GRANT = f"query($id: ID!) {{ grant(id: $id) {{ {GRANT_FIELDS} allocations {{ {ALLOCATION_FIELDS} }} }} }}"


def grant_input(**overrides):
    data = {"title": f"Robert Carr Fund {uuid.uuid4().hex[:8]}", "donor": "Robert Carr Fund",
            "currency": "EUR", "amount": "1455000", "startDate": "2026-01-01",
            "endDate": "2027-12-31"}
    data.update(overrides)
    return data


def create_grant(stack, activate=False, **overrides):
    g = stack.gql(CREATE, {"i": grant_input(**overrides)}, stack.admin())["createGrant"]
    if activate:
        g = stack.gql(ACTIVATE, {"id": g["id"]}, stack.admin())["activateGrant"]
    return g


def propose_body(stack, grant_id, member_id, amount, purpose="Community-led monitoring",
                 token="admin", **extra):
    token = stack.admin() if token == "admin" else token
    data = {"grantId": grant_id, "memberId": member_id, "amount": amount, "purpose": purpose, **extra}
    return stack.post(PROPOSE, {"i": data}, token).json()


def propose(stack, grant_id, member_id, amount, **extra):
    body = propose_body(stack, grant_id, member_id, amount, **extra)
    assert not body.get("errors"), body
    return body["data"]["proposeAllocation"]


def disburse_body(stack, allocation_id, amount, paid_on="2026-03-01", reference=None,
                  token="admin"):
    token = stack.admin() if token == "admin" else token
    data = {"allocationId": allocation_id, "amount": amount, "paidOn": paid_on,
            "reference": reference}
    return stack.post(DISBURSE, {"i": data}, token).json()


def get_grant(stack, grant_id, token=None):
    return stack.gql(GET_GRANT, {"id": grant_id}, token)["grant"]


def get_allocation(stack, grant_id, allocation_id, token=None):
    for a in get_grant(stack, grant_id, token)["allocations"]:
        if a["id"] == allocation_id:
            return a
    raise AssertionError(f"allocation {allocation_id} not in grant {grant_id}")


def wait_allocation(stack, grant_id, allocation_id, status, timeout=20):
    def reached():
        a = get_allocation(stack, grant_id, allocation_id)
        return a if a["status"] == status else False
    return wait_for(reached, timeout, 0.1, f"allocation {allocation_id} {status}")


def wait_consultation(stack, grant_id, allocation_id, timeout=20):
    """The GRANT_ALLOCATION consultation the allocation opened (polled until it exists)."""
    def opened():
        return get_allocation(stack, grant_id, allocation_id)["consultation"]
    return wait_for(opened, timeout, 0.1, f"consultation of allocation {allocation_id}")


def approve(stack, grant_id, allocation_id):
    """The real way: every eligible member agrees, the facilitator closes, the
    consultations service announces ADOPTED and grants approves."""
    c = wait_consultation(stack, grant_id, allocation_id)
    assert c["eligibleMembers"], f"nobody may vote on {c}"
    for m in c["eligibleMembers"]:
        body = cast(stack, c["id"], m["id"])
        assert not body.get("errors"), body
    assert close(stack, c["id"])["outcome"] == "ADOPTED"
    return wait_allocation(stack, grant_id, allocation_id, "APPROVED")


def cents(text):
    whole, _, fraction = text.partition(".")
    assert len(fraction) == 2, text
    return int(whole) * 100 + int(fraction)


def grants_snapshot(stack, grant_id=None):
    """What a refused request must leave exactly as it was."""
    db = stack.db("grants")
    snap = {name: db[name].count_documents({}) for name in
            ("grants", "allocations", "disbursements", "outbox")}
    if grant_id:
        g = db.grants.find_one({"_id": grant_id})
        snap["grant"] = {k: g[k] for k in ("status", "allocated_cents", "disbursed_cents")}
    return snap


def assert_books_balance(stack, grant_id):
    """The grant's counters equal the sums of the stored documents."""
    db = stack.db("grants")
    g = db.grants.find_one({"_id": grant_id})
    allocations = list(db.allocations.find({"grant_id": grant_id}))
    reserving = sum(a["amount_cents"] for a in allocations
                    if a["status"] in ("PROPOSED", "APPROVED", "ON_HOLD"))
    disbursements = list(db.disbursements.find({"grant_id": grant_id}))
    assert g["allocated_cents"] == reserving <= g["amount_cents"], (g, allocations)
    assert g["disbursed_cents"] == sum(d["amount_cents"] for d in disbursements)
    for a in allocations:
        paid = sum(d["amount_cents"] for d in disbursements if d["allocation_id"] == a["_id"])
        assert a["disbursed_cents"] == paid <= a["amount_cents"], a
    return g, allocations, disbursements


# ---- the hosted grants service (tests/service): no gateway, no vote -------------------

def proposal_input(grant_id, member_id, amount, purpose="Community-led monitoring"):
    """An AllocationInput as the gateway hands it to grants.propose_allocation."""
    return {"grantId": grant_id, "memberId": member_id, "amount": amount, "purpose": purpose}


def hosted_allocation(grants, member_id, allocated="10000.00", approve=True, activate=True,
                      **grant_overrides):
    """(grant view, allocation view) on the hosted `grants` service
    (tests/service/host.py): a new USD grant (ACTIVE unless `activate` is
    false; `grant_overrides` to its GrantInput) and an allocation of `allocated`
    to `member_id` (a member grants has heard of), APPROVED unless `approve`
    is false the way grants learns it: a round_closed ADOPTED about it handed
    to its handler."""
    grant_overrides.setdefault("currency", "USD")
    g = grants.create_grant(grant_input(**grant_overrides))
    if activate:
        g = grants.activate_grant(g["id"])
    a = grants.propose_allocation(proposal_input(g["id"], member_id, allocated))
    if approve:
        grants.handle(round_closed("GRANT_ALLOCATION", a["id"], "ADOPTED"))
        (a,) = grants.get_allocations([a["id"]])
        assert a["status"] == "APPROVED", a
    return g, a


def hosted_member(host, grants, **overrides):
    """{id, name} of a founding member (ACTIVE, MoU signed, an NGO) registered
    through the hosted members service, once the hosted grants has heard of it."""
    data = member_input(orgType="NGO", **overrides)
    member_id = host.service("members").register_founding_member(data)["id"]
    wait_for(lambda: grants.db.members.find_one({"_id": member_id, "status": "ACTIVE"}), 30, 0.1,
             "grants heard of the member")
    return {"id": member_id, "name": data["name"]}
