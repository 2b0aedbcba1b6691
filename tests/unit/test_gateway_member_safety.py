"""A member's safety in the gateway (DOMAIN.md section 11), on the real
schema with the services replaced by their answers (the pattern of the
other tests/unit/test_gateway_*.py): what ANONYMOUS learns of a
MEMBERS_ONLY member (services/gateway/disclosure.py), who reads a focal
point and how it is recorded, the three mutations (member_safety.py), and
the kept answers an erasure scrubs (idempotency.py). The whole way through
the real services is tests/integration/."""
import asyncio
import json
from types import SimpleNamespace

from services.common.errors import Conflict, NotFound
from services.gateway import idempotency
from services.gateway.auth import Viewer
from services.gateway.idempotency import ERASED_ANSWER, Keys
from services.gateway.loaders import Loaders
from services.gateway.schema import schema
from tests.helpers.recorded import RecordedServices

ADMIN = Viewer(role="ADMIN", sub="p1", name="Ana Secretariat")
M1 = Viewer(role="MEMBER", member_id="m1", sub="focal-point:m1")
M2 = Viewer(role="MEMBER", member_id="m2", sub="focal-point:m2")
ANONYMOUS = Viewer()
FOCAL = {"name": "Айгерим", "email": "focal@example.org", "phone": None}


def member(member_id, visibility="PUBLIC", **more):
    return {"id": member_id, "name": f"Member {member_id}", "acronym": None,
            "org_type": "NGO", "countries": ["KZ"], "region": None,
            "constituencies": ["SEX_WORKERS"], "status": "ACTIVE", "mou_signed_at": None,
            "joined_at": None, "can_vote": True, "language": "EN", "history": [],
            "visibility": visibility, "focal_point": FOCAL, "erased_at": None, **more}


MEMBERS = {"m1": member("m1"), "m2": member("m2", "MEMBERS_ONLY"),
           "m3": member("m3", status="WITHDRAWN", focal_point=None,
                        erased_at="2026-01-02T00:00:00+00:00")}
GRANT = {"id": "g1", "title": "RCNF", "donor": "RCNF", "currency": "USD",
         "amount": "1455000.00", "start_date": "2016-01-01", "end_date": "2018-12-31",
         "status": "ACTIVE", "allocated": "186454.20", "disbursed": "0.00",
         "available": "1268545.80", "sector_code": "13040", "closed_at": None,
         "budget_lines": []}
ALLOCATIONS = [
    {"id": "a1", "grant_id": "g1", "member_id": "m1", "amount": "100000.00", "purpose": "x",
     "status": "APPROVED", "disbursed": "0.00"},
    {"id": "a2", "grant_id": "g1", "member_id": "m2", "amount": "86454.20", "purpose": "y",
     "status": "PROPOSED", "disbursed": "0.00"},
]


def consultation(cid, kind, beneficiary, title):
    return {"id": cid, "kind": kind, "title": title, "proposal": f"{title}, proposed.",
            "subject_id": beneficiary, "beneficiary_id": beneficiary, "status": "CLOSED",
            "round": 2, "rule": "CONSENSUS", "quorum": 0.5, "threshold": None,
            "opened_at": "2026-01-01T00:00:00+00:00", "closes_at": "2026-01-08T00:00:00+00:00",
            "closed_at": None, "results_visibility": "OPEN", "outcome": "BLOCKED",
            "tally": {"eligible": 2, "responded": 0, "agree": 0, "reservations": 0,
                      "stand_aside": 0, "block": 0, "quorum_reached": False},
            "rounds": [{"number": 1, "proposal": f"{title}, first.", "outcome": "BLOCKED",
                        "closed_at": "2026-01-08T00:00:00+00:00", "explanation": "Blocks: 1.",
                        "tally": {"eligible": 2, "responded": 1, "agree": 0, "reservations": 0,
                                  "stand_aside": 0, "block": 1, "quorum_reached": True}}]}


