"""A phone (375 × 812): the worksheet's sticky bar leaves the worksheet in view, and a
table wider than the screen says that it scrolls sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from stappenplan import demo
from tests.browser.conftest import login
from tests.browser.test_accessibility import _ids

PHONE = {"width": 375, "height": 812}
#: At most ~15 % of the phone's height.
MAX_BAR = 122

#: Worksheets whose bar holds the most: the progress, what is still to do, a note about an
#: approval and the step's button.
SHEETS = [
    ("kabouterhuis@demo.stappenplan.nl", "/samenwerkingen/{step4}/stap/4/samen"),
    ("bibliotheek@demo.stappenplan.nl", "/samenwerkingen/{step4}/stap/4/samen"),
    ("bibliotheek@demo.stappenplan.nl", "/samenwerkingen/{own}/stap/3/bibliotheek"),
]


@pytest.mark.parametrize(("email", "path"), SHEETS)
def test_the_worksheet_bar_is_small_on_a_phone(server, page: Page, email: str, path: str) -> None:
    ids = _ids(server)
    page.set_viewport_size(PHONE)
    login(page, server, email, demo.PASSWORD)
    page.goto(server.url + path.format(**ids))
    bar = page.locator("#sheet-bar")
    expect(bar).to_be_visible()
    height = bar.evaluate("el => el.getBoundingClientRect().height")
    assert height <= MAX_BAR, f"the bar takes {height}px of 812"
    # Nothing is lost: every button of the bar is on screen, and a folded note opens with the keyboard.
    for button in bar.locator("button").all():
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    for note in bar.locator("details.sheet-bar__note").all():
        assert note.evaluate("el => !el.open")
        note.locator("summary").focus()
        page.keyboard.press("Enter")
        assert note.evaluate("el => el.open")
        expect(note.locator("p")).to_be_visible()
    # At desktop width the notes show open, as before.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    for note in page.locator("#sheet-bar details.sheet-bar__note").all():
        assert note.evaluate("el => el.open")


def test_some_sheet_bar_holds_a_note_and_a_button(server, page: Page) -> None:
    """The measured bars include the fullest kind: a note about an approval and a button."""
    ids = _ids(server)
    seen = {"note": False, "button": False}
    for email, path in SHEETS[:2]:
        page.context.clear_cookies()
        login(page, server, email, demo.PASSWORD)
        page.goto(server.url + path.format(**ids))
        seen["note"] |= page.locator("#sheet-bar details.sheet-bar__note").count() > 0
        seen["button"] |= page.locator("#sheet-bar button").count() > 0
    assert seen == {"note": True, "button": True}


#: The cue: the hint above the box, and the frame's shade on the side with more columns.
CUE = """el => {
    const frame = el.parentElement, hint = frame && frame.previousElementSibling;
    const shade = frame && frame.classList.contains('scroll-frame')
        ? Number(getComputedStyle(frame, '::after').opacity) : 0;
    return {scrolls: el.scrollWidth > el.clientWidth + 1, shade,
            hint: !!hint && hint.classList.contains('scroll-hint') && !hint.hidden && hint.offsetHeight > 0
                  ? hint.textContent : null};
}"""


@pytest.mark.parametrize(("email", "path", "selector"), [
    ("bibliotheek@demo.stappenplan.nl", "/samenwerkingen/{step7}/plan", "#stap-6 .plan-table-wrap"),
    ("coordinator@demo.stappenplan.nl", "/regio", ".matrix-wrap"),
])
def test_a_wide_table_shows_a_scroll_cue_only_when_it_overflows(server, page: Page, email: str, path: str,
                                                                 selector: str) -> None:
    ids = _ids(server)
    page.set_viewport_size(PHONE)
    login(page, server, email, demo.PASSWORD)
    page.goto(server.url + path.format(**ids))
    box = page.locator(selector).first
    box.scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # the shade fades in
    cue = box.evaluate(CUE)
    assert cue["scrolls"] and cue["hint"] == "Veeg opzij voor meer kolommen" and cue["shade"] == 1, cue
    # Scrolled to the end: no more columns on the right, so no shade there (the left one shows).
    box.evaluate("el => { el.scrollLeft = el.scrollWidth; el.dispatchEvent(new Event('scroll')); }")
    page.wait_for_timeout(300)
    assert box.evaluate(CUE)["shade"] == 0
    # Wide enough for the table: neither hint nor shade.
    page.set_viewport_size({"width": 1600, "height": 900})
    page.wait_for_timeout(500)
    cue = box.evaluate(CUE)
    assert not cue["scrolls"] and cue["hint"] is None and cue["shade"] == 0, cue
