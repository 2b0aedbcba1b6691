"""The language switch (issue 17): links `English` and `Русский` on every
page; the choice changes `<html lang>` and the words, is kept in a cookie
for a visitor and in the preferences once signed in (and
set again from them when signing in on another browser)."""
import pytest

from tests.browser.support import NAMES, add_session_cookie, session_token, sign_in_by_mail
from tests.helpers.sign_in import VIEWER, focal_point, ok, post

pytestmark = pytest.mark.usefixtures("mail")


def lang(page):
    return page.locator("html").get_attribute("lang")


def switch(page, name):
    page.get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def test_a_visitor_switches_to_russian_and_back_and_the_choice_is_kept(browser_context):
    page = browser_context(locale="en-GB").new_page()
    page.goto("/members")
    assert lang(page) == "en"
    assert page.get_by_role("link", name="Members", exact=True).is_visible()

    switch(page, NAMES["russian"])
    assert page.url.endswith("/members")  # the same page, in the other language
    assert lang(page) == "ru"
    assert page.get_by_role("link", name="Члены", exact=True).is_visible()
    assert page.get_by_role("link", name="Войти", exact=True).is_visible()
    assert page.get_by_role("link", name=NAMES["english"], exact=True).is_visible()

    page.goto("/consultations")
    assert lang(page) == "ru"  # kept in a cookie
    page.goto("/signin")  # Russian pages use the Russian accessible names
    assert page.get_by_label("Адрес электронной почты", exact=True).count() == 1
    assert page.get_by_role("button", name="Отправить код для входа", exact=True).count() == 1

    switch(page, NAMES["english"])
    assert lang(page) == "en"
    assert page.get_by_label(NAMES["email"], exact=True).count() == 1
    assert page.get_by_role("button", name=NAMES["send"], exact=True).count() == 1


def test_a_signed_in_focal_point_s_choice_is_kept_in_its_preferences(stack, browser_context):
    _, address = focal_point(stack)
    token = session_token(stack, address)
    context = browser_context()
    add_session_cookie(context, stack, token)
    page = context.new_page()
    page.goto("/")
    assert lang(page) == "en"

    switch(page, NAMES["russian"])
    assert lang(page) == "ru"
    assert page.get_by_role("button", name="Выйти", exact=True).is_visible()
    viewer = ok(post(stack.url, VIEWER, token=token))["viewer"]
    assert viewer["person"]["preferences"]["language"] == "RU"

    # another browser, English, signs in from the mailed link: the pages are Russian
    other = browser_context(locale="en-GB").new_page()
    sign_in_by_mail(other, stack, address, names={"sign_out": "Выйти"})
    other.goto("/")
    assert lang(other) == "ru"

    switch(other, NAMES["english"])
    assert lang(other) == "en"
    viewer = ok(post(stack.url, VIEWER, token=token))["viewer"]
    assert viewer["person"]["preferences"]["language"] == "EN"
