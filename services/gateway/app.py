"""The gateway's WSGI application (served by gunicorn, see gunicorn_conf.py).

    POST /graphql            {query, variables, operationName} as JSON
    GET  /graphql            GraphiQL for browsers (Accept: text/html), else a query
    GET  /graphql/static/*   GraphiQL's own assets (no CDN)
    GET  /healthz            liveness plus each dependency
    GET  /metrics            Prometheus
"""
import asyncio
import functools
import inspect
import json
import logging
import time
import uuid
from pathlib import Path

from graphql import GraphQLError, execute, parse, validate
from graphql.language import ast
from graphene.validation import depth_limit_validator
from kombu import Connection
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import safe_join
from werkzeug.wrappers import Request, Response

from services.common import config as settings_module
from services.common.errors import DomainError
from services.gateway.auth import viewer_from_header
from services.gateway import idempotency
from services.gateway.errors import format_error, is_request_error
from services.gateway.loaders import Loaders
from services.gateway.rpc import RpcPool
from services.gateway.schema import schema

log = logging.getLogger("coalition.gateway")
STATIC = Path(__file__).parent / "static" / "graphiql"
SERVICES = ("members", "consultations", "grants")

REQUESTS = Counter("coalition_gateway_requests_total", "GraphQL requests", ["operation"])
LATENCY = Histogram("coalition_gateway_request_seconds", "GraphQL request latency")
ERRORS = Counter("coalition_gateway_errors_total", "GraphQL errors by code", ["code"])
RPC_CALLS = Counter("coalition_gateway_rpc_calls_total", "RPC calls made", ["service", "method"])


class Context:
    """What resolvers see as info.context."""

    def __init__(self, viewer, pool, request_id):
        self.viewer = viewer
        self.pool = pool
        self.request_id = request_id
        self.rpc_calls = 0
        self.loaders = Loaders(self)

    def call(self, service, method, *args):
        self.rpc_calls += 1
        RPC_CALLS.labels(service, method).inc()
        return self.pool.call(service, method, *args)


def json_response(body, status=200, headers=None):
    return Response(json.dumps(body), status=status, headers=headers,
                    content_type="application/json")


def error_response(message, status=400, code="BAD_REQUEST", **extensions):
    ERRORS.labels(code).inc()
    return json_response({"errors": [{"message": message,
                                      "extensions": {"code": code, **extensions}}]}, status)


def check_page_sizes(document, variables, maximum):
    """`first` above the cap (or negative) is refused before execution."""
    problems = []

    def visit(node):
        for selection in getattr(getattr(node, "selection_set", None), "selections", None) or []:
            for arg in getattr(selection, "arguments", None) or []:
                if arg.name.value != "first":
                    continue
                value = arg.value
                if isinstance(value, ast.VariableNode):
                    number = (variables or {}).get(value.name.value)
                elif isinstance(value, ast.IntValueNode):
                    number = int(value.value)
                else:
                    number = None
                if isinstance(number, int) and not 0 <= number <= maximum:
                    problems.append(f"first must be between 0 and {maximum} (got {number}).")
            visit(selection)

    for definition in document.definitions:
        visit(definition)
    return problems


async def run(document, variables, operation, context):
    result = execute(schema.graphql_schema, document, variable_values=variables,
                     operation_name=operation, context_value=context)
    return await result if inspect.isawaitable(result) else result


