"""How the gateway answers over HTTP: JSON bodies, errors in the GraphQL
shape ({"errors": [{"message", "extensions": {"code", ...}}]}), each error
counted by code, and the headers every answer carries."""
import json
from typing import Any

from prometheus_client import Counter
from werkzeug.wrappers import Response

from services.gateway.limits import RequestRefused

ERRORS = Counter("coalition_gateway_errors_total", "GraphQL errors by code", ["code"])

# Every answer; HTML answers (GraphiQL) also get HTML_HEADERS. GraphiQL's
# React renders style attributes, hence 'unsafe-inline' for styles only.
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
HTML_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def secured(response: Response) -> Response:
    """`response` with the headers every answer carries; an HTML page also
    HTML_HEADERS, but a stricter policy of its own stays (devmail.py)."""
    response.headers.update(COMMON_HEADERS)
    if response.mimetype == "text/html":
        for name, value in HTML_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers,
                    content_type="application/json")


def error_response(message: str, status: int = 400, code: str = "BAD_REQUEST",
                   **extensions: Any) -> Response:
    ERRORS.labels(code).inc()
    return json_response({"errors": [{"message": message,
                                      "extensions": {"code": code, **extensions}}]}, status)


def refused(refusal: RequestRefused) -> Response:
    return error_response(refusal.message, refusal.status, refusal.code, **refusal.extensions)


class Answered(Exception):
    """A request answered before its query runs (refused, or replayed)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def error_codes(out: dict) -> set[str]:
    """The codes of the errors in an answer's body."""
    return {e["extensions"]["code"] for e in out.get("errors", [])}

