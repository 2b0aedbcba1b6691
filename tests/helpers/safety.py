"""Safety of members (DOMAIN.md section 11) as the tests observe it: members
with a distinctive name and focal point (so that a leak is found by a plain
text search), the store searched document by document for a text or a
member's id, the export parsed, and two crawlers that see what an anonymous
client sees: every root field of the GraphQL schema (introspected) followed
to a bounded depth, and every page of the web app linked from `/`."""
import html
import json
import re
import uuid
from urllib.parse import urlencode, urljoin, urlsplit

from services.common.member_data import TECHNICAL
from services.common.vocabulary import SERVICES
from tests.helpers.consultations import cast, close
from tests.helpers.grants import propose
from tests.helpers.web import web_session
from tests.support import member_input, wait_for

HIDDEN = "MEMBERS_ONLY"
UNDISCLOSED = "Undisclosed member organisation"
DATABASES = (*SERVICES, "gateway")
SERVICE_DATABASES = ("members", "consultations", "grants", "notifications", "accounts")

MEMBER_FIELDS = "id name status visibility history { at status note }"
SET_VISIBILITY = f"""mutation($m: ID!, $v: Visibility!) {{
  setMemberVisibility(memberId: $m, visibility: $v) {{ {MEMBER_FIELDS} }} }}"""
EXPORT = "mutation($m: ID!) { exportMemberData(memberId: $m) }"
ERASE = f"""mutation($m: ID!) {{ eraseMemberData(memberId: $m) {{ removed
  member {{ {MEMBER_FIELDS} focalPoint {{ name email phone }} }} }} }}"""
FOCAL_POINT = """query($id: ID!) { member(id: $id) { id visibility
  focalPoint { name email phone } focalPointReads { at by } } }"""
READS = "query($id: ID!) { member(id: $id) { id focalPointReads { at by } } }"
REGISTER = "mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id visibility } }"
APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id status visibility } }"
WITHDRAW = """mutation($m: ID!) { withdrawMembership(memberId: $m) { id status
  focalPoint { name email phone } } }"""


def secret_member(visibility=HIDDEN, **overrides):
    """A MemberInput whose name, acronym and focal point (name, address,
    phone) are found nowhere else, so that a search for them finds only
    leaks."""
    tag = uuid.uuid4().hex[:10]
    digits = str(int(tag[:8], 16) % 10**7).zfill(7)
    data = member_input(name=f"Quietwater Collective {tag}", acronym=f"QWC{tag[:6].upper()}",
                        visibility=visibility,
                        focalPoint={"name": f"Zarina Hidden-{tag}",
                                    "email": f"zarina-{tag}@example.org",
                                    "phone": f"+996 312 {digits}"})
    data.update(overrides)
    return data


def needles(data, member_id):
    """The texts of a member that must not reach whom it is hidden from."""
    found = [data["name"], member_id, data["focalPoint"]["name"], data["focalPoint"]["email"]]
    return found + ([data["acronym"]] if data.get("acronym") else [])


def focal_point_texts(data):
    """What an erasure must leave nowhere: the focal point's name, address
    and phone (the phone also as its digits alone)."""
    fp = data["focalPoint"]
    return [fp["name"], fp["email"], fp["phone"], re.sub(r"\D", "", fp["phone"])]


# ---- the store, document by document -----------------------------------------------------

def strings(value):
    """Every text in a stored document (keys too), at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item)
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, str):
        yield value


def holds(doc, text):
    """Whether any text of `doc` contains `text` (case-insensitively)."""
    wanted = text.casefold()
    return any(wanted in s.casefold() for s in strings(doc))


def store_hits(stack, texts, databases=DATABASES):
    """[(database, collection, document id, text)] of every stored document,
    in every collection of `databases`, that holds one of `texts`."""
    hits = []
    for service in databases:
        db = stack.db(service)
        for collection in db.list_collection_names():
            for doc in db[collection].find({}):
                hits.extend((service, collection, doc.get("_id"), text)
                            for text in texts if text and holds(doc, text))
    return hits


def naming(stack, member_id, databases=DATABASES):
    """{database: {collection: [ids of its documents that hold member_id]}}
    over every collection that is not the kit's (TECHNICAL)."""
    found = {}
    for service in databases:
        db = stack.db(service)
        for collection in sorted(set(db.list_collection_names()) - TECHNICAL):
            ids = [str(d["_id"]) for d in db[collection].find({}) if holds(d, member_id)]
            if ids:
                found.setdefault(service, {})[collection] = ids
    return found


