"""The gateway's WSGI application (served by gunicorn, see gunicorn_conf.py).

    POST /graphql            {query, variables, operationName} as JSON
    GET  /graphql            GraphiQL for browsers (Accept: text/html), else a query
    GET  /graphql/static/*   GraphiQL's own assets (no CDN)
    GET  /healthz            liveness: the process answers (cheap, no dependency)
    GET  /readyz             readiness: the broker, the store and each service answer
    GET  /metrics            Prometheus
    GET  /dev/mail[/...]     the local mail catcher's messages, never in production (devmail.py)
    GET  /static/*           the web app's assets
    GET, POST / and every other path of the web app (services/web/: its pages
                             run their GraphQL documents in process: in_process.py)

Before a request runs, the gateway applies the limits of DOMAIN.md section 6
(services/gateway/limits.py) and authenticates it (services/gateway/auth.py):
the token of the Authorization header or else of the session cookie; a
session (a token with `sid`) is asked of accounts on every request, and a
cookie that no longer signs in is cleared by the answer that refuses it.
Every answer carries X-Content-Type-Options; HTML answers a strict CSP.
"""
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from graphql import ExecutionResult
from graphql.language import ast
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import safe_join
from werkzeug.wrappers import Request, Response

from services.common import config as settings_module
from services.common.errors import (BadUserInput, DomainError, TooManyRequests, Unauthenticated,
                                    Unavailable)
from services.common.vocabulary import SERVICES, Role
from services.gateway import devmail, idempotency, in_process
from services.gateway.auth import (COOKIE, MemberStatuses, Sessions, Viewer, cleared_cookie,
                                   request_token, viewer_from_token)
from services.gateway.background import Background
from services.gateway.context import Context
from services.gateway.errors import (INTERNAL_SERVER_ERROR, code_of, format_error,
                                     is_request_error, refusal_status)
from services.gateway.limits import (ClientAddress, RequestRefused, check_cost, check_page_sizes,
                                     json_body, mutation_fields, prepare, read_body)
from services.gateway.responses import (ERRORS, Answered, error_codes, error_response,
                                        json_response, refused, secured)
from services.gateway.rpc import RpcPool, ServiceUnavailable
from services.gateway.schema import schema
from services.gateway.store import GatewayStore, RateLimits
from services.web import app as web_app

log = logging.getLogger("coalition.gateway")
STATIC = Path(__file__).parent / "static" / "graphiql"

REQUESTS = Counter("coalition_gateway_requests_total", "GraphQL requests", ["operation"])
LATENCY = Histogram("coalition_gateway_request_seconds", "GraphQL request latency")
STATUS_LOOKUPS = Counter("coalition_gateway_member_status_lookups_total",
                         "Member statuses read from the members service (cache misses and casts)")
SESSION_LOOKUPS = Counter("coalition_gateway_session_lookups_total",
                          "Sessions asked of the accounts service (one per signed-in request)")


@dataclass(frozen=True)
class Admitted:
    """A request that may run: who asks and from where, its validated
    document, and its Idempotency-Key's record (None without a key, and for
    a query). `work_id` names its calls (see Context); `members` are the
    member statuses as this request sees them (MemberStatuses.for_request)."""
    request_id: str
    client: str
    viewer: Viewer
    members: MemberStatuses
    document: ast.DocumentNode
    kind: str
    record: str | None
    work_id: str | None


def operation_kind(document: ast.DocumentNode, operation: str | None) -> str:
    """'query' or 'mutation': the kind of the operation that will run."""
    return next((d.operation.value for d in document.definitions
                 if isinstance(d, ast.OperationDefinitionNode)
                 and (operation is None or (d.name and d.name.value == operation))), "query")