@functools.lru_cache(maxsize=512)
def prepare(query, max_depth):
    """(document, errors) of a query text: parsed once, then validated (the
    depth limit only on a valid document). Neither depends on the variables
    or the caller, and clients send the same few texts again and again, so
    the answer is cached (the documents are never mutated by execution)."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, [exc]
    errors = validate(schema.graphql_schema, document)
    if not errors:
        errors = validate(schema.graphql_schema, document, (depth_limit_validator(max_depth),))
    return document, errors


class Gateway:
    def __init__(self, settings):
        self.settings = settings
        self.pool = RpcPool(settings_module.nameko_config(settings),
                            size=settings["GATEWAY_RPC_POOL_SIZE"],
                            timeout=settings["RPC_TIMEOUT_SECONDS"])
        self.keys = idempotency.Keys(settings)
        self.url_map = Map([
            Rule("/graphql", endpoint="graphql", methods=["GET", "POST"]),
            Rule("/graphql/static/<path:name>", endpoint="static", methods=["GET"]),
            Rule("/healthz", endpoint="healthz", methods=["GET"]),
            Rule("/metrics", endpoint="metrics", methods=["GET"]),
            Rule("/", endpoint="root", methods=["GET"]),
        ])

    # ---- GraphQL ---------------------------------------------------------------

    def graphql(self, request):
        if request.method == "GET" and "text/html" in request.headers.get("Accept", "") \
                and "query" not in request.args:
            return Response((STATIC / "index.html").read_bytes(), content_type="text/html")
        if request.method == "POST":
            if request.mimetype != "application/json":
                return error_response("Send the request as application/json.", 415)
            try:
                body = json.loads(request.get_data(as_text=True) or "null")
            except ValueError:
                return error_response("The request body is not valid JSON.")
        else:
            body = dict(request.args)
            if "variables" in body:
                try:
                    body["variables"] = json.loads(body["variables"])
                except ValueError:
                    return error_response("variables is not valid JSON.")
        if not isinstance(body, dict):
            return error_response("The request body must be a JSON object {query, variables}.")
        query, variables = body.get("query"), body.get("variables")
        operation = body.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return error_response("The request has no query.")
        if variables is not None and not isinstance(variables, dict):
            return error_response("variables must be a JSON object.")
        if operation is not None and not isinstance(operation, str):
            return error_response("operationName must be a string.")
        return self.execute(request, query, variables, operation)

    def execute(self, request, query, variables, operation):
        request_id = uuid.uuid4().hex[:12]
        started = time.perf_counter()
        try:
            viewer = viewer_from_header(request.headers.get("Authorization"),
                                        self.settings["COALITION_JWT_SECRET"])
        except DomainError as exc:
            return error_response(str(exc), 401, exc.code)
        document, errors = prepare(query, self.settings["MAX_QUERY_DEPTH"])
        if document is None:
            return error_response(errors[0].message, 400, "GRAPHQL_PARSE_FAILED")
        if errors:
            return json_response({"errors": [format_error(e, request_id) for e in errors]}, 400)
        too_big = check_page_sizes(document, variables, self.settings["MAX_PAGE_SIZE"])
        if too_big:
            return error_response(too_big[0], 400, "BAD_USER_INPUT", fields={"first": too_big})
        kind = next((d.operation.value for d in document.definitions
                     if isinstance(d, ast.OperationDefinitionNode)
                     and (operation is None or (d.name and d.name.value == operation))), "query")
        if request.method == "GET" and kind != "query":
            return error_response("Mutations need POST.", 405)
        key, record = request.headers.get(idempotency.HEADER), None
        if key is not None and kind == "mutation":
            try:
                record, kept = self.keys.begin(
                    viewer.sub or "anonymous", idempotency.check_key(key),
                    idempotency.fingerprint(query, variables, operation))
            except idempotency.Refusal as refusal:
                return error_response(refusal.message, refusal.status, refusal.code)
            if kept:
                return json_response(kept[1], kept[0], headers={"Idempotent-Replay": "true"})
        REQUESTS.labels(kind).inc()
        context = Context(viewer, self.pool, request_id)
        result = asyncio.run(run(document, variables, operation, context))
        out = {"data": result.data}
        if result.errors:
            out["errors"] = [format_error(e, request_id) for e in result.errors]
            for e in out["errors"]:
                ERRORS.labels(e["extensions"]["code"]).inc()
        LATENCY.observe(time.perf_counter() - started)
        status = 200
        if result.data is None and result.errors and all(map(is_request_error, result.errors)):
            status = 400  # variables that do not coerce: the request itself is wrong
        if record:
            unknown = {"SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR"} & {
                e["extensions"]["code"] for e in out.get("errors", [])}
            self.keys.finish(record, status, out, outcome_known=not unknown)
        return json_response(out, status, headers={"X-Request-Id": request_id,
                                                   "X-RPC-Calls": str(context.rpc_calls)})

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
        checks = {}
        try:
            with Connection(self.settings["AMQP_URI"], connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
            checks["rabbitmq"] = {"ok": True}
        except Exception as exc:
            checks["rabbitmq"] = {"ok": False, "error": type(exc).__name__}
        for service in SERVICES:
            try:
                self.pool.call(service, "ping", timeout=2.0)
                checks[service] = {"ok": True, "store": True}
            except Exception as exc:
                checks[service] = {"ok": False, "error": str(exc)[:200]}
        checks["store"] = {"ok": all(checks[s].get("store") for s in SERVICES)}
        ok = all(c["ok"] for c in checks.values())
        return json_response({"status": "ok" if ok else "degraded", "gateway": {"ok": True},
                              "dependencies": checks}, 200 if ok else 503)

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
        return response(environ, start_response)


def create_app(environ=None):
    settings = settings_module.load_or_exit(environ, program="gateway")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s gateway %(levelname)s %(name)s: %(message)s")
    return Gateway(settings)


application = create_app()
