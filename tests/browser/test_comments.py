"""A question's comments in a real browser: posting keeps the keyboard in the thread and
updates the count; resolving or reopening keeps a comment that is being written."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.factories import PASSWORD, build_world, driver


def _open_step4(server, page: Page) -> None:
    world = build_world(server.app)
    with server.app.app_context():
        driver(world).own_steps(3, 3)
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen")


def _open_thread(server, page: Page):
    """Step 4 open as the library, the comments of "target_parents" unfolded: the question,
    its comment summary and the comment box."""
    _open_step4(server, page)
    question = page.locator("#vraag-target_parents")
    summary = question.locator("summary", has_text="Opmerkingen")
    summary.click()
    return question, summary, question.get_by_label("Schrijf een opmerking")


def test_posting_a_comment_keeps_the_focus_in_the_thread_and_counts_it(server, page: Page) -> None:
    question, summary, box = _open_thread(server, page)
    box.fill("Kunnen we de peuterspeelzaal noemen?")
    question.get_by_role("button", name="Plaatsen").click()
    expect(question.locator(".comment__body")).to_have_text("Kunnen we de peuterspeelzaal noemen?", timeout=5000)
    # The button is gone with the redrawn thread: the focus is back in the (empty) box,
    # and the status line says the comment is posted.
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    expect(question.locator(".thread__said")).to_have_text("Je opmerking is geplaatst.")
    expect(page.locator("#live-polite")).to_have_text("Je opmerking is geplaatst.")
    expect(summary).to_have_text("Opmerkingen 1")
    box.fill("En de bibliotheek in het dorp?")
    box.press("Tab")
    question.get_by_role("button", name="Plaatsen").click()
    expect(summary).to_have_text("Opmerkingen 2", timeout=5000)
    expect(box).to_be_focused()


def test_a_comment_being_written_survives_resolving_and_reopening(server, page: Page) -> None:
    question, summary, box = _open_thread(server, page)
    box.fill("Eerste opmerking")
    question.get_by_role("button", name="Plaatsen").click()
    expect(question.locator(".comment__body")).to_have_count(1, timeout=5000)

    draft = "Nog niet geplaatst: wie belt de peuterspeelzaal?"
    box.fill(draft)
    question.get_by_role("button", name="Markeren als afgehandeld").click()
    expect(question.get_by_text("Afgehandeld op")).to_be_visible(timeout=5000)
    expect(box).to_have_value(draft)
    reopen = question.get_by_role("button", name="Opnieuw openen")
    expect(reopen).to_be_focused()  # the same button, now saying what it does next
    expect(summary).to_have_text("Opmerkingen 1 · afgehandeld")

    reopen.click()
    expect(question.get_by_text("Afgehandeld op")).to_have_count(0, timeout=5000)
    expect(box).to_have_value(draft)
    expect(summary).to_have_text("Opmerkingen 1")
    question.get_by_role("button", name="Plaatsen").click()
    expect(question.locator(".comment__body")).to_have_count(2, timeout=5000)
    expect(question.locator(".comment__body").last).to_have_text(draft)


def test_a_partners_comment_updates_the_count_on_an_open_worksheet(server, browser, page: Page) -> None:
    """Library and childcare on the same joint worksheet: the childcare posts a comment, and
    the library's open page shows the question's new count without a reload."""
    from tests.browser.conftest import new_page

    world = build_world(server.app)
    with server.app.app_context():
        driver(world).own_steps(3, 3)
    url = f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen"
    login(page, server, world.emails["lib_a"], PASSWORD)
    page.goto(url)
    watched = page.locator("#vraag-target_parents summary", has_text="Opmerkingen")
    expect(watched).to_have_text("Opmerkingen")

    other = new_page(browser)
    try:
        login(other, server, world.emails["cc_a"], PASSWORD)
        other.goto(url)
        question = other.locator("#vraag-target_parents")
        question.locator("summary", has_text="Opmerkingen").click()
        question.get_by_label("Schrijf een opmerking").fill("Zullen we de peuterspeelzaal ook vragen?")
        question.get_by_role("button", name="Plaatsen").click()
        expect(question.locator(".comment__body")).to_have_count(1, timeout=5000)
        expect(watched).to_have_text("Opmerkingen 1", timeout=6000)
        assert other.js_errors == []
    finally:
        other.context.close()
