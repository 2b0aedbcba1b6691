"""WCAG 2.2 AA on every page (issue 17, quality bars): axe-core, with the tags
wcag2a, wcag2aa, wcag21a, wcag21aa and wcag22aa, finds no violation on any
page of the web app, for an anonymous visitor, a member and the secretariat,
in English and in Russian, and on forms showing their errors."""
import pytest

from tests.browser.support import ALL_PAGES, NAMES, STANCES, assert_accessible


@pytest.mark.parametrize("role,path", ALL_PAGES, ids=[f"{r}:{p}" for r, p in ALL_PAGES])
def test_axe_finds_no_violation(role_contexts, world, role, path):
    page = role_contexts[role].new_page()
    try:
        response = page.goto(path.format(**world))
        assert response is not None and response.status in (200, 404), (path, response.status)
        assert_accessible(page, f"{path} for {role}")
    finally:
        page.close()


@pytest.mark.parametrize("role,path", [("anonymous", "/"), ("anonymous", "/apply"),
                                       ("member", "/consultations/{open}"),
                                       ("secretariat", "/secretariat")])
def test_axe_finds_no_violation_in_russian(world, role_contexts, role, path):
    page = role_contexts[role].new_page()
    try:
        page.goto(f"/language/ru?next={path.format(**world)}")
        assert page.locator("html").get_attribute("lang") == "ru"
        assert_accessible(page, f"{path} in Russian for {role}")
    finally:
        page.goto("/language/en?next=/")
        page.close()


def test_axe_finds_no_violation_on_forms_showing_their_errors(role_contexts, world):
    anonymous = role_contexts["anonymous"].new_page()
    anonymous.goto("/apply")
    anonymous.get_by_role("button", name="Send application", exact=True).click()
    assert anonymous.locator(".error-message").count() >= 1
    assert_accessible(anonymous, "/apply with errors")
    anonymous.close()

    member = role_contexts["member"].new_page()
    member.goto(f"/consultations/{world['open']}")
    member.get_by_role("radio", name=STANCES["BLOCK"], exact=True).check()
    member.get_by_role("button", name=NAMES["submit_stance"], exact=True).click()
    assert member.locator("#reason-error").count() == 1
    assert_accessible(member, "the stance form with an error")
    member.close()

    secretariat = role_contexts["secretariat"].new_page()
    secretariat.goto("/secretariat/grants/new")
    secretariat.get_by_role("button", name="Create the grant", exact=True).click()
    assert secretariat.locator(".error-message").count() >= 1
    assert_accessible(secretariat, "/secretariat/grants/new with errors")
    secretariat.close()
