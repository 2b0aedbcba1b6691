"""The member's report form in a real browser (issue 19): five indicator rows,
"Add an indicator row" adding a sixth at once with JavaScript (no round
trip, renumbered, focused) and by the server without it, the errors shown
beside the fields, the report sent with the added row; then the
secretariat's review page. axe-core finds no violation on the form, on the
form showing its errors, on /organisation listing the reports, on a grant's
page with its reports and the schedule form, and on the review page."""
import pytest

from tests.browser.support import add_session_cookie, assert_accessible
from tests.helpers.reports import approved_allocation, day, get_report, schedule, submit
from tests.support import founders

SCRIPT = [pytest.param(True, id="javascript"), pytest.param(False, id="no-javascript")]


@pytest.fixture(scope="module")
def pair(stack):
    """(beneficiary, another founder that can vote on its allocations)."""
    return [m["id"] for m in founders(stack, 2)]


def signed_in(browser_context, stack, token, javascript=True):
    context = browser_context(javascript=javascript)
    add_session_cookie(context, stack, token)
    return context.new_page()


def rows(page):
    return page.locator("#indicator-rows fieldset.row").count()


@pytest.mark.parametrize("javascript", SCRIPT)
def test_the_report_form_adds_a_row_shows_errors_and_sends(stack, browser_context, pair,
                                                            javascript):
    beneficiary, _ = pair
    _, allocation = approved_allocation(stack, beneficiary, "5000.00")
    report = schedule(stack, allocation["id"], day(14))
    page = signed_in(browser_context, stack, stack.member_token(beneficiary), javascript)
    page.goto(f"/reports/{report['id']}")
    assert rows(page) == 5
    if javascript:
        assert_accessible(page, "the report form")
        page.evaluate("window.notReloaded = true")
    else:
        assert page.get_by_role("button", name="Add an indicator row", exact=True).count() == 1
    page.get_by_role("button", name="Add an indicator row", exact=True).click()
    page.wait_for_load_state()
    assert rows(page) == 6
    sixth = page.get_by_role("group", name="Indicator 6", exact=True)
    if javascript:
        assert page.evaluate("window.notReloaded === true")  # added in the page itself
        assert page.evaluate("document.activeElement.id") == "indicators-5-name"
    page.get_by_label("Narrative", exact=True).fill("Trained 40 lawyers in three cities.")
    page.get_by_label("Amount spent", exact=True).fill("5000.01")
    sixth.get_by_label("Name", exact=True).fill("Lawyers trained")
    sixth.get_by_label("Actual", exact=True).fill("40")
    page.get_by_role("button", name="Send the report", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#spent-error").count() == 1
    assert page.get_by_role("alert").get_by_role("link").count() >= 1
    if javascript:
        assert_accessible(page, "the report form with an error")
    page.get_by_label("Amount spent", exact=True).fill("4999.99")
    page.get_by_role("button", name="Send the report", exact=True).click()
    page.wait_for_load_state()
    assert "Your report is sent." in page.locator("main").inner_text()
    sent = get_report(stack, report["id"])
    assert sent["status"] == "SUBMITTED" and sent["spent"] == "4999.99"
    assert [(i["name"], i["actual"]) for i in sent["indicators"]] == [("Lawyers trained", "40")]
    if javascript:
        page.goto("/organisation")
        assert page.locator(f'a[href="/reports/{report["id"]}"]').count() == 1
        assert_accessible(page, "/organisation with its reports")


def test_the_review_page_is_accessible_and_sends_back_with_a_note(stack, browser_context,
                                                                  pair):
    beneficiary, _ = pair
    _, allocation = approved_allocation(stack, beneficiary, "8000.00")
    report = schedule(stack, allocation["id"], day(3))
    submit(stack, report["id"], beneficiary)
    page = signed_in(browser_context, stack, stack.admin())
    page.goto(f"/secretariat/grants/{allocation['grant']['id']}")
    assert page.get_by_role("button", name="Schedule the report", exact=True).count() == 1
    assert_accessible(page, "a grant's page with its reports and the schedule form")
    page.goto(f"/secretariat/reports/{report['id']}")
    assert_accessible(page, "the review page")
    page.get_by_role("button", name="Request changes", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#note-error").count() == 1
    assert_accessible(page, "the review page with an error")
    page.get_by_label("Note to the member", exact=True).fill("Add the Q3 figures.")
    page.get_by_role("button", name="Request changes", exact=True).click()
    page.wait_for_load_state()
    assert get_report(stack, report["id"])["status"] == "CHANGES_REQUESTED"
