"""The safety of members in a real browser (DOMAIN.md section 11): axe-core
finds no violation on the member's own page listing who has seen its focal
point (in English and in Russian), on its preferences with the visibility form, and on the
secretariat's page of a withdrawn member (the reads, the download, the
erasure form, then the erasure's answer); the download button gives
member-<id>.json with JavaScript off too."""
import json

import pytest

from tests.browser.support import add_session_cookie, assert_accessible
from tests.support import member_input

REGISTER = "mutation($i: MemberInput!) { registerFoundingMember(input: $i) { id } }"
FOCAL_POINT = "query($id: ID!) { member(id: $id) { focalPoint { email } } }"
WITHDRAW = "mutation($id: ID!) { withdrawMembership(memberId: $id, reason: null) { id } }"
DOWNLOAD = "Download all data about this member (JSON)"


def read_member(stack, reader="axe-reader"):
    """A new founding member whose focal point an ADMIN token (`reader`) has read."""
    member_id = stack.gql(REGISTER, {"i": member_input()}, stack.admin())[
        "registerFoundingMember"]["id"]
    stack.gql(FOCAL_POINT, {"id": member_id}, stack.token("ADMIN", sub=reader))
    return member_id


def signed_in(browser_context, stack, token, javascript=True):
    context = browser_context(javascript=javascript)
    add_session_cookie(context, stack, token)
    return context.new_page()


def test_the_members_page_with_its_reads_is_accessible(stack, browser_context):
    member_id = read_member(stack)
    page = signed_in(browser_context, stack, stack.member_token(member_id))
    page.goto("/organisation")
    reads = page.get_by_role("region", name="Who has seen your focal point's contact details")
    assert reads.get_by_role("cell", name="axe-reader", exact=True).count() == 1
    assert_accessible(page, "/organisation with the focal-point reads")
    page.goto("/preferences")
    assert page.get_by_role("radio", name="Members only", exact=True).count() == 1
    assert_accessible(page, "/preferences with the visibility form")
    page.goto("/language/ru?next=/organisation")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert page.get_by_role("region", name="Кто видел контактные данные вашего контактного "
                            "лица").count() == 1
    assert_accessible(page, "/organisation with the focal-point reads, in Russian")


@pytest.mark.parametrize("javascript", [True, False], ids=["javascript", "no-javascript"])
def test_the_download_button_gives_the_members_json(stack, browser_context, javascript):
    member_id = read_member(stack)
    page = signed_in(browser_context, stack, stack.member_token(member_id), javascript)
    page.goto("/organisation")
    with page.expect_download() as download_info:
        page.get_by_role("button", name=DOWNLOAD, exact=True).click()
    download = download_info.value
    assert download.suggested_filename == f"member-{member_id}.json"
    with open(download.path(), encoding="utf-8") as saved:
        assert json.load(saved)["member_id"] == member_id


def test_the_secretariat_page_of_a_withdrawn_member_and_its_erasure(stack, browser_context):
    member_id = read_member(stack)
    stack.gql(WITHDRAW, {"id": member_id}, stack.admin())
    page = signed_in(browser_context, stack, stack.admin())
    page.goto(f"/secretariat/members/{member_id}")
    assert page.get_by_role("region", name="Who has seen the focal point's contact details") \
        .get_by_role("cell", name="axe-reader", exact=True).count() == 1
    assert_accessible(page, "the secretariat's page of a withdrawn member")
    page.get_by_role("button", name="Erase personal data", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#confirm-error").count() == 1, "the box must be ticked"
    assert_accessible(page, "the erasure form with its error")
    page.get_by_role("checkbox", name="I understand that erasing is final: the focal point's "
                     "contact details cannot be recovered.", exact=True).check()
    page.get_by_role("button", name="Erase personal data", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#erased li").count() >= 1
    assert_accessible(page, "the erasure's answer")
