"""A signed-in member's pages (services/web/views/member.py) and the stance
form (views/consultations.py) through the real stack over HTTP: a focal
point signs in through the real mail, votes through the form and sees its
stance and the tally at once, is refused a Block without a reason beside the
Reason box, changes its stance; its organisation (sign the MoU, withdraw
with a confirmation), its preferences and notifications."""
import re
import uuid

import pytest

from tests.helpers.consultations import admission_of, cast, close, open_consultation
from tests.helpers.notifications import inbox
from tests.helpers.sign_in import focal_point, sign_in
from tests.helpers.web import (get, module_stack, post_form, text_of,  # noqa: F401 (stack)
                               web_session)
from tests.support import founders, isolate_voters, member_input, wait_for

APPLY = "mutation($i: MemberInput!) { applyForMembership(input: $i) { id } }"
STATUS = "query($id: ID!) { member(id: $id) { status mouSignedAt } }"
PREFERENCES = "{ viewer { person { preferences { language consultationOpened reminders outcomes } } } }"


@pytest.fixture(scope="module")
def focal(stack):
    """A founding member and a browser signed in as its focal point, through
    the e-mailed code (a real session, not a CLI token)."""
    stack.mail.start()
    stack.mail.accept()
    member_id, address = focal_point(stack)
    session, _ = sign_in(stack, address)
    return {"id": member_id, "address": address, "token": session["token"],
            "browser": web_session(stack, session["token"])}


