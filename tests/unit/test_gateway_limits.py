"""The gateway's request limits as pure functions: the query cost estimate,
JSON depth, anonymous mutation fields, the client address, and that every
query of the user's guide fits the default cost limit."""
import re
from pathlib import Path

import pytest
from graphql import parse, validate

from services.common import config
from services.gateway.limits import (MAX_JSON_DEPTH, ClientAddress, QueryCost, RequestRefused,
                                     check_cost, depth, json_body, mutation_fields)
from services.gateway.schema import schema

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = config.SettingsSchema().load({"COALITION_JWT_SECRET": "s" * 40})
ESTIMATE, LIMIT = DEFAULTS["UNPAGED_LIST_ESTIMATE"], DEFAULTS["MAX_QUERY_COST"]


def cost(query, variables=None, operation=None, estimate=10, limit=10 ** 12):
    errors = check_cost(schema.graphql_schema, parse(query), variables, operation, estimate, limit)
    if errors:
        return errors[0].extensions["cost"]
    # under the limit: find the cost by asking with a limit of 0
    errors = check_cost(schema.graphql_schema, parse(query), variables, operation, estimate, -1)
    return errors[0].extensions["cost"] if errors else 0


def test_scalars_and_introspection_cost_nothing():
    assert cost("{ viewer { role } }") == 1
    assert cost("{ __schema { types { name fields { name args { name } } } } }") == 0
    assert cost("{ __typename }") == 0


def test_pages_count_first_and_nesting_multiplies():
    # members: 1 connection + 20 edges * (edge + node)
    assert cost("{ members(first: 20) { edges { node { id } } } }") == 1 + 20 * 2
    # the default page is 50
    assert cost("{ members { edges { node { id } } } }") == 1 + 50 * 2
    # each member's allocations (estimate 10) and each allocation's grant
    assert cost("{ members(first: 20) { edges { node { allocations { grant { id } } } } } }") \
        == 1 + 20 * (1 + 1 + 10 * (1 + 1))


def test_variables_give_the_page_size():
    q = "query($n: Int) { members(first: $n) { edges { node { id } } } }"
    assert cost(q, {"n": 3}) == 1 + 3 * 2
    assert cost(q, {}) == 1 + 50 * 2  # absent: the argument's default


def test_aliases_count_separately():
    one = "c0: consultations(first: 10) { edges { node { eligibleMembers { name } } } }"
    many = " ".join(one.replace("c0", f"c{i}", 1) for i in range(5))
    assert cost("{ %s }" % many) == 5 * cost("{ %s }" % one)


def test_fragments_count_like_the_fields_they_stand_for():
    inline = "{ members(first: 5) { edges { node { allocations { id } } } } }"
    spread = ("{ members(first: 5) { edges { node { ...M } } } } "
              "fragment M on Member { allocations { id } }")
    assert cost(inline) == cost(spread)


def test_only_the_operation_that_runs_is_costed():
    q = ("query Small { viewer { role } } "
         "query Big { consultations(first: 200) { edges { node { eligibleMembers { id } } } } }")
    assert cost(q, operation="Small") == 1
    assert cost(q, operation="Big") > 1000


def test_a_fragment_bomb_is_costed_quickly():
    # 30 fragments, each spreading the next twice: 2**30 paths, costed once per fragment
    frags = "".join(f"fragment F{i} on Member {{ ...F{i + 1} ...F{i + 1} }} " for i in range(30))
    frags += "fragment F30 on Member { allocations { id } } "
    q = "{ members(first: 1) { edges { node { ...F0 } } } } " + frags
    assert cost(q) > 2 ** 30


def test_the_finding_of_issue_13_is_refused_by_default():
    aliases = " ".join(f"a{i}: eligibleMembers {{ name countries }}" for i in range(100))
    q = "{ consultations(first: 200) { edges { node { %s } } } }" % aliases
    errors = check_cost(schema.graphql_schema, parse(q), None, None, ESTIMATE, LIMIT)
    assert errors and errors[0].extensions["code"] == "QUERY_TOO_COMPLEX"
    assert errors[0].extensions["limit"] == LIMIT and errors[0].extensions["cost"] > LIMIT
    assert str(LIMIT) in errors[0].message


def test_the_rulebook_query_fits_the_default():
    q = "{ members(first: 50) { edges { node { id name allocations { amount grant { title } } } } } }"
    assert not check_cost(schema.graphql_schema, parse(q), None, None, ESTIMATE, LIMIT)


def guide_queries():
    text = (ROOT / "docs" / "user-guide.md").read_text()
    return re.findall(r"```graphql\n(.*?)```", text, re.S)


