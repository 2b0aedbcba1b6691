"""The browser tests' own tools work against the real stack: Chromium opens
the sign-in page, axe-core runs on it and answers a list, and a first visit
weighs something on the wire."""
from tests.browser.support import axe_check, page_weight, transfers


def test_chromium_axe_and_the_weight_of_a_page_work_on_the_sign_in_page(stack, browser_context):
    context = browser_context()
    page = context.new_page()
    response = page.goto("/signin")
    assert response is not None and response.status == 200
    assert page.get_by_role("heading").count() >= 1

    violations = axe_check(page)
    assert isinstance(violations, list)

    weight = page_weight(browser_context(), stack.url + "/signin")
    assert weight > 0
    [document] = [t for t in transfers(browser_context(), stack.url + "/signin")
                  if t.type == "Document"]
    assert document.status == 200 and document.bytes > 0
