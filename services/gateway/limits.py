"""What one request may ask of the gateway (DOMAIN.md section 6), checked
before anything runs. Each limit is a setting (services/common/config.py) and
is listed in docs/operator-guide.md "Limits".

- the body: at most MAX_REQUEST_BYTES, read no further (`read_body`), and
  JSON no deeper than MAX_JSON_DEPTH (`json_body`);
- the query: valid and at most MAX_QUERY_DEPTH deep (`prepare`, cached per
  text), pages of at most MAX_PAGE_SIZE (`check_page_sizes`), and its estimated cost at most MAX_QUERY_COST (`QueryCost`, a
  graphql-core validation rule);
- an anonymous request: one mutation field (`mutation_fields`);
- who is asking: the client address, from X-Forwarded-For only behind a
  trusted proxy (`ClientAddress`).
"""
import functools
import ipaddress
import json

from graphene.validation import depth_limit_validator
from graphql import (FieldNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode,
                     OperationType, get_named_type, is_composite_type, is_list_type,
                     is_non_null_type, parse, validate)
from graphql.execution.values import get_argument_values
from graphql.language import ast
from graphql.validation import ValidationRule

from services.common.config import parse_networks
from services.gateway.reports import OVERDUE_LIMIT
from services.gateway.schema import schema

# JSON nested deeper than this is refused with HTTP 400: no GraphQL request
# of ours needs more than a handful of levels of variables.
MAX_JSON_DEPTH = 64


class RequestRefused(Exception):
    """The request is refused before it runs: (HTTP status, code, message)."""

    def __init__(self, status, code, message, **extensions):
        super().__init__(message)
        self.status, self.code, self.message, self.extensions = status, code, message, extensions


# ---- the body -------------------------------------------------------------------------

def read_body(request, limit):
    """The raw body, never reading more than `limit` + 1 bytes of it."""
    too_large = RequestRefused(413, "PAYLOAD_TOO_LARGE",
                               f"The request body is larger than {limit} bytes.", limit=limit)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        raise too_large
    return data


def depth(value):
    """How deeply a parsed JSON value nests (iteratively: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1)
                         for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def json_body(data, what="The request body"):
    """Parsed JSON, or RequestRefused(400) if it is malformed or nested too deeply."""
    try:
        value = json.loads(data or b"null")
    except RecursionError:
        value = None
        nested = True
    except ValueError:
        raise RequestRefused(400, "BAD_REQUEST", f"{what} is not valid JSON.") from None
    else:
        nested = depth(value) > MAX_JSON_DEPTH
    if nested:
        raise RequestRefused(400, "BAD_REQUEST",
                             f"{what} nests deeper than {MAX_JSON_DEPTH} levels.")
    return value


# ---- the query: parsed and validated once per text, page sizes -------------------------

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


# ---- the query's cost --------------------------------------------------------------------

def _is_list(type_):
    return is_list_type(type_.of_type if is_non_null_type(type_) else type_)


# Unpaged lists whose size is known better than UNPAGED_LIST_ESTIMATE (the
# number of members of a large coalition): (type, field) -> the objects
# counted. Reports are scheduled a few per allocation (yearly, half-yearly);
# a report holds at most 100 indicators (grants refuses more), a handful in
# practice; a grant at most 50 budget lines, one a year in practice;
# overdueReports answers at most reports.OVERDUE_LIMIT.
LIST_ESTIMATES = {
    ("Allocation", "reports"): 10,
    ("Report", "indicators"): 20,
    ("Grant", "budgetLines"): 10,
    ("Query", "overdueReports"): OVERDUE_LIMIT,
}
# Scalars that stand for many objects: a grant's IATI document holds an
# organisation and transactions per allocation and disbursement, built for
# the request, so it counts like an unpaged list (UNPAGED_LIST_ESTIMATE).
MANY_OBJECT_SCALARS = {("Grant", "iatiXml")}


class QueryCost(ValidationRule):
    """The estimated number of objects the answer could hold.

    Every object-typed field counts 1 for each object it can return, times
    the objects of all the lists above it, and aliases count separately:
    - `edges` of a paged field count its `first` (or its default);
    - a list of LIST_ESTIMATES (`reports`, `indicators`, `budgetLines`,
      `overdueReports`) counts its estimate there;
    - any other list (`eligibleMembers`, `allocations`, `stances`, `awaiting`,
      `rounds`, ...) counts UNPAGED_LIST_ESTIMATE;
    - `iatiXml` (MANY_OBJECT_SCALARS) counts UNPAGED_LIST_ESTIMATE;
    - other scalars and introspection (`__schema`, `__typename`) count nothing.
    Only the operation that will run is costed. A fragment's cost is
    computed once per page size, so spreading fragments cannot make the
    estimate itself expensive.
    """

    def __init__(self, context, variables, operation_name, estimate, limit):
        super().__init__(context)
        self.variables, self.operation_name = variables or {}, operation_name
        self.estimate, self.limit = estimate, limit
        self._fragments = {}
        self.cost = 0

    def enter_operation_definition(self, node, *_):
        if self.operation_name is not None and (node.name is None
                                                or node.name.value != self.operation_name):
            return
        schema = self.context.schema
        root = {OperationType.QUERY: schema.query_type,
                OperationType.MUTATION: schema.mutation_type}.get(node.operation)
        if root is None:
            return
        self.cost = self.selections(node.selection_set, root, None)
        if self.cost > self.limit:
            self.report_error(GraphQLError(
                f"This query could return about {self.cost} objects, more than the limit of "
                f"{self.limit}. Ask for fewer items (a smaller `first`), fewer nested lists "
                "or fewer aliases, and page through the rest.",
                node, extensions={"code": "QUERY_TOO_COMPLEX", "cost": self.cost,
                                  "limit": self.limit}))

    def page_size(self, node, field):
        try:
            value = get_argument_values(field, node, self.variables).get("first")
        except GraphQLError:
            value = None
        if not isinstance(value, int):
            value = field.args["first"].default_value
        return max(value, 0) if isinstance(value, int) else self.estimate

    def selections(self, selection_set, parent, page):
        total = 0
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FieldNode):
                total += self.field(node, parent, page)
            elif isinstance(node, InlineFragmentNode):
                type_ = (self.context.schema.get_type(node.type_condition.name.value)
                         if node.type_condition else parent)
                total += self.selections(node.selection_set, type_, page)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value, page)
        return total

    def fragment(self, name, page):
        if (name, page) not in self._fragments:
            self._fragments[(name, page)] = 0  # a cycle (refused by validation) costs nothing
            fragment = self.context.get_fragment(name)
            if fragment is not None:
                type_ = self.context.schema.get_type(fragment.type_condition.name.value)
                self._fragments[(name, page)] = self.selections(fragment.selection_set, type_, page)
        return self._fragments[(name, page)]

    def field(self, node, parent, page):
        name = node.name.value
        fields = getattr(parent, "fields", None) or {}
        if name.startswith("__") or name not in fields:
            return 0
        field = fields[name]
        named = get_named_type(field.type)
        if not is_composite_type(named):
            return self.estimate if (parent.name, name) in MANY_OBJECT_SCALARS else 0
        size = 1
        if _is_list(field.type):
            size = (page if name == "edges" and page is not None
                    else LIST_ESTIMATES.get((parent.name, name), self.estimate))
        inner_page = self.page_size(node, field) if "first" in field.args else None
        return size * (1 + self.selections(node.selection_set, named, inner_page))


class _CostContext:
    """What QueryCost asks of its validation context: the schema, the
    document's fragments, and where its error goes."""

    def __init__(self, schema, document):
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, ast.FragmentDefinitionNode)}
        self.errors = []

    def get_fragment(self, name):
        return self.fragments.get(name)

    def report_error(self, error):
        self.errors.append(error)


