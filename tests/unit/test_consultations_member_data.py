"""What the consultations service says about one member (DOMAIN.md section
11): ConsultationView's `beneficiary_id`, the declarations of its export
(services/consultations/member_data.py) and the rule that an export never
shows a stance value of an open round whose results are hidden."""
import copy
import re
from datetime import datetime, timezone

from services.common.member_data import TECHNICAL, Part
from services.common.vocabulary import ConsultationKind
from services.consultations import dependencies
from services.consultations.domain import (Case, admission_case, allocation_case,
                                           new_consultation)
from services.consultations.member_data import (MEMBER_DATA, without_hidden_values)
from services.consultations.schemas import consultation_view

NOW = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
# every collection of the database: those with indexes, and the proxy slots
COLLECTIONS = set(dependencies.INDEXES) | {"proxy_slots"}


def view(case):
    return consultation_view(new_consultation("c1", case, NOW, NOW, 3))


# ---- beneficiary_id ------------------------------------------------------------------

def test_a_case_about_a_member_names_it_as_beneficiary():
    admission = admission_case({"member_id": "m1", "name": "Org"})
    assert view(admission)["beneficiary_id"] == "m1"
    allocation = allocation_case({"allocation_id": "a1", "member_id": "m2", "amount": "10.00",
                                  "currency": "USD", "grant_title": "G", "purpose": "P"})
    assert (view(allocation)["subject_id"], view(allocation)["beneficiary_id"]) == ("a1", "m2")


def test_a_general_consultation_and_an_older_document_have_none():
    assert view(Case(ConsultationKind.GENERAL, "T", "P"))["beneficiary_id"] is None
    doc = new_consultation("c1", Case(ConsultationKind.GENERAL, "T", "P"), NOW, NOW, 3)
    del doc["beneficiary_id"]
    assert consultation_view(doc)["beneficiary_id"] is None


# ---- the declarations ------------------------------------------------------------------

def test_every_collection_that_names_a_member_is_declared_once():
    declared = [part.collection for part in MEMBER_DATA]
    assert len(declared) == len(set(declared))
    assert {part.stored_in for part in MEMBER_DATA} == COLLECTIONS - TECHNICAL
    # the parts kept inside other documents keep their names in the export
    assert {p.collection: p.stored_in for p in MEMBER_DATA if p.rows} == \
        {"stance_audit": "stances", "eligibility": "tally_shards"}
    assert dependencies.MEMBER_DATA is MEMBER_DATA


def test_every_field_has_a_one_sentence_meaning():
    for part in MEMBER_DATA:
        assert isinstance(part, Part) and part.fields, part.collection
        for name, meaning in part.fields.items():
            assert re.fullmatch(r"[A-Z][^\n]+\.", meaning), (part.collection, name, meaning)


def test_the_queries_name_the_member_and_nothing_else():
    queries = {part.collection: part.query("m.1") for part in MEMBER_DATA}
    assert queries["consultations"] == {"beneficiary_id": "m.1"}
    assert queries["eligibility"] == {"eligible": "m.1"}
    assert queries["voters"] == {"_id": "m.1"}
    assert queries["proxies"] == queries["proxy_audit"] == \
        {"$or": [{"granter_id": "m.1"}, {"holder_id": "m.1"}]}
    assert queries["stances"] == \
        {"$or": [{"member_id": "m.1"}, {"cast_by": {"$eq": "m.1", "$type": "string"}}]}
    assert queries["stance_audit"] == \
        {"$or": [{"member_id": "m.1"}, {"history.cast_by": {"$eq": "m.1", "$type": "string"}}]}
    slot = re.compile(queries["proxy_slots"]["_id"]["$regex"])
    assert slot.search(dependencies.granter_slot("c1", 2, "m.1"))
    assert slot.search(dependencies.holder_slot("c1", 2, "m.1"))
    assert not slot.search(dependencies.holder_slot("c1", 2, "mX1"))  # the dot is escaped
    assert not slot.search(dependencies.holder_slot("c1", 2, "am.1"))


def test_the_stance_indexes_serve_the_export():
    keys = [(model.document["key"], model.document.get("partialFilterExpression"))
            for model in dependencies.INDEXES["stances"]]
    assert ({"member_id": 1}, None) in keys
    assert ({"cast_by": 1}, {"cast_by": {"$type": "string"}}) in keys
    assert ({"history.cast_by": 1}, {"history.cast_by": {"$type": "string"}}) in keys
    assert {"eligible": 1} in [m.document["key"] for m in dependencies.INDEXES["tally_shards"]]


def test_the_audit_rows_of_a_stance_are_the_casts_each_member_made():
    def cast(value, by=None):
        return {"value": value, "reason": None, "at": value, "cast_by": by}
    stance = {"consultation_id": "c1", "round": 1, "member_id": "g",
              "history": [cast("AGREE"), cast("BLOCK", "h"), cast("STAND_ASIDE")]}
    part = next(p for p in MEMBER_DATA if p.collection == "stance_audit")
    assert [(r["value"], r["replaces"], r["cast_by"]) for r in part.rows(stance, "g")] == \
        [("AGREE", None, None), ("BLOCK", "AGREE", "h"), ("STAND_ASIDE", "BLOCK", None)]
    assert [(r["value"], r["replaces"], r["member_id"]) for r in part.rows(stance, "h")] == \
        [("BLOCK", "AGREE", "g")]  # the holder's cast for the granter, only that one
    assert part.rows(stance, "x") == []


# ---- hidden values -----------------------------------------------------------------------

def stance(cid, number, value, **more):
    return {"consultation_id": cid, "round": number, "member_id": "m1", "value": value,
            "reason": "Because", "cast_by": None, **more}


def test_a_stance_of_an_open_hidden_round_loses_its_value_reason_and_what_it_replaced():
    exported = {"stances": [stance("c1", 2, "BLOCK"), stance("c1", 1, "AGREE"),
                            stance("c2", 1, "AGREE")],
                "stance_audit": [stance("c1", 2, "BLOCK", replaces="AGREE", at="t")],
                "proxies": [{"consultation_id": "c1", "round": 2, "status": "USED"}]}
    before = copy.deepcopy(exported)
    shown = without_hidden_values(exported, {("c1", 2)})
    assert shown["stances"][0] == {**before["stances"][0], "value": None, "reason": None}
    assert shown["stances"][1:] == before["stances"][1:]  # the closed round, another one
    assert shown["stance_audit"] == [{**before["stance_audit"][0], "value": None,
                                      "reason": None, "replaces": None}]
    assert shown["proxies"] == before["proxies"]


def test_nothing_hidden_changes_nothing():
    exported = {"stances": [stance("c1", 1, "AGREE")], "stance_audit": []}
    assert without_hidden_values(copy.deepcopy(exported), set()) == exported
