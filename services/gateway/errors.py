"""The one table from errors to GraphQL `extensions.code`, and the error
formatter: no stack trace ever reaches a client.

The codes are the error classes' own (`code`, services/common/errors.py);
an error of a class not in `CODES` is unexpected: logged, and answered as
INTERNAL_SERVER_ERROR with the request id.
"""
import logging
import re
from typing import Any

from graphql import GraphQLError

from services.common.errors import (
    BadUserInput, Conflict, DomainError, Forbidden, NotFound, TooManyRequests, Unauthenticated,
    Unavailable)

log = logging.getLogger("coalition.gateway")
# "Variable '$i' got invalid value 1.5 at 'i.amount'; ..." -> "i.amount"
COERCION_PATH = re.compile(r" at '([^']+)'")

INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"

# The errors a client is told about (a subclass too: rpc.ServiceUnavailable is Unavailable).
CODES = {cls: cls.code for cls in (BadUserInput, Unauthenticated, Forbidden, NotFound, Conflict,
                                    Unavailable, TooManyRequests)}

# HTTP status of a refusal made before a query runs (authentication); others are 500.
REFUSAL_STATUS = {Unauthenticated: 401, Unavailable: 503}


def code_of(exc: BaseException) -> str | None:
    """The `extensions.code` of an error, None if it is unexpected."""
    return next((CODES[cls] for cls in type(exc).__mro__ if cls in CODES), None)


def refusal_status(exc: DomainError) -> int:
    """The HTTP status of an error that refuses a request before it runs."""
    return next((REFUSAL_STATUS[cls] for cls in type(exc).__mro__ if cls in REFUSAL_STATUS), 500)


def is_request_error(error: GraphQLError) -> bool:
    """An error in the request (validation, coercion), not in a resolver."""
    return error.original_error is None or isinstance(error.original_error, GraphQLError)


def format_error(error: GraphQLError, request_id: str) -> dict:
    """The error as a client sees it: message, locations, path and
    `extensions.code` (with `fields` for BAD_USER_INPUT)."""
    original = error.original_error
    out: dict[str, Any] = {"message": error.message}
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
        out["extensions"] = {"code": BadUserInput.code, "fields": {name: [original.message]}}
        return out
    code = code_of(original)
    if code is None:
        log.error("request %s: unexpected error in %s", request_id, error.path,
                  exc_info=(type(original), original, original.__traceback__))
        out["message"] = f"Something went wrong on our side (request {request_id})."
        out["extensions"] = {"code": INTERNAL_SERVER_ERROR, "requestId": request_id}
        return out
    out["message"] = str(original)
    out["extensions"] = {"code": code}
    if isinstance(original, BadUserInput):
        out["extensions"]["fields"] = original.fields
    return out
