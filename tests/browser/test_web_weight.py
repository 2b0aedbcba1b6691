"""The page-weight budget (issue 17, quality bars): every page is at most
100 KB on a first visit, HTML, CSS, fonts and scripts together, as the
network carried them (compressed), for an anonymous visitor, a member and
the secretariat. Text answers travel gzip'd to a browser that takes gzip,
and no page loads anything from another host."""
from urllib.parse import urlsplit

import pytest

from tests.browser.support import (ALL_PAGES, BUDGET_BYTES, WEIGHED_TYPES, transfers,
                                   weight_report)


@pytest.mark.parametrize("role,path", ALL_PAGES, ids=[f"{r}:{p}" for r, p in ALL_PAGES])
def test_a_first_visit_weighs_at_most_100_kb(stack, role_contexts, world, role, path):
    found = transfers(role_contexts[role], stack.url + path.format(**world))
    weighed = [t for t in found if t.type in WEIGHED_TYPES]
    total = sum(t.bytes for t in weighed)
    report = weight_report(found)
    assert [t.type for t in weighed].count("Document") == 1, report
    assert 0 < total <= BUDGET_BYTES, f"{path} for {role}: {total} B > {BUDGET_BYTES} B\n{report}"
    own = urlsplit(stack.url).netloc
    assert all(urlsplit(t.url).netloc == own for t in found if t.url.startswith("http")), report


def test_the_page_and_its_style_sheet_travel_gzipd(stack, role_contexts, world):
    found = transfers(role_contexts["anonymous"], stack.url + "/members")
    report = weight_report(found)
    assert [t.encoding for t in found if t.type == "Document"] == ["gzip"], report
    sheets = [t for t in found if t.type == "Stylesheet"]
    assert sheets and all(t.encoding == "gzip" for t in sheets), report
