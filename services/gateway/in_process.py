"""GraphQL documents run in process, as a viewer: how the web app
(services/web/) asks the API without HTTP.

`run_as` goes through what POST /graphql goes through once a request is
authenticated: the same schema, resolvers, access rules and cost limits, and
under a key the same Idempotency-Key records (idempotency.py). The web app
puts a new key in every form it renders (`form_key`), so a form sent twice
(a double click, a reload that posts again) does its work once: the second
answer is the first one, replayed.

Invariants:
- the documents are the web app's own: one that does not parse or validate
  is a bug, raised (Answered), never shown; each is validated once per
  process (`gateway.documents`);
- an answer that holds a session's token is never kept under a key (as for
  HTTP: `Context.answer_may_be_kept`).
"""
import asyncio
import inspect
import threading
import uuid
from typing import Any

from graphql import ExecutionResult, execute
from graphql.language import ast

from services.gateway import idempotency
from services.gateway.auth import Viewer
from services.gateway.context import Context
from services.gateway.schema import schema


_threads = threading.local()  # each serving thread's event loop


def run(document: ast.DocumentNode, variables: dict | None, operation: str | None,
        context: Context) -> ExecutionResult:
    """A validated document executed (POST /graphql and `run_as` alike) in
    the event loop of the thread that serves the request, made once per
    thread (a new loop per request, as asyncio.run makes, cost more than
    the rest of the gateway's own work on a castStance). As with
    asyncio.run, nothing of the request is left on the loop when it
    returns: its callbacks have run and its tasks are cancelled."""
    loop = getattr(_threads, "loop", None)
    if loop is None or loop.is_closed():
        loop = _threads.loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_executed(document, variables, operation, context))
    finally:
        _leave_nothing(loop)


async def _executed(document: ast.DocumentNode, variables: dict | None, operation: str | None,
                    context: Context) -> ExecutionResult:
    result = execute(schema.graphql_schema, document, variable_values=variables,
                     operation_name=operation, context_value=context)
    return await result if inspect.isawaitable(result) else result


def _leave_nothing(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the request's tasks still pending and run what it scheduled."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    loop.run_until_complete(_settled(tasks))


async def _settled(tasks: set[asyncio.Task]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)  # what is scheduled runs now, in this request


def run_as(gateway: Any, viewer: Viewer, client: str, query: str, variables: dict | None,
           key: str | None = None) -> tuple[dict, Context]:
    """({"data", "errors"} of `query` run as `viewer`, its Context). With
    `key` (a mutation's form key) the answer is kept, and a repeat of the
    same document and variables under it is answered from what was kept."""
    request_id = uuid.uuid4().hex[:12]
    document = gateway.documents.get(query)
    if document is None:
        document = gateway.documents[query] = gateway.validated(query, request_id)
    gateway.check_limits(document, variables, None, viewer)
    record, work_id = None, None
    if key:
        request_print = idempotency.fingerprint(query, variables, None)
        try:
            record, kept = gateway.keys.begin(idempotency.owner(viewer, client),
                                              idempotency.check_key(key), request_print)
        except idempotency.Refusal as refusal:
            return ({"data": None, "errors": [{"message": refusal.message,
                                               "extensions": {"code": refusal.code}}]},
                    Context(viewer, gateway, request_id, client))
        if kept:
            return kept[1], Context(viewer, gateway, request_id, client)
        work_id = f"{record}.{request_print[:24]}"
    context = Context(viewer, gateway, request_id, client, work_id=work_id)
    result = run(document, variables, None, context)
    out, status, _ = gateway.answer(result, request_id)
    gateway.finish(record, status, out, context.answer_may_be_kept, context.shown_focal_points)
    return out, context
