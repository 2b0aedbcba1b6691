"""What the consultations service holds about one member (DOMAIN.md section
11, `member_data`), on the real store: its entrypoints run in a nameko
container (tests/service/host.py) beside a members container, on a vhost
and databases of their own. Each collection that names the member appears
with the member's documents and no one else's, and a stance of an open round
whose results are hidden is exported without its value until the close."""
import json
import uuid

import pytest

from services.consultations.member_data import MEMBER_DATA
from tests.helpers.consultations import later
from tests.support import member_input, wait_for

HOSTED = ("members", "consultations")
COLLECTIONS = {part.collection for part in MEMBER_DATA}


def member(member_id):
    """The actor a member's own token makes."""
    return {"role": "MEMBER", "member_id": member_id, "sub": f"member-{member_id}"}


def general(**overrides):
    return {"title": f"Plan {uuid.uuid4().hex[:8]}", "proposal": "Adopt the plan",
            "closesAt": later(), **overrides}


@pytest.fixture(scope="module")
def consultations(host):
    return host.service("consultations")


@pytest.fixture(scope="module")
def parties(host, consultations):
    """{me, granter, other}: three founding members (the only voters here),
    once consultations' read model has heard of each."""
    ids = {role: host.service("members").register_founding_member(member_input())["id"]
           for role in ("me", "granter", "other")}
    for member_id in ids.values():
        wait_for(lambda: consultations.db.voters.find_one({"_id": member_id, "can_vote": True}),
                 30, 0.1, "the voters read model")
    return ids


@pytest.fixture(scope="module")
def history(consultations, parties):
    """What `me` did: in an OPEN-results consultation it holds the granter's
    proxy and casts for it, and gives its own proxy to the other member; in a
    hidden one it blocks; then a suspension about it is proposed."""
    me, granter, other = parties["me"], parties["granter"], parties["other"]
    shown = consultations.open_consultation(general())["id"]
    given = consultations.grant_proxy(member(granter), shown, me)
    consultations.accept_proxy(member(me), given["id"])
    consultations.cast_stance(member(me), shown, "AGREE", None, granter)
    mine = consultations.grant_proxy(member(me), shown, other)
    consultations.cast_stance(member(other), shown, "AGREE")
    hidden = consultations.open_consultation(general(resultsVisibility="HIDDEN_UNTIL_CLOSED"))["id"]
    consultations.cast_stance(member(me), hidden, "BLOCK", "It puts our people at risk")
    consultations.cast_stance(member(other), hidden, "AGREE")
    suspension = consultations.propose_suspension({"memberId": me, "reason": "Unpaid dues"},
                                                  "admin-test")["id"]
    return {"shown": shown, "hidden": hidden, "suspension": suspension,
            "given": given["id"], "mine": mine["id"]}


def exported(consultations, member_id):
    data = consultations.member_data(member_id)
    assert set(data) == COLLECTIONS
    json.dumps(data)  # plain JSON values only
    return data


def test_every_collection_that_names_the_member_holds_its_documents(consultations, parties,
                                                                    history):
    me = parties["me"]
    data = exported(consultations, me)
    assert all(data[collection] for collection in COLLECTIONS), \
        [c for c in COLLECTIONS if not data[c]]
    (case,) = data["consultations"]
    assert (case["id"], case["kind"], case["beneficiary_id"], case["subject_id"]) == \
        (history["suspension"], "MEMBER_SUSPENSION", me, me)
    assert sorted((e["consultation_id"], e["round"]) for e in data["eligibility"]) == \
        sorted([(history["shown"], 1), (history["hidden"], 1)])  # not its own case
    (voter,) = data["voters"]
    assert (voter["status"], voter["can_vote"]) == ("ACTIVE", True)
    assert {(p["id"], p["granter_id"], p["holder_id"], p["status"]) for p in data["proxies"]} == \
        {(history["given"], parties["granter"], me, "USED"),
         (history["mine"], me, parties["other"], "OFFERED")}
    assert sorted((a["proxy_id"], a["status"]) for a in data["proxy_audit"]) == sorted(
        [(history["given"], s) for s in ("OFFERED", "ACCEPTED", "USED")]
        + [(history["mine"], "OFFERED")])
    assert {(s["id"].rsplit(":", 2)[1], s.get("held"), s.get("proxy_id"))
            for s in data["proxy_slots"]} == {("holder", 1, None), ("granter", None,
                                                                    history["mine"])}


def test_stances_it_cast_for_itself_and_as_a_proxy_holder(consultations, parties, history):
    me, granter = parties["me"], parties["granter"]
    data = exported(consultations, me)
    for collection in ("stances", "stance_audit"):
        cast = {(s["consultation_id"], s["member_id"], s["cast_by"]) for s in data[collection]}
        assert cast == {(history["shown"], granter, me), (history["hidden"], me, None)}, \
            collection
    on_behalf = [s for s in data["stances"] if s["member_id"] == granter]
    assert [(s["value"], s["round"]) for s in on_behalf] == [("AGREE", 1)]
    assert isinstance(on_behalf[0]["cast_at"], str)


def test_a_hidden_rounds_values_wait_for_its_close(consultations, parties, history):
    def my_hidden(data):
        return [s for collection in ("stances", "stance_audit") for s in data[collection]
                if s["consultation_id"] == history["hidden"]]

    while_open = my_hidden(exported(consultations, parties["me"]))
    assert len(while_open) == 2 and all(s["value"] is None and s["reason"] is None
                                        for s in while_open)
    assert "BLOCK" not in json.dumps(while_open) and "risk" not in json.dumps(while_open)

    consultations.close_consultation(history["hidden"])
    after = my_hidden(exported(consultations, parties["me"]))
    assert [(s["value"], s["reason"]) for s in after] == [("BLOCK", "It puts our people at risk")] * 2


def test_the_view_names_the_beneficiary(consultations, parties, history):
    (suspension,) = consultations.get_many([history["suspension"]])
    assert suspension["beneficiary_id"] == parties["me"]
    (general_one,) = consultations.get_many([history["shown"]])
    assert general_one["beneficiary_id"] is None


def test_an_applicant_is_the_beneficiary_of_its_admission(host, consultations, parties):
    candidate = host.service("members").apply_for_membership(member_input())["id"]
    admission = wait_for(lambda: consultations.db.consultations.find_one(
        {"subject_id": candidate}), 20, 0.1, "the admission consultation")
    wait_for(lambda: consultations.db.voters.find_one({"_id": candidate}), 20, 0.1,
             "the voters read model")
    data = exported(consultations, candidate)
    assert [(c["id"], c["kind"], c["beneficiary_id"]) for c in data["consultations"]] == \
        [(admission["_id"], "MEMBERSHIP_ADMISSION", candidate)]
    assert [v["status"] for v in data["voters"]] == ["CANDIDATE"]
    assert all(not data[c] for c in COLLECTIONS - {"consultations", "voters"})


def test_no_one_else_and_nothing_for_what_is_not_an_id(consultations, history):
    for nobody in (uuid.uuid4().hex, None, {"$gt": ""}, "", ["x"]):
        assert consultations.member_data(nobody) == {c: [] for c in COLLECTIONS}, nobody