def test_a_visitor_is_sent_to_sign_in(stack):
    for path in ("/organisation", "/preferences"):
        answer = get(web_session(stack), path, allow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["Location"].startswith("/signin?next=")


def test_the_secretariat_has_no_organisation_page(stack):
    answer = get(web_session(stack, stack.admin()), "/organisation", allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/secretariat"


def test_casting_changing_and_a_block_without_reason(stack, focal):
    browser = focal["browser"]
    c = open_consultation(stack, title=f"Vote {uuid.uuid4().hex[:6]}", proposal="Adopt it")
    path = f"/consultations/{c['id']}"
    home = get(browser, "/")
    waiting = home.text.split("Waiting for your stance", 1)[1].split("</section>", 1)[0]
    assert f'href="{path}"' in waiting, "the open round the member has not answered comes first"
    form = get(browser, path)
    for name in ("Agree", "Agree with reservations", "Stand aside", "Block", "Reason",
                 "Submit stance"):
        assert f">{name}<" in form.text, name
    assert "Not yet responded" in form.text  # a member in the snapshot sees who

    cast_answer = post_form(browser, path, {"value": "AGREE", "reason": ""})
    assert cast_answer.status_code == 303
    assert cast_answer.headers["Location"] == f"{path}?done=stance"
    after = get(browser, cast_answer.headers["Location"])
    text = text_of(after)
    assert "Your stance is recorded." in text and "Your stance: Agree ," in text
    assert "Agreed: 1" in text and "Change your stance" in text
    assert 'id="stance-form"' not in after.text
    home = get(browser, "/")
    assert f'href="{path}"' not in home.text.split("Waiting for your stance", 1)[1].split(
        "</section>", 1)[0]

    change = get(browser, f"{path}?change=1")
    assert re.search(r'value="AGREE" checked', change.text), "the form comes prefilled"
    refused = post_form(browser, path, {"value": "BLOCK", "reason": "   "}, page=f"{path}?change=1")
    assert refused.status_code == 400
    beside = re.search(r'<p class="error-message" id="reason-error">(.*?)</p>', refused.text, re.S)
    assert beside and "reason" in beside.group(1).lower()
    assert re.search(r'id="reason"[^>]*aria-describedby="[^"]*reason-error', refused.text)
    assert re.search(r'value="BLOCK" checked', refused.text), "what was typed is kept"
    assert "Agreed: 1" in text_of(refused), "nothing changed"

    blocked = post_form(browser, path, {"value": "BLOCK", "reason": "It <harms> our members"})
    assert blocked.status_code == 303
    shown = get(browser, path)
    assert "Your stance: Block" in text_of(shown) and "It &lt;harms&gt; our members" in shown.text
    assert "Blocked: 1" in text_of(shown) and "Agreed: 0" in text_of(shown)
    # a member outside the snapshot gets no form
    [late] = founders(stack, 1)
    assert "Submit stance" not in get(web_session(stack, stack.member_token(late["id"])),
                                      path).text


def test_the_form_is_gone_once_the_round_closes(stack, focal):
    c = open_consultation(stack, title="Soon closed", proposal="Close it")
    assert not cast(stack, c["id"], focal["id"], "RESERVATIONS", "Unclear costs").get("errors")
    close(stack, c["id"])
    page = get(focal["browser"], f"/consultations/{c['id']}")
    text = text_of(page)
    assert "Your stance: Agree with reservations" in text and "Unclear costs" in text
    assert "Change your stance" not in text and "Submit stance" not in text


def test_my_organisation_page(stack, focal):
    page = get(focal["browser"], "/organisation")
    assert page.status_code == 200
    text = text_of(page)
    assert focal["address"] in text, "its own focal point"
    assert "signed the MoU on" in text and "Sign the MoU" not in text
    assert "Withdraw membership" in text
    assert "No report is asked of your organisation." in text  # no allocation, no report


def test_preferences_and_the_language_after_saving(stack, focal):
    browser = focal["browser"]
    page = get(browser, "/preferences")
    assert page.status_code == 200 and focal["address"] in page.text
    saved = post_form(browser, "/preferences", {"language": "RU", "notify": ["outcomes"]})
    assert saved.status_code == 303 and saved.headers["Location"] == "/preferences?done=preferences"
    after = get(browser, saved.headers["Location"])
    assert '<html lang="ru">' in after.text
    assert not re.search(r'value="reminders" checked', after.text)
    assert re.search(r'value="outcomes" checked', after.text)
    prefs = stack.gql(PREFERENCES, token=focal["token"])["viewer"]["person"]["preferences"]
    assert prefs == {"language": "RU", "consultationOpened": False, "reminders": False,
                     "outcomes": True}
    back = post_form(browser, "/preferences", {"language": "EN", "notify": [
        "consultationOpened", "reminders", "outcomes"]})
    assert back.status_code == 303 and '<html lang="en">' in get(browser, "/preferences").text


def test_notifications_and_mark_all_as_read(stack, focal):
    browser = focal["browser"]
    c = open_consultation(stack, title=f"Notified {uuid.uuid4().hex[:6]}", proposal="Hear it")
    wait_for(lambda: any(c["title"] in e["node"]["subject"] + e["node"]["body"]
                         for e in inbox(stack, focal["token"], first=5)["edges"]), 30, 0.2,
             "its notification")
    page = get(browser, "/preferences")
    assert c["title"] in text_of(page) and "Mark all as read" in page.text
    marked = post_form(browser, "/preferences/read", {}, page="/preferences")
    assert marked.status_code == 303
    assert inbox(stack, focal["token"], unread=True)["unreadCount"] == 0
    assert "Mark all as read" not in get(browser, "/preferences").text


def admitted_member(stack):
    """A new member admitted by one voter's consensus: ACTIVE, MoU not signed."""
    isolate_voters(stack)
    [voter] = founders(stack, 1)
    candidate = stack.gql(APPLY, {"i": member_input()}, stack.admin())["applyForMembership"]
    admission = admission_of(stack, candidate["id"])
    assert not cast(stack, admission["_id"], voter["id"]).get("errors")
    assert close(stack, admission["_id"])["outcome"] == "ADOPTED"
    return candidate["id"]


def test_signing_the_mou_then_withdrawing_with_a_confirmation(stack):
    member_id = admitted_member(stack)
    browser = web_session(stack, stack.member_token(member_id))  # a CLI token works too
    page = get(browser, "/organisation")
    assert "Sign the MoU" in page.text
    signed = post_form(browser, "/organisation/mou", {}, page="/organisation")
    assert signed.status_code == 303 and signed.headers["Location"] == "/organisation?done=mou"
    assert stack.gql(STATUS, {"id": member_id})["member"]["mouSignedAt"]
    assert "signed the MoU on" in text_of(get(browser, "/organisation"))

    sure = post_form(browser, "/organisation/withdraw", {"reason": "We <merge>"},
                     page="/organisation")
    assert sure.status_code == 200 and "Are you sure?" in sure.text
    assert "We &lt;merge&gt;" in sure.text and 'name="confirm" value="yes"' in sure.text
    assert stack.gql(STATUS, {"id": member_id})["member"]["status"] == "ACTIVE", "not yet"
    done = post_form(browser, "/organisation/withdraw", {"reason": "We <merge>",
                                                         "confirm": "yes"}, page="/organisation")
    assert done.status_code == 303 and done.headers["Location"] == "/?done=withdrawn"
    assert stack.gql(STATUS, {"id": member_id})["member"]["status"] == "WITHDRAWN"
