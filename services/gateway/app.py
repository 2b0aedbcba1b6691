"""The gateway's WSGI application (served by gunicorn, see gunicorn_conf.py).

    POST /graphql            {query, variables, operationName} as JSON
    GET  /graphql            GraphiQL for browsers (Accept: text/html), else a query
    GET  /graphql/static/*   GraphiQL's own assets (no CDN)
    GET  /healthz            liveness: the process answers (cheap, no dependency)
    GET  /readyz             readiness: the broker, the store and each service answer
    GET  /metrics            Prometheus

Before a request runs, the gateway applies the limits of DOMAIN.md section 6
(services/gateway/limits.py) and authenticates it (services/gateway/auth.py).
Every answer carries X-Content-Type-Options; HTML answers a strict CSP.
"""
import asyncio
import collections
import inspect
import json
import logging
import time
import uuid
from pathlib import Path

from graphql import execute
from graphql.language import ast
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import safe_join
from werkzeug.wrappers import Request, Response

from services.common import config as settings_module
from services.common.errors import DomainError
from services.gateway import idempotency
from services.gateway.auth import ANONYMOUS, MemberStatuses, viewer_from_header
from services.gateway.errors import code_of, format_error, is_request_error
from services.gateway.limits import (ClientAddress, RequestRefused, check_cost, check_page_sizes,
                                     json_body, mutation_fields, prepare, read_body)
from services.gateway.loaders import Loaders
from services.gateway.rpc import RpcPool, ServiceUnavailable
from services.gateway.schema import schema
from services.gateway.store import GatewayStore, RateLimits

log = logging.getLogger("coalition.gateway")
STATIC = Path(__file__).parent / "static" / "graphiql"
SERVICES = ("members", "consultations", "grants")

REQUESTS = Counter("coalition_gateway_requests_total", "GraphQL requests", ["operation"])
LATENCY = Histogram("coalition_gateway_request_seconds", "GraphQL request latency")
ERRORS = Counter("coalition_gateway_errors_total", "GraphQL errors by code", ["code"])
RPC_CALLS = Counter("coalition_gateway_rpc_calls_total", "RPC calls made", ["service", "method"])
STATUS_LOOKUPS = Counter("coalition_gateway_member_status_lookups_total",
                         "Member statuses read from the members service (cache misses and casts)")


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


class Context:
    """What resolvers see as info.context."""

    def __init__(self, viewer, gateway, request_id, client, work_id=None):
        """`work_id` names the work of this request: its Idempotency-Key's
        record when it has one (so a repeat names its calls the same), else
        a new name. Every call is named `<work_id>:<service>.<method>:<n>`,
        and each service does each change of a named call once."""
        self.viewer = viewer
        self.pool = gateway.pool
        self.settings = gateway.settings
        self.members = gateway.members  # member statuses (auth.MemberStatuses)
        self.limits = gateway.limits    # per-client counters (store.RateLimits)
        self.client = client            # the client's address (limits.ClientAddress)
        self.request_id = request_id
        self.work_id = work_id or uuid.uuid4().hex
        self.rpc_calls = 0
        self.calls_of = collections.Counter()
        self.loaders = Loaders(self)

    def call(self, service, method, *args):
        self.rpc_calls += 1
        self.calls_of[service, method] += 1
        RPC_CALLS.labels(service, method).inc()
        name = f"{self.work_id}:{service}.{method}:{self.calls_of[service, method]}"
        return self.pool.call(service, method, *args, request=name)


def json_response(body, status=200, headers=None):
    return Response(json.dumps(body), status=status, headers=headers,
                    content_type="application/json")


def error_response(message, status=400, code="BAD_REQUEST", **extensions):
    ERRORS.labels(code).inc()
    return json_response({"errors": [{"message": message,
                                      "extensions": {"code": code, **extensions}}]}, status)


def refused(refusal):
    return error_response(refusal.message, refusal.status, refusal.code, **refusal.extensions)


