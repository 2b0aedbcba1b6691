"""The web app's frame (services/web/app.py), through the real stack over
HTTP: headers, compression, static files, the language of a page and its
switch, and the page of a path that is none."""
import re

import requests

from tests.helpers.sign_in import focal_point, mails_to, ok, post, sign_in, wait_code
from tests.helpers.web import get, web_session

PREFERENCES = "{ viewer { person { preferences { language } } } }"


def test_pages_carry_a_strict_policy_and_are_never_cached(stack):
    r = requests.get(stack.url + "/signin", headers={"Accept-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    policy = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Content-Encoding"] == "gzip"  # requests unzips it
    assert '<html lang="en">' in r.text and "<script>" not in r.text and "style=" not in r.text


def test_assets_are_ours_versioned_compressed_and_cached_long(stack):
    page = requests.get(stack.url + "/signin", timeout=30).text
    for name in ("app.css", "app.js"):
        assert f'/static/{name}?v=' in page
        r = requests.get(stack.url + f"/static/{name}", headers={"Accept-Encoding": "gzip"},
                         timeout=30)
        assert r.status_code == 200 and "immutable" in r.headers["Cache-Control"]
        assert r.headers["Content-Encoding"] == "gzip"
    assert "http" not in page.replace(stack.url, "").split("<body", 1)[0]  # nothing from another host
    assert requests.get(stack.url + "/static/../app.py", timeout=30).status_code == 404


def test_the_language_follows_the_browser_then_the_visitors_choice(stack):
    r = requests.get(stack.url + "/signin", headers={"Accept-Language": "ru-RU,ru;q=0.9"},
                     timeout=30)
    assert '<html lang="ru">' in r.text and "Отправить код для входа" in r.text
    browser = web_session(stack)
    switch = get(browser, "/language/ru?next=/signin", allow_redirects=False)
    assert switch.status_code == 303 and switch.headers["Location"] == "/signin"
    assert '<html lang="ru">' in get(browser, "/signin").text
    get(browser, "/language/en?next=/signin")
    assert '<html lang="en">' in get(browser, "/signin").text
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = get(browser, "/language/en", params={"next": elsewhere}, allow_redirects=False)
        assert r.headers["Location"] == "/", elsewhere
    assert get(browser, "/language/xx", allow_redirects=False).status_code == 404


def test_a_signed_in_switch_is_a_preference_only_from_this_site(stack, mail):
    _, address = focal_point(stack)
    session, _ = sign_in(stack, address)
    browser = web_session(stack, session["token"])
    get(browser, "/language/ru?next=/", headers={"Sec-Fetch-Site": "cross-site"})
    language = ok(post(stack.url, PREFERENCES, token=session["token"]))
    assert language["viewer"]["person"]["preferences"]["language"] == "EN"
    assert '<html lang="ru">' in get(browser, "/signin").text  # the browser's choice still holds
    get(browser, "/language/ru?next=/", headers={"Sec-Fetch-Site": "same-origin"})
    language = ok(post(stack.url, PREFERENCES, token=session["token"]))
    assert language["viewer"]["person"]["preferences"]["language"] == "RU"


def test_a_path_that_is_no_page_is_a_page_that_says_so(stack):
    r = requests.get(stack.url + "/no/such/page", headers={"Accept": "text/html",
                                                           "Accept-Language": "ru"}, timeout=30)
    assert r.status_code == 404 and "Страница не найдена" in r.text and 'lang="ru"' in r.text
    assert requests.get(stack.url + "/no/such/page", timeout=30).status_code == 404


def test_a_form_sent_twice_does_its_work_once(stack, mail):
    """Every form carries a new form_key, under which its mutation runs once."""
    _, address = focal_point(stack)
    browser = web_session(stack)
    page = get(browser, "/signin").text
    fields = dict(re.findall(r'name="(csrf_token|form_key)" value="([^"]+)"', page))
    assert set(fields) == {"csrf_token", "form_key"}
    for _ in range(2):  # a double click
        r = browser.post(stack.url + "/signin/request", data={"email": address, **fields},
                         timeout=30)
        assert r.status_code == 200 and "code is on its way" in r.text
    wait_code(stack, address)
    assert len(mails_to(stack, address)) == 1
    # the next rendering of the form is a new one: it sends again
    again = dict(re.findall(r'name="(csrf_token|form_key)" value="([^"]+)"',
                            get(browser, "/signin").text))
    assert again["form_key"] != fields["form_key"]
    browser.post(stack.url + "/signin/request", data={"email": address, **again}, timeout=30)
    wait_code(stack, address, 2)