def check_cost(schema, document, variables, operation_name, estimate, limit):
    """[] or the QUERY_TOO_COMPLEX error. QueryCost acts only on entering an
    operation definition (it walks the selections itself), so it is run on
    those alone: the same answer as running it as a graphql-core validation
    rule, without a visit of every node of the document on every request."""
    context = _CostContext(schema, document)
    rule = QueryCost(context, variables, operation_name, estimate, limit)
    for definition in document.definitions:
        if isinstance(definition, ast.OperationDefinitionNode):
            rule.enter_operation_definition(definition)
    return context.errors


# ---- anonymous requests --------------------------------------------------------------------

def mutation_fields(document, operation_name):
    """The top-level fields of the mutation that will run (fragments expanded);
    [] if the operation is not a mutation."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, ast.FragmentDefinitionNode)}
    operation = next((d for d in document.definitions
                      if isinstance(d, ast.OperationDefinitionNode)
                      and (operation_name is None or (d.name and d.name.value == operation_name))),
                     None)
    if operation is None or operation.operation != OperationType.MUTATION:
        return []
    names, pending, seen = [], [operation.selection_set], set()
    while pending:
        for node in pending.pop().selections:
            if isinstance(node, FieldNode):
                if node.name.value != "__typename":
                    names.append(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif node.name.value in fragments and node.name.value not in seen:
                seen.add(node.name.value)
                pending.append(fragments[node.name.value].selection_set)
    return names


# ---- who is asking ----------------------------------------------------------------------------

class ClientAddress:
    """The client's address: the socket peer, unless the peer is a trusted
    proxy; then X-Forwarded-For is read from the right, skipping trusted
    proxies, and the first address that is not one is the client. A value
    a client wrote itself (to the left of the first untrusted hop) is never
    believed."""

    def __init__(self, trusted):
        self.trusted = parse_networks(trusted) if isinstance(trusted, str) else list(trusted)

    def is_trusted(self, address):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def __call__(self, environ):
        client = environ.get("REMOTE_ADDR") or "unknown"
        if not self.is_trusted(client):
            return client
        hops = [h.strip() for h in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return client  # garbage from the client's side: the last proxy is all we know
            client = hop
            if not self.is_trusted(hop):
                return hop
        return client