CONSULTATIONS = [consultation("c1", "MEMBERSHIP_ADMISSION", "m2", "Admit Member m2"),
                 consultation("c2", "MEMBERSHIP_ADMISSION", "m1", "Admit Member m1"),
                 consultation("c3", "GENERAL", None, "Strategy")]


def page(nodes):
    return {"edges": [{"cursor": n["id"], "node": n} for n in nodes], "has_next_page": False,
            "end_cursor": None, "total_count": len(nodes)}


class FakeServices(RecordedServices):
    """The services' answers, and every call made (service, method, args)."""

    def members_get_many(self, ids):
        return [MEMBERS[i] for i in ids if i in MEMBERS]

    def members_list(self, filters, first, after, count):
        return page([m for m in MEMBERS.values()
                     if filters.get("visibility") in (None, m["visibility"])])

    def members_read_focal_points(self, ids, by):
        return [{"id": i, "focal_point": MEMBERS[i]["focal_point"]} for i in ids if i in MEMBERS]

    def members_focal_point_reads_many(self, ids):
        return {i: [{"at": "2026-01-03T10:00:00+00:00", "by": "Ana Secretariat"}] for i in ids}

    def members_set_visibility(self, member_id, visibility):
        return {**MEMBERS[member_id], "visibility": visibility}

    def members_erase_member_data(self, member_id, by):
        if MEMBERS[member_id]["status"] != "WITHDRAWN":
            raise Conflict("Only a WITHDRAWN or REJECTED member's data can be erased; it is ACTIVE.")
        return {"member": MEMBERS[member_id], "removed": ["the focal point's name"]}

    def notifications_erase_member_data(self, member_id):
        return ["2 mails to the focal point"]

    def accounts_erase_member_data(self, member_id):
        return []

    def grants_get_many(self, ids):
        return [GRANT] if "g1" in ids else []

    def grants_allocations_by_grants(self, ids):
        return {"g1": ALLOCATIONS} if "g1" in ids else {}

    def consultations_get_many(self, ids):
        return [c for c in CONSULTATIONS if c["id"] in ids]

    def consultations_list(self, filters, first, after, count):
        return page(CONSULTATIONS)

    def consultations_eligible_many(self, ids):
        return {i: ["m1", "m2"] for i in ids}

    def __getattr__(self, name):
        if name.endswith("_member_data"):
            return lambda member_id: {name.split("_")[0]: [{"member_id": member_id}]}
        raise AttributeError(name)


class FakeKeys:
    def __init__(self, scrubbed=0):
        self.scrubbed, self.asked = scrubbed, []

    def scrub(self, member_id):
        self.asked.append(member_id)
        return self.scrubbed


def run(viewer, query, variables=None, keys=None):
    """(data, errors, the fake services, the context) of `query` run as `viewer`."""
    services = FakeServices()
    ctx = SimpleNamespace(viewer=viewer, call=services, shown_focal_points=set(),
                          keys=keys or FakeKeys(), members=SimpleNamespace(remember=lambda m: None))
    ctx.loaders = Loaders(ctx)
    result = asyncio.run(schema.execute_async(query, context_value=ctx,
                                              variable_values=variables))
    return result.data, result.errors, services, ctx


def ok(viewer, query, variables=None):
    data, errors, services, ctx = run(viewer, query, variables)
    assert not errors, errors
    return data, services, ctx


def codes(errors):
    return [e.original_error.code for e in errors or ()]


# ---- what ANONYMOUS learns of a MEMBERS_ONLY member ---------------------------------------

def test_a_members_only_member_is_null_for_anonymous_only():
    query = '{ a: member(id: "m1") { id visibility } b: member(id: "m2") { id visibility } }'
    assert ok(ANONYMOUS, query)[0] == {"a": {"id": "m1", "visibility": "PUBLIC"}, "b": None}
    for viewer in (ADMIN, M1):
        assert ok(viewer, query)[0]["b"] == {"id": "m2", "visibility": "MEMBERS_ONLY"}


