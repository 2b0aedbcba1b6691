"""`python -m tests.browser.screenshots` (`make screenshots`): a PNG of each
main page of the web app under docs/screenshots/, taken in Debian's Chromium
on a stack of its own with the demo coalition loaded.

It starts the whole system on free ports (tests/support.py StackHandle, with
its own SMTP server), runs `coalition demo load` against it (the CLI, with
the stack's settings), signs in as the demo secretariat and as the focal
point of a demo member through the e-mailed link, as a person does
(tests/browser/support.py), and saves:

    home.png                 / for an anonymous visitor
    home-ru.png              / after choosing Русский
    signin.png               /signin
    members.png              /members
    consultation.png         /consultations/<the demo consultation> as a member, stance form
    consultation-phone.png   the same at a phone's width (390 x 844)
    grant.png                /grants/<the RCNF grant>
    secretariat.png          /secretariat, the dashboard

at 1280 x 900 (the whole page's length). The stack is stopped and its data
dropped whatever happens; a failure exits 1 with one line on stderr.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.browser.support import (DESKTOP, NAMES, PHONE, BrowserMissing, launch, new_context,
                                   screenshot, sign_in_by_mail)
from tests.support import ROOT, StackHandle

OUT = ROOT / "docs" / "screenshots"
SECRETARIAT = "secretariat@demo.example.org"   # services/demo.py SECRETARIAT_PERSON
FOCAL_POINT = "focal@asteria.example.org"      # Asteria (Kyrgyzstan): has not answered round 2
CONSULTATION = "Joint statement to the Commission on Narcotic Drugs"
GRANT = "Harm Reduction Consortium"            # the start of the RCNF grant's title

FIND = """{ consultations(status: OPEN, kind: GENERAL) { edges { node { id title } } }
            grants { edges { node { id title } } } }"""


def say(message):
    sys.stderr.write(f"[screenshots] {message}\n")
    sys.stderr.flush()


def load_demo(stack):
    """`coalition demo load` against the stack, as an operator runs it."""
    coalition = Path(sys.executable).parent / "coalition"
    command = [str(coalition)] if coalition.exists() else [sys.executable, "-m", "services.cli"]
    result = subprocess.run([*command, "demo", "load", "--url", stack.url], cwd=ROOT,
                            env={**os.environ, **stack.cli_env}, capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"coalition demo load failed: {result.stderr.strip()[-800:]}")


def demo_ids(stack):
    """(the demo consultation's id, the RCNF grant's id), once both are there."""
    deadline = time.monotonic() + 60
    while True:
        data = stack.gql(FIND, token=stack.admin())
        consultation = next((e["node"]["id"] for e in data["consultations"]["edges"]
                             if e["node"]["title"] == CONSULTATION), None)
        grant = next((e["node"]["id"] for e in data["grants"]["edges"]
                      if e["node"]["title"].startswith(GRANT)), None)
        if consultation and grant:
            return consultation, grant
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo's consultation or grant is missing: {data}")
        time.sleep(0.5)


def shoot(page, path, name, out):
    """Open `path` and save the whole page as `out`/`name`."""
    response = page.goto(path)
    if response is None or response.status >= 400:
        raise RuntimeError(f"{path} answered {response.status if response else 'nothing'}")
    screenshot(page, out / name)
    say(f"{name}: {path}")


def take(browser, stack, out):
    """Every screenshot of the module docstring, into `out`."""
    consultation, grant = demo_ids(stack)
    anonymous = new_context(browser, stack.url).new_page()
    shoot(anonymous, "/", "home.png", out)
    shoot(anonymous, "/signin", "signin.png", out)
    shoot(anonymous, "/members", "members.png", out)
    shoot(anonymous, f"/grants/{grant}", "grant.png", out)
    anonymous.goto("/")
    anonymous.get_by_role("link", name=NAMES["russian"], exact=True).click()
    anonymous.wait_for_load_state()
    screenshot(anonymous, out / "home-ru.png")
    say("home-ru.png: / in Russian")
    anonymous.context.close()

    member = new_context(browser, stack.url).new_page()
    sign_in_by_mail(member, stack, FOCAL_POINT)
    shoot(member, f"/consultations/{consultation}", "consultation.png", out)
    member.set_viewport_size(PHONE)
    shoot(member, f"/consultations/{consultation}", "consultation-phone.png", out)
    member.set_viewport_size(DESKTOP)
    member.context.close()

    secretariat = new_context(browser, stack.url).new_page()
    sign_in_by_mail(secretariat, stack, SECRETARIAT)
    shoot(secretariat, "/secretariat", "secretariat.png", out)
    secretariat.context.close()


def run(out):
    from playwright.sync_api import sync_playwright
    tmp = Path(tempfile.mkdtemp(prefix="coalition-screenshots-"))
    stack = StackHandle(tmp)
    try:
        say(f"starting a stack of its own in {tmp}")
        stack.start()
        say("loading the demo coalition")
        load_demo(stack)
        out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                take(browser, stack, out)
            finally:
                browser.close()
    finally:
        say("stopping the stack")
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.browser.screenshots",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"folder (default {OUT})")
    args = parser.parse_args(argv)

    def terminate(signum, frame):  # the stack is stopped in `run`'s finally
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, terminate)
    try:
        run(args.out)
    except BrowserMissing as exc:
        say(str(exc))
        return 1
    except (Exception, KeyboardInterrupt) as exc:
        say(f"FAILED: {type(exc).__name__}: {exc}")
        return 1
    say(f"done: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