@pytest.mark.parametrize("query", guide_queries())
def test_every_query_of_the_user_guide_fits_the_default(query):
    document = parse(query)
    assert not validate(schema.graphql_schema, document), "the guide's query must be valid"
    operations = [d for d in document.definitions if hasattr(d, "operation")]
    for op in operations:
        name = op.name.value if op.name else None
        assert not check_cost(schema.graphql_schema, document, {}, name, ESTIMATE, LIMIT), query


def test_json_depth_is_measured_without_recursion():
    deep = "[" * 200000 + "]" * 200000
    with pytest.raises(RequestRefused) as refused:
        json_body(deep.encode())
    assert refused.value.status == 400
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert depth(json_body(ok.encode())) == MAX_JSON_DEPTH
    with pytest.raises(RequestRefused):
        json_body(("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode())
    with pytest.raises(RequestRefused):
        json_body(b"{not json")


def test_mutation_fields_expand_fragments_and_pick_the_operation():
    q = ("mutation A { a: signMou(memberId: \"1\") { id } ...More } "
         "fragment More on Mutation { b: signMou(memberId: \"2\") { id } __typename } "
         "mutation B { signMou(memberId: \"3\") { id } } query C { viewer { role } }")
    assert mutation_fields(parse(q), "A") == ["signMou", "signMou"]
    assert mutation_fields(parse(q), "B") == ["signMou"]
    assert mutation_fields(parse(q), "C") == []


@pytest.mark.parametrize("trusted,peer,forwarded,expected", [
    ("", "203.0.113.9", "198.51.100.1", "203.0.113.9"),             # no proxy trusted: the peer
    ("10.0.0.0/8", "203.0.113.9", "198.51.100.1", "203.0.113.9"),   # the peer is not a proxy
    ("10.0.0.0/8", "10.0.0.2", "198.51.100.1", "198.51.100.1"),     # one trusted proxy
    ("10.0.0.0/8", "10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.3", "198.51.100.1"),  # forged left part
    ("10.0.0.0/8", "10.0.0.2", "", "10.0.0.2"),                     # no header: the proxy
    ("10.0.0.0/8", "10.0.0.2", "junk, 198.51.100.1", "198.51.100.1"),
    ("10.0.0.0/8", "10.0.0.2", "198.51.100.1, junk", "10.0.0.2"),   # garbage next to us
    ("::1, 127.0.0.1", "::1", "2001:db8::5", "2001:db8::5"),
])
def test_client_address(trusted, peer, forwarded, expected):
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}
    assert ClientAddress(trusted)(environ) == expected


def test_trusted_proxies_setting_is_validated():
    with pytest.raises(config.SettingsError, match="TRUSTED_PROXIES"):
        config.load({"COALITION_JWT_SECRET": "s" * 40, "TRUSTED_PROXIES": "10.0.0.0/8, nope"})


def cost_as_a_validation_rule(document, variables, operation, estimate, limit):
    """What check_cost answered when it ran QueryCost through graphql-core's
    validation (a visit of the whole document): its answer must not change."""
    class Rule(QueryCost):
        def __init__(self, context):
            super().__init__(context, variables, operation, estimate, limit)
    return [(e.message, e.extensions) for e in validate(schema.graphql_schema, document, [Rule])]


COSTED = [
    ("query($n: Int) { members(first: $n) { edges { node { id allocations { amount } } } } }",
     {"n": 50}, None),
    ("query A { grants { id } } query B { members(first: 3) { edges { node { ...M } } } } "
     "fragment M on Member { id allocations { grant { title } } }", None, "B"),
    ("query A { grants { id } } query B { members { edges { node { id } } } }", None, "A"),
    ("{ ...Q } fragment Q on Query { members(first: 7) { edges { node { id } } } }", None, None),
    ("query($n: Int) { members(first: $n) { edges { node { id } } } }", {"n": "x"}, None),
]


@pytest.mark.parametrize("query, variables, operation", COSTED + [(q, {}, None)
                                                                 for q in guide_queries()])
@pytest.mark.parametrize("limit", [-1, 5, LIMIT])
def test_the_cost_is_what_the_validation_rule_answered(query, variables, operation, limit):
    document = parse(query)
    errors = check_cost(schema.graphql_schema, document, variables, operation, ESTIMATE, limit)
    assert [(e.message, e.extensions) for e in errors] == cost_as_a_validation_rule(
        document, variables, operation, ESTIMATE, limit)


def test_the_cost_is_found_without_a_validation_pass(monkeypatch):
    """A visit of every node by graphql-core's validation cost each request
    more than the rest of the gateway's own work on a castStance."""
    from services.gateway import limits

    def no_validation(*args, **kwargs):
        raise AssertionError("check_cost must not run graphql-core's validation")
    monkeypatch.setattr(limits, "validate", no_validation)
    assert cost("query { members(first: 4) { edges { node { id } } } }") == 9