def test_the_members_list_asks_for_public_members_for_anonymous():
    query = "{ members { totalCount edges { node { id } } } }"
    data, services, _ = ok(ANONYMOUS, query)
    assert services.asked("list") == [({"visibility": "PUBLIC"}, 50, None, True)]
    assert [e["node"]["id"] for e in data["members"]["edges"]] == ["m1", "m3"]
    assert data["members"]["totalCount"] == 2
    data, services, _ = ok(ADMIN, query)
    assert services.asked("list") == [({}, 50, None, True)]
    assert data["members"]["totalCount"] == 3


def test_the_members_list_drops_a_hidden_node_the_service_answers():
    services = FakeServices()
    services.members_list = lambda *args: page(list(MEMBERS.values()))
    ctx = SimpleNamespace(viewer=ANONYMOUS, call=services, shown_focal_points=set())
    ctx.loaders = Loaders(ctx)
    result = asyncio.run(schema.execute_async("{ members { edges { node { id } } } }",
                                              context_value=ctx))
    assert [e["node"]["id"] for e in result.data["members"]["edges"]] == ["m1", "m3"]


def test_a_grant_leaves_out_hidden_allocations_for_anonymous_and_says_how_many():
    query = ('{ grant(id: "g1") { allocated allocations { id member { id } } '
             'undisclosedAllocations undisclosedAmount } }')
    data, services, _ = ok(ANONYMOUS, query)
    assert data["grant"] == {"allocated": "186454.20", "allocations": [
        {"id": "a1", "member": {"id": "m1"}}], "undisclosedAllocations": 1,
        "undisclosedAmount": "86454.20"}
    assert len(services.asked("get_many")) == 2  # the grant, then its allocations' members
    data, services, _ = ok(ADMIN, query)
    assert [a["id"] for a in data["grant"]["allocations"]] == ["a1", "a2"]
    assert (data["grant"]["undisclosedAllocations"], data["grant"]["undisclosedAmount"]) \
        == (0, "0.00")


def test_a_consultation_about_a_hidden_member_is_redacted_for_anonymous():
    query = ('{ consultation(id: "c1") { title proposal subjectId '
             'rounds { proposal } eligibleMembers { id } } }')
    data, _, _ = ok(ANONYMOUS, query)
    assert data["consultation"] == {
        "title": "Admission: Undisclosed member organisation",
        "proposal": "About an undisclosed member organisation.", "subjectId": None,
        "rounds": [{"proposal": "About an undisclosed member organisation."}],
        "eligibleMembers": [{"id": "m1"}]}
    data, _, _ = ok(M1, query)
    assert data["consultation"]["title"] == "Admit Member m2"
    assert data["consultation"]["eligibleMembers"] == [{"id": "m1"}, {"id": "m2"}]


def test_the_consultations_page_is_redacted_before_it_is_primed():
    query = ('{ consultations { edges { node { id title subjectId } } } '
             'c1: consultation(id: "c1") { title } }')
    data, services, _ = ok(ANONYMOUS, query)
    assert [e["node"] for e in data["consultations"]["edges"]] == [
        {"id": "c1", "title": "Admission: Undisclosed member organisation", "subjectId": None},
        {"id": "c2", "title": "Admit Member m1", "subjectId": "m1"},
        {"id": "c3", "title": "Strategy", "subjectId": None}]
    # redacted too when asked on its own (while the page was awaited, it was loaded)
    assert data["c1"] == {"title": "Admission: Undisclosed member organisation"}
    assert (["m2", "m1"],) in services.asked("get_many")
    data, services, _ = ok(ADMIN, query)  # nothing to redact: primed at once, nothing refetched
    assert data["c1"] == {"title": "Admit Member m2"} and services.asked("get_many") == []


# ---- focal points and who read them ----------------------------------------------------------

FOCAL_POINTS = "{ members { edges { node { id focalPoint { name } } } } }"