def export_of(stack, member_id, token, headers=None):
    """exportMemberData as `token`: the parsed document (it must succeed)."""
    r = stack.post(EXPORT, {"m": member_id}, token, headers=headers)
    body = r.json()
    assert r.status_code == 200 and not body.get("errors"), body
    return json.loads(body["data"]["exportMemberData"])


def reads_count(stack):
    return stack.db("members").focal_point_reads.count_documents({})


def newest_reads(stack, count):
    """The newest `count` focal-point read records, newest first."""
    return list(stack.db("members").focal_point_reads.find({}).sort([("at", -1), ("_id", -1)])
                .limit(count))


# ---- the GraphQL crawler -----------------------------------------------------------------

TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name } } }"
INTROSPECT = """{ __schema { queryType { name } types { name kind enumValues { name }
  fields { name args { name defaultValue type { %s } } type { %s } } } } }""" % (TYPE_REF,
                                                                               TYPE_REF)
LEAVES = ("SCALAR", "ENUM")


def named(ref):
    """(name, kind) of the named type under a type reference's wrappers."""
    while ref.get("ofType"):
        ref = ref["ofType"]
    return ref["name"], ref["kind"]


def required(arg):
    return arg["type"]["kind"] == "NON_NULL" and arg["defaultValue"] is None


