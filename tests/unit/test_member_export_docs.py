"""docs/member-export.md describes the export (DOMAIN.md section 11,
`exportMemberData`) field by field, from the parts every data-owning service
declares (`MEMBER_DATA` in services/<service>/dependencies.py): one section
per service (`## <service>`), one per collection (### `<collection>`), a
table row per field (| `<field>` | ...). Nothing declared may be missing from
it, and it may describe nothing that is no longer declared."""
import importlib
import re
from pathlib import Path

import pytest

from services.common.member_data import TECHNICAL, Part

DOC = Path(__file__).resolve().parents[2] / "docs" / "member-export.md"
# the services whose databases hold members' data; the gateway's holds only TECHNICAL ones
EXPORTED = ("members", "consultations", "grants", "notifications", "accounts")
SERVICE = re.compile(r"^## (\w+)\s*$", re.M)
COLLECTION = re.compile(r"^### `(\w+)`\s*$", re.M)
ROW = re.compile(r"^\| `([\w.]+)` \|", re.M)


def declared(service):
    """{collection: [fields]} of a service's MEMBER_DATA."""
    parts = importlib.import_module(f"services.{service}.dependencies").MEMBER_DATA
    assert parts and all(isinstance(p, Part) for p in parts), service
    return {p.collection: list(p.fields) for p in parts}


def sections(text, pattern):
    """{heading's name: the text up to the next such heading}."""
    found = list(pattern.finditer(text))
    return {m.group(1): text[m.end():found[i + 1].start() if i + 1 < len(found) else len(text)]
            for i, m in enumerate(found)}


def documented():
    """{service: {collection: [fields]}} as docs/member-export.md has them."""
    services = sections(DOC.read_text(), SERVICE)
    return {service: {collection: ROW.findall(body)
                      for collection, body in sections(text, COLLECTION).items()}
            for service, text in services.items()}


@pytest.mark.parametrize("service", EXPORTED)
def test_every_declared_collection_and_field_is_documented(service):
    doc = documented()
    assert service in doc, f"docs/member-export.md has no '## {service}' section"
    for collection, fields in declared(service).items():
        assert collection in doc[service], \
            f"docs/member-export.md: '## {service}' has no '### `{collection}`'"
        missing = [f for f in fields if f not in doc[service][collection]]
        assert not missing, f"{service}.{collection}: fields not documented: {missing}"


@pytest.mark.parametrize("service", EXPORTED)
def test_nothing_is_documented_that_is_not_declared(service):
    wanted = declared(service)
    for collection, fields in documented().get(service, {}).items():
        assert collection in wanted, f"{service}.{collection} is documented, not declared"
        extra = [f for f in fields if f not in wanted[collection]]
        assert not extra, f"{service}.{collection}: documented, not declared: {extra}"


def test_only_the_services_have_sections_and_no_technical_collection_is_exported():
    assert set(documented()) == set(EXPORTED)
    for service in EXPORTED:
        assert not set(declared(service)) & TECHNICAL, service
