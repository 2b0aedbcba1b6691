"""The one table from errors to GraphQL `extensions.code`, and the error
formatter: no stack trace ever reaches a client."""
import logging
import re

from graphql import GraphQLError

from services.common.errors import (
    BadUserInput, Conflict, Forbidden, NotFound, TooManyRequests, Unauthenticated, Unavailable)
from services.gateway.rpc import ServiceUnavailable

log = logging.getLogger("coalition.gateway")
# "Variable '$i' got invalid value 1.5 at 'i.amount'; ..." -> "i.amount"
COERCION_PATH = re.compile(r" at '([^']+)'")

CODES = {
    BadUserInput: "BAD_USER_INPUT",
    Unauthenticated: "UNAUTHENTICATED",
    Forbidden: "FORBIDDEN",
    NotFound: "NOT_FOUND",
    Conflict: "CONFLICT",
    ServiceUnavailable: "SERVICE_UNAVAILABLE",
    Unavailable: "SERVICE_UNAVAILABLE",
    TooManyRequests: "TOO_MANY_REQUESTS",
}


def code_of(exc):
    for cls in type(exc).__mro__:
        if cls in CODES:
            return CODES[cls]
    return None


def is_request_error(error):
    """An error in the request (validation, coercion), not in a resolver."""
    return error.original_error is None or isinstance(error.original_error, GraphQLError)


def format_error(error: GraphQLError, request_id):
    original = error.original_error
    out = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    if error.path:
        out["path"] = list(error.path)
    if original is None:  # the query itself does not validate
        code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED")
        out["extensions"] = {**(error.extensions or {}), "code": code}
        return out
    if isinstance(original, GraphQLError):  # variables or literals that do not coerce
        where = COERCION_PATH.search(error.message)
        name = where.group(1).split(".", 1)[-1] if where else "_"
        out["extensions"] = {"code": "BAD_USER_INPUT", "fields": {name: [original.message]}}
        return out
    code = code_of(original)
    if code is None:
        log.error("request %s: unexpected error in %s", request_id, error.path,
                  exc_info=(type(original), original, original.__traceback__))
        out["message"] = f"Something went wrong on our side (request {request_id})."
        out["extensions"] = {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
        return out
    out["message"] = str(original)
    out["extensions"] = {"code": code}
    if isinstance(original, BadUserInput):
        out["extensions"]["fields"] = original.fields
    return out
