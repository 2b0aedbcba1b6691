"""Members through the gateway: validation, lifecycle, access, pagination,
search, and the admission saga."""
import threading
import uuid

import pytest

from tests.helpers.consultations import admission_of, cast, close
from tests.support import founders, isolate_voters, member_input, wait_for, wait_read_models

MEMBER_FIELDS = """id name acronym orgType countries region constituencies status mouSignedAt
                   canVote joinedAt focalPoint { name email phone } history { at status note }"""
REGISTER = f"mutation($i: MemberInput!) {{ registerFoundingMember(input: $i) {{ {MEMBER_FIELDS} }} }}"
APPLY = f"mutation($i: MemberInput!) {{ applyForMembership(input: $i) {{ {MEMBER_FIELDS} }} }}"
GET = f"query($id: ID!) {{ member(id: $id) {{ {MEMBER_FIELDS} }} }}"


def register(stack, **overrides):
    return stack.gql(REGISTER, {"i": member_input(**overrides)}, stack.admin())["registerFoundingMember"]


def apply(stack, token=None, **overrides):
    return stack.gql(APPLY, {"i": member_input(**overrides)}, token)["applyForMembership"]


def mutate(stack, name, member_id, token, extra=""):
    q = f"mutation($id: ID!) {{ {name}(memberId: $id{extra}) {{ {MEMBER_FIELDS} }} }}"
    return stack.post(q, {"id": member_id}, token).json()


def test_founding_member_is_active_and_can_vote(stack):
    address = f"tais-{uuid.uuid4().hex[:8]}@example.org"
    m = register(stack, name=f"Tais Plus {uuid.uuid4().hex[:6]}", acronym="TP", countries=["kg"],
                 focalPoint={"name": "Focal Point", "email": address, "phone": None})
    assert m["status"] == "ACTIVE" and m["canVote"] and m["mouSignedAt"] and m["joinedAt"]
    assert m["countries"] == ["KG"] and m["focalPoint"]["email"] == address
    assert [h["status"] for h in m["history"]] == ["ACTIVE"]
    assert m["history"][0]["at"].endswith("+00:00")


def test_anonymous_may_apply_and_sees_no_focal_point(stack):
    m = apply(stack, name=f"Prosvet {uuid.uuid4().hex[:4]}")
    assert m["status"] == "CANDIDATE" and not m["canVote"] and m["focalPoint"] is None
    seen_by_admin = stack.gql(GET, {"id": m["id"]}, stack.admin())["member"]
    assert seen_by_admin["focalPoint"]["name"] == "Focal Point"
    seen_by_itself = stack.gql(GET, {"id": m["id"]}, stack.member_token(m["id"]))["member"]
    assert seen_by_itself["focalPoint"] is not None
    someone_else = apply(stack, name=f"Other {uuid.uuid4().hex[:4]}")
    other = stack.gql(GET, {"id": m["id"]}, stack.member_token(someone_else["id"]))["member"]
    assert other["focalPoint"] is None


@pytest.mark.parametrize("field,value,bad", [
    ("name", "", "name"),
    ("name", "x" * 201, "name"),
    ("acronym", "A" * 31, "acronym"),
    ("countries", [], "countries"),
    ("countries", ["XX"], "countries.0"),
    ("countries", ["KGZ"], "countries.0"),
    ("region", "r" * 101, "region"),
    ("focalPoint", {"name": "F", "email": "not-an-email"}, "focalPoint.email"),
    ("focalPoint", {"name": "", "email": "a@example.org"}, "focalPoint.name"),
    ("focalPoint", {"name": "F", "email": "a@example.org", "phone": "call me"}, "focalPoint.phone"),
])
def test_each_field_is_validated_and_nothing_is_stored(stack, field, value, bad):
    name = f"Invalid {uuid.uuid4().hex[:8]}"
    data = member_input(name=name if field != "name" else value, **({field: value} if field != "name" else {}))
    body = stack.post(REGISTER, {"i": data}, stack.admin()).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert bad in error["extensions"]["fields"], error
    assert stack.db("members").members.count_documents({"name": name}) == 0


def test_a_focal_point_address_in_use_is_a_conflict_until_its_member_leaves(stack):
    """DOMAIN.md section 1: unique case-insensitively among acting members."""
    address = f"taken-{uuid.uuid4().hex[:8]}@example.org"
    first = register(stack, focalPoint={"name": "Focal Point", "email": address})
    name = f"Second {uuid.uuid4().hex[:8]}"
    again = member_input(name=name, focalPoint={"name": "Other", "email": address.upper()})
    for mutation, token in ((APPLY, None), (REGISTER, stack.admin())):
        body = stack.post(mutation, {"i": again}, token).json()
        error = body["errors"][0]
        assert error["extensions"]["code"] == "CONFLICT", body
        assert error["message"] == ("This focal point's e-mail address is already used by "
                                    "another member.")
        assert address not in str(body).lower()
    assert stack.db("members").members.count_documents({"name": name}) == 0
    left = mutate(stack, "withdrawMembership", first["id"], stack.admin())
    assert left["data"]["withdrawMembership"]["status"] == "WITHDRAWN", left
    assert apply(stack, name=name, focalPoint={"name": "Other", "email": address})["id"]