class GraphCrawler:
    """Every Query root field, every object field under it to `depth`
    levels (then their scalar fields, then nothing), as the viewer of
    `token`: lists paged to the end (`first` each time), each list asked
    again with every value of its enum arguments and every `probe` as its
    text arguments, and each `thing(id:)` with every id of its type met
    anywhere and every `seed`. A field refused to this viewer (an error at
    its path) is left out and the query asked again. `texts` holds every
    answer and error message; `ids` every id met, by type."""

    def __init__(self, stack, token=None, depth=3, page=50, seeds=None, probes=()):
        self.stack, self.token, self.depth, self.page = stack, token, depth, page
        self.ids = {name: set(values) for name, values in (seeds or {}).items()}
        self.probes, self.texts, self.queries = list(probes), [], 0
        self.refused = set()  # (type, field) left out for this viewer
        schema = stack.gql(INTROSPECT, token=token)["__schema"]
        self.types = {t["name"]: t for t in schema["types"]}
        self.root = self.types[schema["queryType"]["name"]]

    # ---- documents ----
    def fragment(self, type_name, level, fragments):
        """The name of the fragment on `type_name` at `level` (defining it,
        and those it spreads, in `fragments`)."""
        name = f"{type_name}_{level + 1}"
        if name in fragments:
            return name
        fragments[name] = ""  # its place, first: the fragments it spreads come after
        parts = ["__typename"]
        for field in self.types[type_name]["fields"] or []:
            sub, kind = named(field["type"])
            if (type_name, field["name"]) in self.refused or any(map(required, field["args"])):
                continue
            if kind in LEAVES:
                parts.append(field["name"])
            elif level >= 0 and not field["name"].startswith("__"):
                parts.append(f"{field['name']} {{ ...{self.fragment(sub, level - 1, fragments)} }}")
        fragments[name] = f"fragment {name} on {type_name} {{ {' '.join(parts)} }}"
        return name

    def document(self, selections, level):
        """A query of `selections` [(alias, field, arguments text, type)]."""
        fragments, lines = {}, []
        for alias, field, arguments, type_name in selections:
            spread = self.fragment(type_name, level, fragments)
            lines.append(f"{alias}: {field}{arguments} {{ ...{spread} }}")
        return "query { %s }\n%s" % ("\n".join(lines), "\n".join(fragments.values()))

    # ---- asking ----
    def ask(self, selections, level):
        """The data of a query, after leaving out what the viewer is refused."""
        while True:
            self.queries += 1
            r = self.stack.post(self.document(selections, level), token=self.token)
            body = r.json()
            assert r.status_code == 200 or body.get("errors"), r.text
            self.texts.append(json.dumps(body, ensure_ascii=False))
            newly = self.refusals(body, selections)
            if not newly:
                self.collect(body.get("data"))
                return body.get("data") or {}
            self.refused |= newly

    def refusals(self, body, selections):
        """(type, field) of each error below a root field: to leave out."""
        types = {alias: type_name for alias, _, _, type_name in selections}
        found = set()
        for error in body.get("errors") or []:
            path = [p for p in error.get("path") or [] if isinstance(p, str)]
            if len(path) < 2 or path[0] not in types:
                continue
            type_name = types[path[0]]
            for step in path[1:-1]:
                field = next(f for f in self.types[type_name]["fields"] if f["name"] == step)
                type_name = named(field["type"])[0]
            if (type_name, path[-1]) not in self.refused:
                found.add((type_name, path[-1]))
        return found

    def collect(self, value):
        if isinstance(value, dict):
            if value.get("__typename") and value.get("id"):
                self.ids.setdefault(value["__typename"], set()).add(value["id"])
            for item in value.values():
                self.collect(item)
        elif isinstance(value, list):
            for item in value:
                self.collect(item)

    # ---- the walk ----
    def listed(self, field, arguments, level):
        """Every page of a paged root field (`first`, `after`)."""
        after, sub = None, named(field["type"])[0]
        for _ in range(200):
            cursor = f", after: {json.dumps(after)}" if after else ""
            args = f"(first: {self.page}{cursor}{arguments})"
            page = self.ask([("page", field["name"], args, sub)], level).get("page") or {}
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info["endCursor"]

    def variants(self, field):
        """Argument texts of a list's other views: one enum value or probe each."""
        found = []
        for arg in field["args"]:
            sub, kind = named(arg["type"])
            if arg["name"] in ("first", "after"):
                continue
            values = ([v["name"] for v in self.types[sub]["enumValues"]]
                      if kind == "ENUM" else [json.dumps(p) for p in self.probes]
                      if sub == "String" else [])
            found.extend(f", {arg['name']}: {value}" for value in values)
        return found

    def by_id(self, field, level, done):
        """`thing(id:)` for every id of its type not asked yet; whether any was."""
        sub = named(field["type"])[0]
        todo = sorted(self.ids.get(sub, set()) - done)
        for start in range(0, len(todo), 20):
            chunk = todo[start:start + 20]
            self.ask([(f"a{i}", field["name"], f"(id: {json.dumps(i_d)})", sub)
                      for i, i_d in enumerate(chunk)], level)
        done.update(todo)
        return bool(todo)

    def crawl(self):
        """Walk it all; the texts of every answer, joined."""
        by_id = []
        for field in self.root["fields"]:
            sub, kind = named(field["type"])
            names = {a["name"] for a in field["args"]}
            if [a for a in field["args"] if required(a)]:
                by_id.append((field, set()))
            elif kind in LEAVES:
                self.ask_leaf(field)
            elif "first" in names:
                # a page's nodes are two levels down (edges, node)
                self.listed(field, "", self.depth + 2)
                for variant in self.variants(field):
                    self.listed(field, variant, 2)
            else:
                self.ask([("one", field["name"], "", sub)], self.depth)
        while any([self.by_id(field, self.depth, done) for field, done in by_id]):
            pass
        return "\n".join(self.texts)

    def ask_leaf(self, field):
        self.queries += 1
        self.texts.append(self.stack.post("{ %s }" % field["name"], token=self.token).text)


