"""The one error table, and the formatter's promises."""
import logging

from graphql import GraphQLError
from nameko.exceptions import RemoteError

from services.common.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from services.gateway.errors import CODES, format_error
from services.gateway.rpc import ServiceUnavailable


def wrap(exc):
    return GraphQLError(str(exc), original_error=exc, path=["field"])


def test_every_domain_code_is_mapped():
    assert set(CODES.values()) >= {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND",
                                   "CONFLICT"}


def test_typed_errors_keep_code_message_and_fields():
    out = format_error(wrap(BadUserInput("Bad.", {"name": ["Too long."]})), "r1")
    assert out["extensions"] == {"code": "BAD_USER_INPUT", "fields": {"name": ["Too long."]}}
    for exc, code in [(NotFound("n"), "NOT_FOUND"), (Conflict("c"), "CONFLICT"),
                      (Forbidden("f"), "FORBIDDEN"), (Unauthenticated("u"), "UNAUTHENTICATED"),
                      (ServiceUnavailable("grants", "slow"), "SERVICE_UNAVAILABLE")]:
        assert format_error(wrap(exc), "r1")["extensions"]["code"] == code


def test_unexpected_errors_are_hidden_and_logged_with_the_request_id(caplog):
    try:
        raise RemoteError("KeyError", "'secret internals' at line 42")
    except RemoteError as exc:
        error = wrap(exc)
    with caplog.at_level(logging.ERROR, logger="coalition.gateway"):
        out = format_error(error, "req-123")
    assert out["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-123"}
    assert "secret internals" not in str(out) and "req-123" in out["message"]
    assert "req-123" in caplog.text and "secret internals" in caplog.text


def test_variables_that_do_not_coerce_name_their_field():
    inner = GraphQLError("Decimal must be sent as a string.")
    error = GraphQLError("Variable '$i' got invalid value 1.5 at 'i.amount'; Decimal must be sent "
                         "as a string.", original_error=inner)
    out = format_error(error, "r1")
    assert out["extensions"] == {"code": "BAD_USER_INPUT",
                                 "fields": {"amount": ["Decimal must be sent as a string."]}}


def test_prepared_documents_are_cached_per_text_and_depth():
    from services.gateway.limits import prepare
    query = "query { viewer { role } }"
    document, errors = prepare(query, 10)
    assert not errors and prepare(query, 10)[0] is document   # parsed and validated once
    deep = "query { members { edges { node { allocations { grant { allocations { id } } } } } } }"
    assert not prepare(deep, 10)[1]
    assert "exceeds maximum operation depth" in prepare(deep, 3)[1][0].message
    assert prepare("query { nope }", 10)[1][0].message.startswith("Cannot query field 'nope'")
    broken, errors = prepare("query {", 10)
    assert broken is None and errors[0].message.startswith("Syntax Error")