def test_admin_reads_focal_points_in_one_recorded_call_per_list_level():
    data, services, ctx = ok(ADMIN, FOCAL_POINTS)
    assert services.asked("read_focal_points") == [(["m1", "m2"], "Ana Secretariat")]
    assert [e["node"]["focalPoint"] for e in data["members"]["edges"]] == [
        {"name": "Айгерим"}, {"name": "Айгерим"}, None]  # m3 is erased: no call for it
    assert ctx.shown_focal_points == {"m1", "m2"}


def test_a_member_reads_its_own_focal_point_unrecorded_and_no_one_elses():
    data, services, ctx = ok(M1, FOCAL_POINTS)
    assert [e["node"]["focalPoint"] for e in data["members"]["edges"]] == [
        {"name": "Айгерим"}, None, None]
    assert services.asked("read_focal_points") == [] and ctx.shown_focal_points == {"m1"}
    data, services, ctx = ok(ANONYMOUS, FOCAL_POINTS)
    assert all(e["node"]["focalPoint"] is None for e in data["members"]["edges"])
    assert services.asked("read_focal_points") == [] and ctx.shown_focal_points == set()


def test_focal_point_reads_are_shown_to_admin_and_the_member_itself():
    query = '{ a: member(id: "m1") { focalPointReads { at by } } b: member(id: "m2") { focalPointReads { by } } }'
    data, services, _ = ok(ADMIN, query)
    assert data["a"]["focalPointReads"] == [{"at": "2026-01-03T10:00:00+00:00",
                                             "by": "Ana Secretariat"}]
    assert services.asked("focal_point_reads_many") == [(["m1", "m2"],)]
    data, services, _ = ok(M1, query)
    assert data["a"]["focalPointReads"] and data["b"]["focalPointReads"] == []
    assert services.asked("focal_point_reads_many") == [(["m1"],)]
    data, services, _ = ok(ANONYMOUS, '{ member(id: "m1") { focalPointReads { by } } }')
    assert data["member"]["focalPointReads"] == [] and not services.asked("focal_point_reads_many")


# ---- the mutations ---------------------------------------------------------------------------

SET = 'mutation { setMemberVisibility(memberId: "m1", visibility: MEMBERS_ONLY) { id visibility } }'


def test_set_member_visibility_is_for_admin_and_the_member_itself():
    for viewer in (ADMIN, M1):
        data, services, _ = ok(viewer, SET)
        assert data["setMemberVisibility"] == {"id": "m1", "visibility": "MEMBERS_ONLY"}
        assert services.asked("set_visibility") == [("m1", "MEMBERS_ONLY")]
    assert codes(run(M2, SET)[1]) == ["FORBIDDEN"]
    assert codes(run(ANONYMOUS, SET)[1]) == ["UNAUTHENTICATED"]


def test_member_input_has_visibility_public_by_default():
    field = schema.graphql_schema.type_map["MemberInput"].fields["visibility"]
    assert str(field.type) == "Visibility" and field.default_value == "PUBLIC"


EXPORT = 'mutation($id: ID!) { exportMemberData(memberId: $id) }'


def test_an_export_is_one_json_document_of_every_service():
    data, services, ctx = ok(M1, EXPORT, {"id": "m1"})
    text = data["exportMemberData"]
    document = json.loads(text)
    assert document["format"] == "coalition-member-export/1"
    assert document["member_id"] == "m1" and document["member"]["name"] == "Member m1"
    for service in ("members", "consultations", "grants", "notifications", "accounts"):
        assert document[service] == {service: [{"member_id": "m1"}]}
        assert (service, "member_data", ("m1",)) in services.calls
    assert "Айгерим" in text  # not escaped
    assert list(document) == sorted(document)
    assert services.asked("read_focal_points") == [] and ctx.shown_focal_points == {"m1"}


def test_an_admin_export_records_a_read_of_the_focal_point():
    data, services, ctx = ok(ADMIN, EXPORT, {"id": "m2"})
    assert services.asked("read_focal_points") == [(["m2"], "Ana Secretariat")]
    assert ctx.shown_focal_points == {"m2"}
    _, services, ctx = ok(ADMIN, EXPORT, {"id": "m3"})  # erased: no focal point to read
    assert services.asked("read_focal_points") == [] and ctx.shown_focal_points == set()


