"""The gateway offers all of ../shared/api/schema.graphql, with the same
names, nullability, arguments, defaults and enum values (it may add more)."""
from pathlib import Path

import pytest
from graphql import (GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType,
                     GraphQLScalarType, build_schema)

from services.gateway.schema import schema as live_schema

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "api" / "schema.graphql"


@pytest.fixture(scope="module")
def contract():
    assert CONTRACT.exists(), f"the contract must lie next to the project: {CONTRACT}"
    return build_schema(CONTRACT.read_text())


def contract_types(contract):
    return {name: t for name, t in contract.type_map.items() if not name.startswith("__")}


def test_every_type_exists_with_its_kind(contract):
    live = live_schema.graphql_schema.type_map
    for name, expected in contract_types(contract).items():
        assert name in live, f"missing type {name}"
        kind = next(k for k in (GraphQLObjectType, GraphQLInputObjectType, GraphQLEnumType,
                                GraphQLScalarType) if isinstance(expected, k))
        assert isinstance(live[name], kind), f"{name} is a {type(live[name]).__name__}"


def test_every_field_and_argument_matches(contract):
    live = live_schema.graphql_schema.type_map
    problems = []
    for name, expected in contract_types(contract).items():
        if isinstance(expected, (GraphQLObjectType, GraphQLInputObjectType)):
            for fname, field in expected.fields.items():
                got = live[name].fields.get(fname)
                if got is None:
                    problems.append(f"{name}.{fname} missing")
                    continue
                if str(got.type) != str(field.type):
                    problems.append(f"{name}.{fname}: {got.type} != {field.type}")
                if isinstance(expected, GraphQLInputObjectType):
                    if field.default_value != got.default_value and field.default_value is not None:
                        problems.append(f"{name}.{fname} default {got.default_value!r}")
                    continue
                for aname, arg in field.args.items():
                    got_arg = got.args.get(aname)
                    if got_arg is None:
                        problems.append(f"{name}.{fname}({aname}) missing")
                    elif str(got_arg.type) != str(arg.type):
                        problems.append(f"{name}.{fname}({aname}): {got_arg.type} != {arg.type}")
                    elif arg.default_value is not None and got_arg.default_value != arg.default_value:
                        problems.append(f"{name}.{fname}({aname}) default {got_arg.default_value!r}"
                                        f" != {arg.default_value!r}")
                extra_required = [a for a, v in got.args.items()
                                  if a not in field.args and str(v.type).endswith("!")]
                if extra_required:
                    problems.append(f"{name}.{fname} adds required args {extra_required}")
        elif isinstance(expected, GraphQLEnumType):
            missing = set(expected.values) - set(live[name].values)
            if missing:
                problems.append(f"enum {name} lacks {sorted(missing)}")
        elif isinstance(expected, GraphQLScalarType):
            assert isinstance(live[name], GraphQLScalarType)
    assert not problems, "\n".join(problems)


def test_root_operations(contract):
    assert live_schema.graphql_schema.query_type.name == contract.query_type.name
    assert live_schema.graphql_schema.mutation_type.name == contract.mutation_type.name


def test_the_test_catches_a_missing_field(contract):
    """The comparison itself can fail: a contract with one more field is not met."""
    bigger = build_schema(CONTRACT.read_text().replace(
        "type Viewer { role: Role!", "type Viewer { role: Role!  nickname: String!"))
    live = live_schema.graphql_schema.type_map
    assert "nickname" in bigger.type_map["Viewer"].fields
    assert "nickname" not in live["Viewer"].fields
