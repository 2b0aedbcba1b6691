"""A focal point votes in a real browser (issue 17, "Tests in a real
browser"): it signs in from the e-mailed link (read from the test's SMTP
server), finds the round on its home page, gives its stance, changes it and
sees the tally; the same with JavaScript off; and Block without a reason is
refused with a message beside the Reason field, keeping what was chosen."""
import re

import pytest

from tests.browser.support import (NAMES, STANCES, add_session_cookie, session_token,
                                   sign_in_by_mail, stance_of)
from tests.helpers.consultations import open_consultation
from tests.helpers.sign_in import focal_point

SCRIPT = [pytest.param(True, id="javascript"), pytest.param(False, id="no-javascript")]


def tally_section(page):
    return page.get_by_role("region", name=re.compile(r"^Tally"))


def give_stance(page, value, reason=None):
    page.get_by_role("radio", name=STANCES[value], exact=True).check()
    if reason is not None:
        page.get_by_role("textbox", name=NAMES["reason"], exact=True).fill(reason)
    page.get_by_role("button", name=NAMES["submit_stance"], exact=True).click()
    page.wait_for_load_state()


@pytest.mark.parametrize("javascript", SCRIPT)
def test_a_focal_point_signs_in_from_the_mailed_link_votes_changes_its_stance_and_sees_the_tally(
        stack, mail, browser_context, javascript):
    member_id, address = focal_point(stack)
    title = f"Budget 2027 {address.split('@')[0]}"
    consultation = open_consultation(stack, title=title, proposal="Adopt the 2027 budget.")
    page = browser_context(javascript=javascript).new_page()

    sign_in_by_mail(page, stack, address)

    page.goto("/")
    waiting = page.get_by_role("region", name="Waiting for your stance")
    waiting.get_by_role("link", name=title, exact=True).click()
    assert page.url.endswith(f"/consultations/{consultation['id']}")
    assert page.get_by_role("heading", level=1).inner_text() == title
    for label in STANCES.values():  # each choice with its one-line explanation beside it
        radio = page.get_by_role("radio", name=label, exact=True)
        assert radio.get_attribute("aria-describedby"), label

    give_stance(page, "AGREE")
    assert page.get_by_role("status").inner_text().strip() == "Your stance is recorded."
    assert "Your stance: Agree," in page.get_by_role("region", name="Your stance").inner_text()
    assert "Agreed: 1;" in tally_section(page).inner_text()
    assert stance_of(stack, consultation["id"], member_id)["myStance"] == {"value": "AGREE",
                                                                       "reason": None}

    page.get_by_role("link", name="Change your stance").click()
    assert page.get_by_role("radio", name=STANCES["AGREE"], exact=True).is_checked()
    give_stance(page, "RESERVATIONS", "The budget needs a line for translation.")
    mine = page.get_by_role("region", name="Your stance").inner_text()
    assert "Your stance: Agree with reservations," in mine
    assert "The budget needs a line for translation." in mine
    tally = tally_section(page).inner_text()
    assert "Agreed: 0;" in tally and "Agreed with reservations: 1;" in tally
    assert "Responded: 1," in tally
    after = stance_of(stack, consultation["id"], member_id)
    assert after["myStance"] == {"value": "RESERVATIONS",
                                 "reason": "The budget needs a line for translation."}
    assert after["tally"]["responded"] == 1 and after["tally"]["agree"] == 0


@pytest.mark.parametrize("javascript", SCRIPT)
def test_block_without_a_reason_is_refused_with_a_message_beside_the_reason_field(
        stack, mail, browser_context, javascript):
    member_id, address = focal_point(stack)
    consultation = open_consultation(stack, title=f"Statement {address.split('@')[0]}")
    context = browser_context(javascript=javascript)
    add_session_cookie(context, stack, session_token(stack, address))
    page = context.new_page()
    page.goto(f"/consultations/{consultation['id']}")

    give_stance(page, "BLOCK", "   ")

    reason = page.get_by_role("textbox", name=NAMES["reason"], exact=True)
    message = page.locator("#reason-error")
    assert message.is_visible() and message.inner_text().strip()
    assert "reason-error" in (reason.get_attribute("aria-describedby") or "").split()
    assert reason.get_attribute("aria-invalid") == "true"
    assert page.get_by_role("radio", name=STANCES["BLOCK"], exact=True).is_checked()
    summary = page.get_by_role("alert")
    assert summary.count() >= 1 and summary.first.get_by_role("link").count() >= 1
    assert stance_of(stack, consultation["id"], member_id)["myStance"] is None

    reason.fill("It puts people who use drugs at risk.")
    page.get_by_role("button", name=NAMES["submit_stance"], exact=True).click()
    page.wait_for_load_state()
    assert "Your stance: Block," in page.get_by_role("region", name="Your stance").inner_text()
    assert stance_of(stack, consultation["id"], member_id)["myStance"] == {
        "value": "BLOCK", "reason": "It puts people who use drugs at risk."}