def test_an_export_is_for_admin_and_the_member_itself_and_of_a_known_member():
    _, errors, services, _ = run(ADMIN, EXPORT, {"id": "nobody"})
    assert codes(errors) == ["NOT_FOUND"] and isinstance(errors[0].original_error, NotFound)
    assert not services.asked("member_data")
    assert codes(run(M2, EXPORT, {"id": "m1"})[1]) == ["FORBIDDEN"]
    assert codes(run(ANONYMOUS, EXPORT, {"id": "m1"})[1]) == ["UNAUTHENTICATED"]


ERASE = ('mutation($id: ID!) { eraseMemberData(memberId: $id) { member { id focalPoint { name } } '
         'removed } }')


def test_an_erasure_runs_every_step_then_scrubs_the_kept_answers():
    keys = FakeKeys(scrubbed=2)
    data, errors, services, _ = run(ADMIN, ERASE, {"id": "m3"}, keys=keys)
    assert not errors, errors
    assert data["eraseMemberData"] == {"member": {"id": "m3", "focalPoint": None}, "removed": [
        "the focal point's name", "2 mails to the focal point",
        "2 kept answers of earlier requests to the gateway that showed the focal point"]}
    assert [(s, m) for s, m, _ in services.calls] == [
        ("members", "erase_member_data"), ("notifications", "erase_member_data"),
        ("accounts", "erase_member_data")]
    assert services.calls[0][2] == ("m3", "Ana Secretariat") and keys.asked == ["m3"]


def test_an_erasure_is_for_admin_only_and_of_a_member_that_left():
    keys = FakeKeys()
    _, errors, services, _ = run(ADMIN, ERASE, {"id": "m1"}, keys=keys)
    assert codes(errors) == ["CONFLICT"] and keys.asked == []
    assert [m for _, m, _ in services.calls] == ["erase_member_data"]
    assert codes(run(M1, ERASE, {"id": "m1"})[1]) == ["FORBIDDEN"]
    assert codes(run(ANONYMOUS, ERASE, {"id": "m1"})[1]) == ["UNAUTHENTICATED"]


# ---- kept answers that showed a focal point ------------------------------------------------

class FakeCollection:
    def __init__(self):
        self.docs = {}

    def update_one(self, query, update):
        self.docs.setdefault(query["_id"], {"_id": query["_id"]}).update(update["$set"])

    def update_many(self, query, update):
        [(field, wanted)] = query.items()
        hit = [d for d in self.docs.values() if wanted in d.get(field, ())]
        for doc in hit:
            doc.update(update["$set"])
            for name in update["$unset"]:
                doc.pop(name)
        return SimpleNamespace(modified_count=len(hit))


def test_kept_answers_name_the_focal_points_they_show_and_are_scrubbed():
    collection = FakeCollection()
    keys = Keys(SimpleNamespace(db=SimpleNamespace(idempotency=collection)))
    body = {"data": {"member": {"focalPoint": {"name": "Айгерим"}}}}
    keys.finish("k1", 200, body, True, {"m2", "m1"})
    keys.finish("k2", 200, body, True, {"m1"})
    keys.finish("k3", 200, {"data": {"ok": True}}, True)
    assert collection.docs["k1"]["shown_focal_points"] == ["m1", "m2"]
    assert "shown_focal_points" not in collection.docs["k3"]
    assert keys.scrub("m2") == 1
    assert json.loads(collection.docs["k1"]["body"]) == idempotency.erased_answer() == {
        "data": None, "errors": [{"message": ERASED_ANSWER, "extensions": {"code": "CONFLICT"}}]}
    assert "shown_focal_points" not in collection.docs["k1"]
    assert json.loads(collection.docs["k2"]["body"]) == body
    assert keys.scrub("m2") == 0 and keys.scrub("m1") == 1