# ---- the web crawler ---------------------------------------------------------------------

HREF = re.compile(r'href="([^"]+)"')
GET_FORM = re.compile(r'<form(?![^>]*method="post")[^>]*action="([^"]*)"[^>]*>(.*?)</form>',
                      re.S | re.I)
SELECT = re.compile(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', re.S)
OPTION = re.compile(r'<option[^>]*value="([^"]*)"')
SKIPPED = ("/static/", "/signout")
ONCE = ("/language/", "/signin")


def links(page):
    """The addresses a page leads to by GET: its links, and its GET forms
    sent with each option of each of their lists (one list at a time)."""
    found = [html.unescape(h) for h in HREF.findall(page)]
    for action, form in GET_FORM.findall(page):
        for name, options in SELECT.findall(form):
            found.extend(f"{html.unescape(action)}?{urlencode({name: html.unescape(v)})}"
                         for v in OPTION.findall(options) if v)
    return found


def local(stack, base, link):
    """The path (and query) of a link on the stack's host, or None."""
    target = urlsplit(urljoin(base, link))
    if target.netloc != urlsplit(stack.url).netloc or target.path.startswith(SKIPPED):
        return None
    # where to come back to after a language or a sign-in: once is enough
    kept = target.query and not target.path.startswith(ONCE)
    return target.path + (f"?{target.query}" if kept else "")


def crawl_web(stack, token=None, start=("/",), limit=1000, language=None):
    """{path: (status, body)} of every page reached from `start` by GET,
    following the links of each HTML page on the same host (and its GET
    forms), at most `limit` pages, as a browser of `token` (None: a
    visitor) in `language` (None: the default)."""
    session = web_session(stack, token)
    if language:
        session.get(f"{stack.url}/language/{language}", timeout=60)
    queue, pages = list(start), {}
    while queue and len(pages) < limit:
        path = queue.pop(0)
        if path in pages:
            continue
        r = session.get(stack.url + path, timeout=60)
        pages[path] = (r.status_code, r.text)
        if "html" in r.headers.get("Content-Type", ""):
            queue.extend(found for found in (local(stack, stack.url + path, link)
                                             for link in links(r.text))
                         if found and found not in pages)
    return pages


def leaks(texts, wanted):
    """[(text found, a little context)] of each of `wanted` found in `texts`
    (case-insensitively)."""
    found = []
    low = texts.casefold()
    for text in wanted:
        at = low.find(text.casefold())
        if at >= 0:
            found.append((text, texts[max(0, at - 150):at + 150]))
    return found


# ---- money for a member the anonymous do not see -----------------------------------------

ADMIN_ALLOCATION = """query($id: ID!) { grant(id: $id) { allocations { id status
  consultation { id eligibleMembers { id } } } } }"""


def admin_allocation(stack, grant_id, allocation_id):
    """The allocation as ADMIN sees it (the anonymous may not see it at all)."""
    grant = stack.gql(ADMIN_ALLOCATION, {"id": grant_id}, stack.admin())["grant"]
    return next(a for a in grant["allocations"] if a["id"] == allocation_id)


def approved(stack, grant_id, member_id, amount):
    """An allocation of `amount` to `member_id`, APPROVED the real way
    (every eligible member agrees, ADMIN closes), read as ADMIN throughout."""
    a = propose(stack, grant_id, member_id, amount)
    c = wait_for(lambda: admin_allocation(stack, grant_id, a["id"])["consultation"], 20, 0.1,
                 "the allocation's consultation")
    assert c["eligibleMembers"], c
    for m in c["eligibleMembers"]:
        body = cast(stack, c["id"], m["id"])
        assert not body.get("errors"), body
    assert close(stack, c["id"])["outcome"] == "ADOPTED"
    wait_for(lambda: admin_allocation(stack, grant_id, a["id"])["status"] == "APPROVED", 20, 0.1,
             "the allocation approved")
    return {**a, "consultation": c}