def test_constituencies_need_at_least_one(stack):
    body = stack.post(REGISTER, {"i": member_input(constituencies=[])}, stack.admin()).json()
    assert body["errors"][0]["extensions"]["fields"]["constituencies"]


def test_enum_outside_the_list_is_refused_by_the_schema(stack):
    r = stack.post(REGISTER, {"i": member_input(orgType="CLUB")}, stack.admin())
    assert r.status_code == 400 and r.json()["errors"]


def test_name_is_unique_case_insensitively_but_not_against_rejected(stack):
    name = f"Labrys {uuid.uuid4().hex[:6]}"
    register(stack, name=name)
    body = stack.post(REGISTER, {"i": member_input(name=name.upper())}, stack.admin()).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "name" in body["errors"][0]["extensions"]["fields"]


def test_query_operators_are_data(stack):
    r = stack.post(REGISTER, {"i": member_input(name={"$gt": ""})}, stack.admin())
    assert r.json()["errors"]  # a non-string is refused before it reaches a service
    data = stack.gql('query($s: String) { members(search: $s) { totalCount edges { node { id } } } }',
                     {"s": '{"$gt": ""}'})
    assert data["members"]["totalCount"] == 0
    data = stack.gql('query($s: String) { members(search: $s) { totalCount } }', {"s": ".*"})
    assert data["members"]["totalCount"] == 0
    assert stack.gql('query { member(id: "{\\"$gt\\": \\"\\"}") { id } }')["member"] is None
    assert stack.gql('query { member(id: "nope") { id } }')["member"] is None


def test_search_filters_and_word_prefixes(stack):
    tag = uuid.uuid4().hex[:6]
    a = register(stack, name=f"Harm Reduction Network {tag}", acronym="HRN",
                 countries=["KG", "KZ"], constituencies=["PEOPLE_WHO_USE_DRUGS"])
    register(stack, name=f"Youth Voices {tag}", countries=["TJ"], constituencies=["YOUNG_PEOPLE"])
    q = """query($s: String, $c: String, $k: Constituency) { members(search: $s, country: $c,
           constituency: $k) { totalCount edges { node { name } } } }"""
    assert stack.gql(q, {"s": f"harm red {tag}"})["members"]["totalCount"] == 1
    assert stack.gql(q, {"s": f"HARM {tag}", "c": "kz"})["members"]["edges"][0]["node"]["name"] == a["name"]
    assert stack.gql(q, {"s": tag, "k": "YOUNG_PEOPLE"})["members"]["totalCount"] == 1
    assert stack.gql(q, {"s": f"network {tag}", "c": "TJ"})["members"]["totalCount"] == 0
    r = stack.post(q, {"c": "Narnia"})
    assert r.json()["errors"][0]["extensions"]["fields"]["country"]


def test_full_lifecycle_with_history_and_illegal_transitions(stack):
    admin = stack.admin()
    m = register(stack)
    own = stack.member_token(m["id"])
    # signMou twice
    body = mutate(stack, "signMou", m["id"], admin)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "ACTIVE" in body["errors"][0]["message"]
    # reinstate an ACTIVE member
    body = mutate(stack, "reinstateMember", m["id"], admin)
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT" and "ACTIVE" in body["errors"][0]["message"]
    # a member may withdraw itself; WITHDRAWN is final
    body = mutate(stack, "withdrawMembership", m["id"], own, ', reason: "merging"')
    assert body["data"]["withdrawMembership"]["status"] == "WITHDRAWN"
    history = body["data"]["withdrawMembership"]["history"]
    assert [h["status"] for h in history] == ["ACTIVE", "WITHDRAWN"] and history[1]["note"] == "merging"
    for name in ("withdrawMembership", "reinstateMember", "signMou"):
        body = mutate(stack, name, m["id"], admin)
        assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
        assert "WITHDRAWN" in body["errors"][0]["message"]


def test_candidate_transitions(stack):
    c = apply(stack)
    body = mutate(stack, "signMou", c["id"], stack.admin())
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT" and "CANDIDATE" in body["errors"][0]["message"]
    body = mutate(stack, "withdrawMembership", c["id"], stack.member_token(c["id"]))
    assert body["data"]["withdrawMembership"]["status"] == "WITHDRAWN"