class Answered(Exception):
    """A request answered before its query runs (refused, or replayed)."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


def error_codes(out):
    return {e["extensions"]["code"] for e in out.get("errors", [])}


def operation_kind(document, operation):
    """'query' or 'mutation': the kind of the operation that will run."""
    return next((d.operation.value for d in document.definitions
                 if isinstance(d, ast.OperationDefinitionNode)
                 and (operation is None or (d.name and d.name.value == operation))), "query")


# HTTP status of a refusal made before a query runs
STATUS_OF_CODE = {"UNAUTHENTICATED": 401, "SERVICE_UNAVAILABLE": 503}


async def run(document, variables, operation, context):
    result = execute(schema.graphql_schema, document, variable_values=variables,
                     operation_name=operation, context_value=context)
    return await result if inspect.isawaitable(result) else result


class Gateway:
    def __init__(self, settings):
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
        self.client_address = ClientAddress(settings["TRUSTED_PROXIES"])
        self.url_map = Map([
            Rule("/graphql", endpoint="graphql", methods=["GET", "POST"]),
            Rule("/graphql/static/<path:name>", endpoint="static", methods=["GET"]),
            Rule("/healthz", endpoint="healthz", methods=["GET"]),
            Rule("/readyz", endpoint="readyz", methods=["GET"]),
            Rule("/metrics", endpoint="metrics", methods=["GET"]),
            Rule("/", endpoint="root", methods=["GET"]),
        ])

    def status_lookup(self, service, method, *args):
        STATUS_LOOKUPS.inc()
        return self.pool.call(service, method, *args)

    # ---- GraphQL ---------------------------------------------------------------

    def graphql(self, request):
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

    def request_body(self, request):
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

    def authenticate(self, request):
        """The Viewer of the request: a valid token whose member still acts."""
        try:
            viewer = viewer_from_header(request.headers.get("Authorization"),
                                        self.settings["COALITION_JWT_SECRET"])
            self.members.check(viewer)
        except (DomainError, ServiceUnavailable) as exc:
            code = code_of(exc) or "INTERNAL_SERVER_ERROR"
            raise Answered(error_response(str(exc), STATUS_OF_CODE.get(code, 500), code))
        return viewer

    def admit(self, request, query, variables, operation, viewer, request_id):
        """(document, operation kind) of a request within every limit."""
        document, errors = prepare(query, self.settings["MAX_QUERY_DEPTH"])
        if document is None:
            raise Answered(error_response(errors[0].message, 400, "GRAPHQL_PARSE_FAILED"))
        if errors:
            raise Answered(json_response(
                {"errors": [format_error(e, request_id) for e in errors]}, 400))
        too_big = check_page_sizes(document, variables, self.settings["MAX_PAGE_SIZE"])
        if too_big:
            raise Answered(error_response(too_big[0], 400, "BAD_USER_INPUT",
                                          fields={"first": too_big}))
        errors = check_cost(schema.graphql_schema, document, variables, operation,
                            self.settings["UNPAGED_LIST_ESTIMATE"], self.settings["MAX_QUERY_COST"])
        if errors:
            raise Answered(error_response(errors[0].message, 400, "QUERY_TOO_COMPLEX",
                                          cost=errors[0].extensions["cost"],
                                          limit=errors[0].extensions["limit"]))
        if viewer.role == ANONYMOUS and len(mutation_fields(document, operation)) > 1:
            raise Answered(error_response(
                "An anonymous request may hold one mutation; sign in, or send them one "
                "request at a time.", 401, "UNAUTHENTICATED"))
        kind = operation_kind(document, operation)
        if request.method == "GET" and kind != "query":
            raise Answered(error_response("Mutations need POST.", 405))
        return document, kind

    def idempotency_record(self, request, viewer, client, query, variables, operation):
        """The record of this mutation's Idempotency-Key (None without one);
        Answered with the kept answer if it ran before."""
        key = request.headers.get(idempotency.HEADER)
        if key is None:
            return None
        try:
            record, kept = self.keys.begin(idempotency.owner(viewer, client),
                                           idempotency.check_key(key),
                                           idempotency.fingerprint(query, variables, operation))
        except idempotency.Refusal as refusal:
            raise Answered(error_response(refusal.message, refusal.status, refusal.code))
        if kept:
            raise Answered(json_response(kept[1], kept[0], headers={"Idempotent-Replay": "true"}))
        return record

    def execute(self, request, query, variables, operation):
        request_id, started = uuid.uuid4().hex[:12], time.perf_counter()
        client = self.client_address(request.environ)
        try:
            viewer = self.authenticate(request)
            document, kind = self.admit(request, query, variables, operation, viewer, request_id)
            record = (self.idempotency_record(request, viewer, client, query, variables, operation)
                      if kind == "mutation" else None)
        except Answered as answered:
            return answered.response
        REQUESTS.labels(kind).inc()
        work_id = record and f"{record}.{idempotency.fingerprint(query, variables, operation)[:24]}"
        context = Context(viewer, self, request_id, client, work_id=work_id)
        result = asyncio.run(run(document, variables, operation, context))
        out, status, headers = self.answer(result, request_id)
        headers["X-RPC-Calls"] = str(context.rpc_calls)
        LATENCY.observe(time.perf_counter() - started)
        if record:
            unknown = {"SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"} & error_codes(out)
            self.keys.finish(record, status, out, outcome_known=not unknown)
        return json_response(out, status, headers=headers)

    def answer(self, result, request_id):
        """(body, HTTP status, headers) of an executed query."""
        out = {"data": result.data}
        if result.errors:
            out["errors"] = [format_error(e, request_id) for e in result.errors]
        for error in out.get("errors", []):
            ERRORS.labels(error["extensions"]["code"]).inc()
        headers = {"X-Request-Id": request_id}
        status = 200
        if result.data is None and result.errors and all(map(is_request_error, result.errors)):
            status = 400  # variables that do not coerce: the request itself is wrong
        elif "TOO_MANY_REQUESTS" in error_codes(out):
            status = 429
            headers["Retry-After"] = str(self.limits.retry_after())
        return out, status, headers

    # ---- the rest ----------------------------------------------------------------

    def static(self, request, name):
        path = safe_join(str(STATIC), name)
        if path is None or not Path(path).is_file():
            raise NotFound()
        types = {".js": "application/javascript", ".css": "text/css", ".html": "text/html",
                 ".txt": "text/plain"}
        return Response(Path(path).read_bytes(),
                        content_type=types.get(Path(path).suffix, "application/octet-stream"),
                        headers={"Cache-Control": "public, max-age=86400"})

    def healthz(self, request):
        """Liveness: this process answers. Nothing else is touched."""
        return json_response({"status": "ok"})

    def readyz(self, request):
        """Readiness: the broker, each service (and through it, its store)
        and the gateway's own store answer within READY_TIMEOUT_SECONDS,
        through long-lived pooled clients. Errors are named, never quoted."""
        checks = {}
        for service in SERVICES:
            try:
                self.ready_pool.call(service, "ping")
                checks[service] = {"ok": True}
            except ServiceUnavailable as exc:
                checks[service] = {"ok": False, "error": exc.kind}
            except DomainError:  # the service answered: its store did not
                checks[service] = {"ok": False, "error": "store unreachable"}
            except Exception:
                checks[service] = {"ok": False, "error": "unexpected"}
        checks["broker"] = {"ok": not any(c.get("error") == "broker unreachable"
                                          for c in checks.values())}
        try:
            self.store.ping()
            checks["store"] = {"ok": True}
        except Exception:
            checks["store"] = {"ok": False, "error": "store unreachable"}
        ok = all(c["ok"] for c in checks.values())
        return json_response({"status": "ok" if ok else "unavailable", "checks": checks},
                             200 if ok else 503)

    def metrics(self, request):
        from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
        import os
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    def root(self, request):
        return Response("coalition gateway: GraphQL at /graphql\n", content_type="text/plain")

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, endpoint)(request, **args)
        except HTTPException as exc:
            response = exc
        except Exception:
            request_id = uuid.uuid4().hex[:12]
            log.exception("request %s failed", request_id)
            response = error_response(f"Something went wrong on our side (request {request_id}).",
                                      500, "INTERNAL_SERVER_ERROR", requestId=request_id)
        if isinstance(response, HTTPException):
            response = response.get_response(environ)
        response.headers.update(COMMON_HEADERS)
        if response.mimetype == "text/html":
            response.headers.update(HTML_HEADERS)
        return response(environ, start_response)


def create_app(environ=None):
    settings = settings_module.load_or_exit(environ, program="gateway")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s gateway %(levelname)s %(name)s: %(message)s")
    return Gateway(settings)


application = create_app()