class Gateway:
    def __init__(self, settings: dict) -> None:
        self.settings = settings
        config = settings_module.nameko_config(settings)
        self.pool = RpcPool(config, size=settings["GATEWAY_RPC_POOL_SIZE"],
                            timeout=settings["RPC_TIMEOUT_SECONDS"])
        # readiness has clients of its own, with a short timeout
        self.ready_pool = RpcPool(config, size=len(SERVICES),
                                  timeout=settings["READY_TIMEOUT_SECONDS"])
        self.store = GatewayStore(settings)
        self.keys = idempotency.Keys(self.store)
        self.limits = RateLimits(self.store)
        self.members = MemberStatuses(self.status_lookup, settings["MEMBER_STATUS_TTL_SECONDS"])
        self.sessions = Sessions(self.session_lookup)
        self.background = Background(self.pool.call)
        self.client_address = ClientAddress(settings["TRUSTED_PROXIES"])
        self.dev_mail = devmail.DevMail(settings, self.client_address)
        self.web = web_app.WebApp(self)
        self.documents: dict[str, ast.DocumentNode] = {}  # the web app's (in_process.py)
        self.url_map = Map([
            Rule("/graphql", endpoint="graphql", methods=["GET", "POST"]),
            Rule("/graphql/static/<path:name>", endpoint="static", methods=["GET"]),
            Rule("/healthz", endpoint="healthz", methods=["GET"]),
            Rule("/readyz", endpoint="readyz", methods=["GET"]),
            Rule("/metrics", endpoint="metrics", methods=["GET"]),
            *devmail.rules(), *web_app.rules()])

    def status_lookup(self, service: str, method: str, *args: Any) -> Any:
        STATUS_LOOKUPS.inc()
        return self.pool.call(service, method, *args)

    def session_lookup(self, service: str, method: str, *args: Any) -> Any:
        SESSION_LOOKUPS.inc()
        return self.pool.call(service, method, *args)

    def live_viewer(self, viewer: Viewer, members: MemberStatuses | None = None) -> Viewer:
        """The viewer of a valid token, if it still acts: its session live
        (with its person's name and email) and its member acting (checked
        through `members`, the request's statuses, if given); a DomainError
        (UNAUTHENTICATED, SERVICE_UNAVAILABLE) otherwise."""
        viewer = self.sessions.check(viewer)
        (members or self.members).check(viewer)
        return viewer

    # ---- GraphQL ---------------------------------------------------------------

    def graphql(self, request: Request) -> Response:
        if request.method == "GET" and "text/html" in request.headers.get("Accept", "") \
                and "query" not in request.args:
            if not self.settings["GRAPHIQL"]:
                raise NotFound()
            return Response((STATIC / "index.html").read_bytes(), content_type="text/html")
        try:
            body = self.request_body(request)
        except RequestRefused as refusal:
            return refused(refusal)
        query, variables = body.get("query"), body.get("variables")
        operation = body.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return error_response("The request has no query.")
        if variables is not None and not isinstance(variables, dict):
            return error_response("variables must be a JSON object.")
        if operation is not None and not isinstance(operation, str):
            return error_response("operationName must be a string.")
        return self.execute(request, query, variables, operation)

    def request_body(self, request: Request) -> dict:
        """{query, variables, operationName} of a POST (JSON, within the size
        limit) or a GET (query string); RequestRefused otherwise."""
        if request.method == "POST":
            if request.mimetype != "application/json":
                raise RequestRefused(415, "BAD_REQUEST", "Send the request as application/json.")
            body = json_body(read_body(request, self.settings["MAX_REQUEST_BYTES"]))
        else:
            body = dict(request.args)
            if "variables" in body:
                body["variables"] = json_body(body["variables"], "variables")
        if not isinstance(body, dict):
            raise RequestRefused(400, "BAD_REQUEST",
                                 "The request body must be a JSON object {query, variables}.")
        return body

    def execute(self, request: Request, query: str, variables: dict | None,
                operation: str | None) -> Response:
        """Admit the request, run it, answer it and keep the answer under its
        Idempotency-Key; a request refused or replayed is answered unrun."""
        started = time.perf_counter()
        try:
            admitted = self.admit(request, query, variables, operation)
        except Answered as answered:
            return answered.response
        REQUESTS.labels(admitted.kind).inc()
        context = Context(admitted.viewer, self, admitted.request_id, admitted.client,
                          work_id=admitted.work_id, members=admitted.members)
        result = in_process.run(admitted.document, variables, operation, context)
        out, status, headers = self.answer(result, admitted.request_id)
        headers["X-RPC-Calls"] = str(context.rpc_calls)
        if context.cookie:
            headers["Set-Cookie"] = context.cookie
        LATENCY.observe(time.perf_counter() - started)
        self.finish(admitted.record, status, out, context.answer_may_be_kept,
                    context.shown_focal_points)
        return json_response(out, status, headers=headers)

    def admit(self, request: Request, query: str, variables: dict | None,
              operation: str | None) -> Admitted:
        """The request, authenticated, within every limit and recorded under
        its Idempotency-Key; Answered if it is refused or replayed."""
        request_id = uuid.uuid4().hex[:12]
        client = self.client_address(request.environ)
        members = self.members.for_request()
        viewer = self.authenticate(request, members)
        document = self.validated(query, request_id)
        self.check_limits(document, variables, operation, viewer)
        kind = operation_kind(document, operation)
        if request.method == "GET" and kind != "query":
            raise Answered(error_response("Mutations need POST.", 405))
        record, work_id = None, None
        if kind == "mutation" and idempotency.HEADER in request.headers:
            request_print = idempotency.fingerprint(query, variables, operation)
            record = self.idempotency_record(request, viewer, client, request_print)
            work_id = f"{record}.{request_print[:24]}"
        return Admitted(request_id, client, viewer, members, document, kind, record, work_id)

    def authenticate(self, request: Request, members: MemberStatuses | None = None) -> Viewer:
        """The Viewer of the request: a valid token (the Authorization
        header's, else the session cookie's) whose session is live and whose
        member still acts. A cookie refused as UNAUTHENTICATED is cleared by
        the answer (not when the answer is only that a service is down)."""
        from_cookie = False
        try:
            token, from_cookie = request_token(request.headers.get("Authorization"),
                                               request.cookies.get(COOKIE))
            secret = self.settings["COALITION_JWT_SECRET"]
            viewer = self.live_viewer(viewer_from_token(token, secret), members)
        except DomainError as exc:
            code = code_of(exc) or INTERNAL_SERVER_ERROR
            refusal = error_response(str(exc), refusal_status(exc), code)
            if from_cookie and isinstance(exc, Unauthenticated):
                refusal.headers["Set-Cookie"] = cleared_cookie(self.settings)
            raise Answered(refusal)
        return viewer

    def validated(self, query: str, request_id: str) -> ast.DocumentNode:
        """The parsed document of a query that validates within MAX_QUERY_DEPTH."""
        document, errors = prepare(query, self.settings["MAX_QUERY_DEPTH"])
        if document is None:
            raise Answered(error_response(errors[0].message, 400, "GRAPHQL_PARSE_FAILED"))
        if errors:
            raise Answered(json_response(
                {"errors": [format_error(e, request_id) for e in errors]}, 400))
        return document

    def check_limits(self, document: ast.DocumentNode, variables: dict | None,
                     operation: str | None, viewer: Viewer) -> None:
        """Page sizes, the query's cost, and one mutation for an anonymous request."""
        too_big = check_page_sizes(document, variables, self.settings["MAX_PAGE_SIZE"])
        if too_big:
            raise Answered(error_response(too_big[0], 400, BadUserInput.code,
                                          fields={"first": too_big}))
        errors = check_cost(schema.graphql_schema, document, variables, operation,
                            self.settings["UNPAGED_LIST_ESTIMATE"], self.settings["MAX_QUERY_COST"])
        if errors:
            raise Answered(error_response(errors[0].message, 400, "QUERY_TOO_COMPLEX",
                                          cost=errors[0].extensions["cost"],
                                          limit=errors[0].extensions["limit"]))
        if viewer.role == Role.ANONYMOUS and len(mutation_fields(document, operation)) > 1:
            raise Answered(error_response(
                "An anonymous request may hold one mutation; sign in, or send them one "
                "request at a time.", 401, Unauthenticated.code))

    def idempotency_record(self, request: Request, viewer: Viewer, client: str,
                           request_print: str) -> str:
        """The record of this mutation's Idempotency-Key; Answered with the
        kept answer if it ran before."""
        key = request.headers[idempotency.HEADER]
        try:
            record, kept = self.keys.begin(idempotency.owner(viewer, client),
                                           idempotency.check_key(key), request_print)
        except idempotency.Refusal as refusal:
            raise Answered(error_response(refusal.message, refusal.status, refusal.code))
        if kept:
            raise Answered(json_response(kept[1], kept[0], headers={"Idempotent-Replay": "true"}))
        return record

    def answer(self, result: ExecutionResult, request_id: str) -> tuple[dict, int, dict]:
        """(body, HTTP status, headers) of an executed query."""
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [format_error(e, request_id) for e in result.errors]
        for error in out.get("errors", []):
            ERRORS.labels(error["extensions"]["code"]).inc()
        headers = {"X-Request-Id": request_id}
        status = 200
        if result.data is None and result.errors and all(map(is_request_error, result.errors)):
            status = 400  # variables that do not coerce: the request itself is wrong
        elif TooManyRequests.code in error_codes(out):
            status = 429
            headers["Retry-After"] = str(self.limits.retry_after())
        return out, status, headers

    def finish(self, record: str | None, status: int, out: dict, may_keep: bool = True,
               shown_focal_points: Iterable[str] = ()) -> None:
        """Keep the answer under the request's Idempotency-Key. Its outcome
        is unknown if a service did not answer or the gateway failed: a
        repeat then runs again (under the same names, see idempotency.py).
        An answer that holds a session's token is never kept (`may_keep`
        False): its key is marked unknown, so a repeat runs again under the
        same names and accounts answers the session it made, once. The
        members whose focal point the answer carries are kept with it
        (`shown_focal_points`, scrubbed if they are erased)."""
        if record:
            unknown = {Unavailable.code, INTERNAL_SERVER_ERROR} & error_codes(out)
            if not may_keep:
                self.keys.finish(record, status, {}, outcome_known=False)
                return
            self.keys.finish(record, status, out, outcome_known=not unknown,
                             shown_focal_points=shown_focal_points)

    # ---- the rest ----------------------------------------------------------------

    def static(self, request: Request, name: str) -> Response:
        path = safe_join(str(STATIC), name)
        if path is None or not Path(path).is_file():
            raise NotFound()
        types = {".js": "application/javascript", ".css": "text/css", ".html": "text/html",
                 ".txt": "text/plain"}
        return Response(Path(path).read_bytes(),
                        content_type=types.get(Path(path).suffix, "application/octet-stream"),
                        headers={"Cache-Control": "public, max-age=86400"})

    def healthz(self, request: Request) -> Response:
        """Liveness: this process answers. Nothing else is touched."""
        return json_response({"status": "ok"})

    def readyz(self, request: Request) -> Response:
        """Readiness: the broker, each service (and through it, its store)
        and the gateway's own store answer within READY_TIMEOUT_SECONDS,
        through long-lived pooled clients. Errors are named, never quoted."""
        checks = {service: self.service_check(service) for service in SERVICES}
        checks["broker"] = {"ok": not any(c.get("error") == "broker unreachable"
                                          for c in checks.values())}
        checks["store"] = self.store_check()
        ok = all(c["ok"] for c in checks.values())
        return json_response({"status": "ok" if ok else "unavailable", "checks": checks},
                             200 if ok else 503)

    def service_check(self, service: str) -> dict[str, Any]:
        """{"ok": True} if the service and its store answer, else the failure's kind."""
        try:
            self.ready_pool.call(service, "ping")
            return {"ok": True}
        except ServiceUnavailable as exc:
            return {"ok": False, "error": exc.kind}
        except DomainError:  # the service answered: its store did not
            return {"ok": False, "error": "store unreachable"}
        except Exception:
            return {"ok": False, "error": "unexpected"}

    def store_check(self) -> dict[str, Any]:
        """{"ok": True} if the gateway's own store answers."""
        try:
            self.store.ping()
            return {"ok": True}
        except Exception:
            return {"ok": False, "error": "store unreachable"}

    def metrics(self, request: Request) -> Response:
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    def web_static(self, request: Request, name: str) -> Response:
        return self.web.static(request, name)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, endpoint)(request, **args)
        except NotFound as exc:  # a person gets the web app's page, a program the plain answer
            html = "text/html" in request.headers.get("Accept", "")
            response = self.web(request, None) if html else exc
        except HTTPException as exc:
            response = exc
        except Exception:
            request_id = uuid.uuid4().hex[:12]
            log.exception("request %s failed", request_id)
            response = error_response(f"Something went wrong on our side (request {request_id}).",
                                      500, INTERNAL_SERVER_ERROR, requestId=request_id)
        if isinstance(response, HTTPException):
            response = response.get_response(environ)
        return secured(response)(environ, start_response)


def create_app(environ: dict | None = None) -> Gateway:
    settings = settings_module.load_or_exit(environ, program="gateway")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s gateway %(levelname)s %(name)s: %(message)s")
    return Gateway(settings)


application = create_app()