def test_access_to_member_mutations(stack):
    m = register(stack)
    other = register(stack)
    body = mutate(stack, "withdrawMembership", m["id"], stack.member_token(other["id"]))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = mutate(stack, "withdrawMembership", m["id"], None)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = mutate(stack, "reinstateMember", m["id"], stack.member_token(m["id"]))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = stack.post(REGISTER, {"i": member_input()}, stack.member_token(m["id"])).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = stack.post(REGISTER, {"i": member_input()}).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body = mutate(stack, "signMou", "no-such-member", stack.admin())
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_pagination_without_duplicates_or_gaps_while_members_are_added(stack):
    tag = uuid.uuid4().hex[:6]
    existing = {register(stack, name=f"Paged {tag} {i}")["id"] for i in range(12)}
    stop = threading.Event()

    def add_more():
        i = 0
        while not stop.is_set() and i < 20:
            register(stack, name=f"Paged {tag} late {i}")
            i += 1

    writer = threading.Thread(target=add_more)
    writer.start()
    q = """query($s: String, $after: String) { members(search: $s, first: 5, after: $after) {
           totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }"""
    seen, after = [], None
    try:
        while True:
            page = stack.gql(q, {"s": f"paged {tag}", "after": after})["members"]
            seen += [e["node"]["id"] for e in page["edges"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            assert page["edges"][-1]["cursor"] == after
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen)), "a member appeared twice"
    assert existing <= set(seen), "a member that existed before paging was skipped"
    body = stack.post(q, {"s": tag, "after": "not-a-cursor"}).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_focal_point_never_logged(stack):
    secret_mail = f"never-log-{uuid.uuid4().hex[:6]}@example.org"
    register(stack, focalPoint={"name": "Hidden Person", "email": secret_mail})
    stack.post(REGISTER, {"i": member_input(focalPoint={"name": "Hidden", "email": "bad@" + secret_mail})},
               stack.admin())
    logs = "".join(p.read_text(errors="replace") for p in (stack.stack.var / "logs").glob("*.log"))
    assert secret_mail not in logs and "Hidden Person" not in logs


# ---- the admission saga -------------------------------------------------------------

MEMBER_STATUS = """query($id: ID!) { member(id: $id) { status canVote } }"""


def test_admission_adopted_then_mou_then_eligible_next_round(stack):
    isolate_voters(stack)
    voters = founders(stack, 3)
    candidate = apply(stack)
    admission = admission_of(stack, candidate["id"])
    with stack.rpc() as rpc:
        eligible = rpc.consultations.eligible_many([admission["_id"]])[admission["_id"]]
    assert candidate["id"] not in eligible
    assert eligible == sorted(v["id"] for v in voters)
    body = cast(stack, admission["_id"], candidate["id"])  # no one decides their own case
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for v in voters:
        assert not cast(stack, admission["_id"], v["id"]).get("errors")
    closed = close(stack, admission["_id"])
    assert (closed["status"], closed["outcome"]) == ("CLOSED", "ADOPTED")
    wait_for(lambda: stack.gql(MEMBER_STATUS, {"id": candidate["id"]})["member"]["status"] == "ACTIVE",
             message="candidate admitted")
    assert stack.gql(MEMBER_STATUS, {"id": candidate["id"]})["member"]["canVote"] is False
    signed = mutate(stack, "signMou", candidate["id"], stack.member_token(candidate["id"]))
    assert signed["data"]["signMou"]["canVote"] is True
    history = [h["status"] for h in signed["data"]["signMou"]["history"]]
    assert history == ["CANDIDATE", "ACTIVE", "ACTIVE"]
    wait_read_models(stack, candidate["id"], can_vote=True)
    q = """mutation($i: ConsultationInput!) { openConsultation(input: $i) { id eligibleMembers { id } } }"""
    opened = stack.gql(q, {"i": {"title": "Annual plan", "proposal": "Adopt the plan",
                                 "closesAt": "2099-01-01T00:00:00+00:00"}}, stack.admin())
    assert candidate["id"] in {m["id"] for m in opened["openConsultation"]["eligibleMembers"]}


def test_admission_cancelled_rejects_and_frees_the_name(stack):
    isolate_voters(stack)
    voters = founders(stack, 2)
    name = f"Rejected {uuid.uuid4().hex[:6]}"
    candidate = apply(stack, name=name)
    admission = admission_of(stack, candidate["id"])
    cast(stack, admission["_id"], voters[0]["id"], "BLOCK", "Not aligned with our charter")
    cast(stack, admission["_id"], voters[1]["id"], "AGREE")
    assert close(stack, admission["_id"])["outcome"] == "BLOCKED"
    q = 'mutation($id: ID!) { cancelConsultation(id: $id, reason: "No consensus") { status } }'
    assert stack.gql(q, {"id": admission["_id"]}, stack.admin())["cancelConsultation"]["status"] == "CANCELLED"
    wait_for(lambda: stack.gql(MEMBER_STATUS, {"id": candidate["id"]})["member"]["status"] == "REJECTED",
             message="candidate rejected")
    again = apply(stack, name=name)  # the name is free again
    assert again["status"] == "CANDIDATE"
