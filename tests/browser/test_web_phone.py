"""A focal point on a phone (issue 17: "on a slow phone connection"): the
main pages fit a phone's width (390 CSS px) without scrolling sideways, as
WCAG 2.2's Reflow (1.4.10) asks; a wide data table may scroll inside its
own box, the page itself may not."""
import pytest

from tests.browser.support import PHONE

PAGES = [("anonymous", "/"), ("anonymous", "/members"), ("anonymous", "/grants/{grant}"),
         ("member", "/"), ("member", "/consultations/{open}"),
         ("member", "/consultations/{rounds}"), ("anonymous", "/apply"),
         ("secretariat", "/secretariat")]
OVERFLOW = """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,
  [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right >
     document.documentElement.clientWidth + 1 && !e.closest('.table-scroll'))
   .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined
     ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')]"""


@pytest.mark.parametrize("role,path", PAGES, ids=[f"{r}:{p}" for r, p in PAGES])
def test_the_page_fits_a_phone_s_width(role_contexts, world, role, path):
    page = role_contexts[role].new_page()
    try:
        page.set_viewport_size(PHONE)
        page.goto(path.format(**world))
        scroll, client, wide = page.evaluate(OVERFLOW)
        assert scroll <= client, f"{path} for {role} is {scroll} px wide on a {client} px " \
                                 f"screen; too wide: {wide}"
    finally:
        page.close()
