"""A question's comments in a real browser: posting keeps the keyboard in the thread and
updates the count; resolving or reopening keeps a comment that is being written."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import login
from tests.browser.test_accessibility import serious
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


def _rename(server, world, names: dict[str, str]) -> None:
    from sqlalchemy import select

    from stappenplan.accounts.models import User
    from stappenplan.extensions import db

    with server.app.app_context():
        for key, name in names.items():
            db.session.scalar(select(User).where(User.email == world.emails[key])).name = name
        db.session.commit()


def test_at_and_a_name_offers_the_steps_people_by_keyboard(server, page: Page) -> None:
    """"@lo" lists the matching people who may see the step (never another partnership's),
    the arrow keys move, Enter or Tab chooses ("@Full Name" and the person's box ticked),
    Escape closes the list; the comment then notifies the people chosen."""
    from sqlalchemy import select

    from stappenplan.accounts.models import User
    from stappenplan.extensions import db
    from stappenplan.notifications.models import Notification

    world = build_world(server.app)
    _rename(server, world, {"lib_a": "Bram Bakker", "lib_a_member": "Lotte de Vries", "cc_a": "Fatima El Amrani",
                            "cc_a_member": "Lotte Achterberg", "cc_b": "Lotte Buiten"})
    with server.app.app_context():
        driver(world).own_steps(3, 3)
    login(page, server, world.emails["lib_a"], PASSWORD)
    base = f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap"
    page.goto(f"{base}/4/samen")
    question = page.locator("#vraag-target_parents")
    question.locator("summary", has_text="Opmerkingen").click()
    box = question.get_by_label("Schrijf een opmerking")
    box.focus()
    page.keyboard.type("Wat vinden jullie, @lo")
    listbox = question.get_by_role("listbox")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    expect(options).to_have_count(2)  # not Lotte Buiten: she works in another partnership
    expect(options.first).to_contain_text("Lotte Achterberg (Opvang A)")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.first.get_attribute("id"))
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    assert serious(page) == []  # the open list passes axe's checks
    page.keyboard.press("Enter")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("Wat vinden jullie, @Lotte de Vries ")
    expect(box).to_be_focused()
    expect(question.get_by_role("checkbox", name="Lotte de Vries")).to_be_checked()
    page.keyboard.type("en @fa")
    expect(options).to_have_count(1)
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("Wat vinden jullie, @Lotte de Vries en @fa")
    page.keyboard.type("t")
    expect(options).to_have_count(1)
    page.keyboard.press("Tab")
    expect(box).to_have_value("Wat vinden jullie, @Lotte de Vries en @Fatima El Amrani ")
    expect(box).to_be_focused()
    page.keyboard.type("?")
    question.get_by_role("button", name="Plaatsen").click()
    expect(question.locator(".comment__body")).to_have_text("Wat vinden jullie, @Lotte de Vries en @Fatima El Amrani ?",
                                                            timeout=5000)
    with server.app.app_context():
        named = set(db.session.scalars(select(User.name).join(Notification, Notification.user_id == User.id)
                                       .where(Notification.kind == "mention")))
    assert named == {"Lotte de Vries", "Fatima El Amrani"}

    # Step 1 is the library's own: only the library's people are offered.
    page.goto(f"{base}/1/bibliotheek")
    own = page.locator("#vraag-why")
    own.locator("summary", has_text="Opmerkingen").click()
    own.get_by_label("Schrijf een opmerking").focus()
    page.keyboard.type("@lot")
    expect(own.get_by_role("option")).to_have_count(1)
    expect(own.get_by_role("option")).to_contain_text("Lotte de Vries")
