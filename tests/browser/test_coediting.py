"""Two people of the two organisations on one joint worksheet, in two browsers.

Every scenario waits past the change feed's interval where that matters: the feed
must never put someone else's text into a field whose edit is not saved yet.
"""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect
from sqlalchemy import select

from stappenplan.core.errors_web import error_page
from stappenplan.extensions import db
from stappenplan.worksheets.models import Answer, AnswerRevision
from tests.browser.conftest import login, shot
from tests.factories import PASSWORD, build_world
from tests.factories import driver as partner_driver

FEED = 2500  # ms: more than the change feed's interval (1 s while both are on the worksheet)
START = "We bellen elke maand. Het verslag staat in de map."


def _prepare(server, **answers) -> tuple[str, dict[str, str]]:
    world = build_world(server.app)
    with server.app.app_context():
        driver = partner_driver(world)
        driver.own_steps(3, 3)
        if answers:
            driver.fill("library", 4, "joint", answers)
    return f"{server.url}/samenwerkingen/{world.ids['partnership_a']}/stap/4/samen", world.emails


def _value(server, key: str):
    with server.app.app_context():
        return db.session.scalar(select(Answer.value).where(Answer.question == key))


def _revisions(server, key: str) -> list[tuple[str, str]]:
    with server.app.app_context():
        return [(r.kind, r.value) for r in db.session.scalars(
            select(AnswerRevision).join(Answer).where(Answer.question == key).order_by(AnswerRevision.id))]


def _stored(server, key: str, expected, page: Page, timeout: float = 6.0):
    """Wait until the database holds ``expected`` for ``key`` (a save is asynchronous).

    Waits through the page, so Playwright keeps handling routes and events meanwhile."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = _value(server, key)
        if value == expected:
            return value
        page.wait_for_timeout(100)
    raise AssertionError(f"{key}: stored {value!r}, expected {expected!r}")


def _two(server, browser, page: Page, url: str, emails: dict[str, str]) -> Page:
    login(page, server, emails["lib_a"], PASSWORD)
    other = browser.new_context(viewport={"width": 1280, "height": 900}, locale="nl-NL").new_page()
    errors: list[str] = []
    other.on("pageerror", lambda exc: errors.append(str(exc)))
    other.js_errors = errors
    login(other, server, emails["cc_a"], PASSWORD)
    page.goto(url)
    other.goto(url)
    return other


def _saved(page: Page, key: str) -> None:
    expect(page.locator(f"#status-{key}")).to_contain_text("Opgeslagen om", timeout=6000)


def _conflict_after_offline_edit(page: Page, other: Page, key: str, mine: str, theirs: str) -> None:
    """``other`` edits while offline (kept, not sent); ``page`` saves the same words; ``other``
    comes back: its kept edit reaches the server on top of an old version -> conflict."""
    other.context.set_offline(True)
    other.locator(f"#input-{key}").fill(mine)
    expect(other.locator(f"#status-{key}")).to_contain_text("bewaard op deze computer", timeout=6000)
    page.locator(f"#input-{key}").fill(theirs)
    _saved(page, key)
    page.locator("h1").click()
    other.context.set_offline(False)
    expect(other.locator(f"#conflict-{key} .conflict")).to_be_visible(timeout=8000)


def test_keep_mine_after_the_feed_ran_then_the_field_saves_again(server, browser, page) -> None:
    url, emails = _prepare(server, consultation=START)
    other = _two(server, browser, page, url, emails)
    mine = "We bellen elke week. Het verslag staat in de map."
    theirs = "We bellen elke dag. Het verslag staat in de map."
    _conflict_after_offline_edit(page, other, "consultation", mine, theirs)
    conflict = other.locator("#conflict-consultation .conflict")
    expect(conflict).to_contain_text("elke dag")
    expect(conflict).to_contain_text("elke week")
    expect(other.locator("#status-consultation")).to_have_text("Niet opgeslagen: zie hieronder.")
    expect(other.locator("#conflict-consultation h4")).to_be_focused()
    other.wait_for_timeout(FEED)  # the change feed runs meanwhile: it must not touch the frozen field
    expect(other.locator("#input-consultation")).to_have_value(mine)
    # One message: no "we add your change once you pause" beside the choice.
    expect(other.locator("#vraag-consultation")).not_to_contain_text("Zodra je even pauzeert")
    assert other.locator("#vraag-consultation").inner_text().count("Niet opgeslagen") == 2  # status + panel
    shot(other, "conflict-view")
    conflict.get_by_role("button", name="Mijn versie bewaren").click()
    _saved(other, "consultation")
    expect(other.locator("#conflict-consultation .conflict")).to_have_count(0)
    expect(other.locator("#input-consultation")).to_be_focused()
    assert _value(server, "consultation") == mine
    expect(page.locator("#input-consultation")).to_have_value(mine, timeout=FEED + 2000)
    # The field saves normally again.
    other.locator("#input-consultation").fill(mine + " Daarna samen koffie.")
    _stored(server, "consultation", mine + " Daarna samen koffie.", other)
    _saved(other, "consultation")
    assert other.js_errors == []


def test_take_theirs_then_merge_by_hand_then_saving_goes_on(server, browser, page) -> None:
    url, emails = _prepare(server, consultation=START, target_parents="Ouders van peuters")
    other = _two(server, browser, page, url, emails)
    _conflict_after_offline_edit(page, other, "consultation", START.replace("maand", "week"),
                                 START.replace("maand", "dag"))
    other.wait_for_timeout(FEED)
    other.locator("#conflict-consultation").get_by_role("button", name="Hun versie overnemen").click()
    expect(other.locator("#input-consultation")).to_have_value(START.replace("maand", "dag"))
    expect(other.locator("#conflict-consultation .conflict")).to_have_count(0)
    expect(other.locator("#input-consultation")).to_be_focused()
    other.locator("#input-consultation").fill(START.replace("maand", "dag") + " Ook via de app.")
    _stored(server, "consultation", START.replace("maand", "dag") + " Ook via de app.", other)
    # A second conflict on another field, resolved with the editable merge.
    _conflict_after_offline_edit(page, other, "target_parents", "Ouders van baby's", "Ouders van kleuters")
    other.wait_for_timeout(FEED)
    merge = other.locator("#merge-target_parents")
    merge.fill("Ouders van baby's en kleuters")
    other.get_by_role("button", name="Samengevoegde versie opslaan").click()
    expect(other.locator("#input-target_parents")).to_have_value("Ouders van baby's en kleuters")
    _stored(server, "target_parents", "Ouders van baby's en kleuters", other)
    other.locator("#input-target_parents").fill("Ouders van baby's, peuters en kleuters")
    _stored(server, "target_parents", "Ouders van baby's, peuters en kleuters", other)
    assert other.js_errors == []


def test_disjoint_edits_at_once_are_both_kept_without_a_conflict(server, browser, page) -> None:
    url, emails = _prepare(server, consultation=START)
    other = _two(server, browser, page, url, emails)
    page.locator("#input-consultation").fill(START.replace("elke maand", "elke week"))
    other.locator("#input-consultation").fill(START.replace("in de map", "in de gedeelde map"))
    both = "We bellen elke week. Het verslag staat in de gedeelde map."
    expect(page.locator("#input-consultation")).to_have_value(both, timeout=FEED + 3000)
    expect(other.locator("#input-consultation")).to_have_value(both, timeout=FEED + 3000)
    assert _value(server, "consultation") == both
    assert "merge" in [kind for kind, _v in _revisions(server, "consultation")]
    expect(page.locator(".conflict")).to_have_count(0)
    expect(other.locator(".conflict")).to_have_count(0)
    assert other.js_errors == []


def test_edit_kept_offline_is_merged_or_conflicts_after_reopening(server, browser, page) -> None:
    url, emails = _prepare(server, consultation=START, target_parents="Ouders van peuters")
    other = _two(server, browser, page, url, emails)
    context = other.context
    context.set_offline(True)
    other.locator("#input-consultation").fill(START.replace("in de map", "in de gedeelde map"))
    other.locator("#input-target_parents").fill("Ouders van baby's")
    expect(other.locator("#status-target_parents")).to_contain_text("bewaard op deze computer", timeout=6000)
    other.close(run_before_unload=False)
    # Meanwhile the library changes other words of the first answer and the same words of the second.
    page.locator("#input-consultation").fill(START.replace("elke maand", "elke week"))
    _saved(page, "consultation")
    page.locator("#input-target_parents").fill("Ouders van kleuters")
    _saved(page, "target_parents")
    context.set_offline(False)
    reopened = context.new_page()
    reopened.goto(url)
    both = "We bellen elke week. Het verslag staat in de gedeelde map."
    expect(reopened.locator("#input-consultation")).to_have_value(both, timeout=8000)
    expect(reopened.locator("#conflict-target_parents .conflict")).to_be_visible(timeout=8000)
    assert _value(server, "consultation") == both
    assert _value(server, "target_parents") == "Ouders van kleuters"  # never silently overwritten
    expect(reopened.locator("#conflict-target_parents .conflict")).to_contain_text("Ouders van baby's")


def test_a_save_whose_answer_was_lost_shows_the_partners_words_after_reopening(server, browser, page) -> None:
    """The connection drops after childcare's save reached the server: the browser keeps
    the edit as unsent. The library then changes other words. When childcare reopens the
    worksheet, the kept edit is sent again; it is already in the answer, so nothing is
    written, and the field must show the answer with the library's words. The next edit
    keeps them."""
    url, emails = _prepare(server, consultation=START)
    other = _two(server, browser, page, url, emails)
    mine = START.replace("in de map", "in de gedeelde map")
    both = "We bellen elke week. Het verslag staat in de gedeelde map."
    lost: list[int] = []

    def reach_server_then_drop(route) -> None:
        if route.request.method == "POST" and not lost:
            route.fetch()  # the server stores it ...
            lost.append(1)
            route.abort("internetdisconnected")  # ... and the browser never hears
        else:
            route.continue_()

    other.route("**/vraag/consultation", reach_server_then_drop)
    other.locator("#input-consultation").fill(mine)
    expect(other.locator("#status-consultation")).to_contain_text("bewaard op deze computer", timeout=6000)
    assert lost and _value(server, "consultation") == mine
    other.close(run_before_unload=False)
    page.wait_for_timeout(FEED)  # the library's field shows childcare's words
    expect(page.locator("#input-consultation")).to_have_value(mine)
    page.locator("#input-consultation").fill(both)
    _saved(page, "consultation")
    reopened = other.context.new_page()
    reopened.goto(url)
    expect(reopened.locator("#input-consultation")).to_have_value(both, timeout=8000)
    _saved(reopened, "consultation")
    reopened.wait_for_timeout(FEED)
    reopened.locator("#input-consultation").fill(both + " Elke keer.")
    _stored(server, "consultation", both + " Elke keer.", reopened)
    expect(reopened.locator("#input-consultation")).to_have_value(both + " Elke keer.")


def test_400_401_and_429_keep_the_edit_and_save_it_afterwards(server, browser, page) -> None:
    url, emails = _prepare(server)
    login(page, server, emails["lib_a"], PASSWORD)
    page.goto(url)
    # 400: the page's CSRF token ran out; the script fetches a fresh one and saves.
    page.evaluate("""() => document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRFToken': 'verlopen'}))""")
    page.locator("#input-target_parents").fill("Na een verlopen token")
    _saved(page, "target_parents")
    assert _value(server, "target_parents") == "Na een verlopen token"
    # 429: too many saves; the script waits as asked and saves then.
    calls: list[int] = []

    def too_many(route) -> None:
        calls.append(1)
        if len(calls) == 1:
            route.fulfill(status=429, headers={"Retry-After": "1"}, body="te veel")
        else:
            route.continue_()

    page.route(re.compile(r".*/vraag/consultation$"), too_many)
    page.locator("#input-consultation").fill("Na even wachten")
    expect(page.locator("#status-consultation")).to_contain_text("Even wachten", timeout=5000)
    _stored(server, "consultation", "Na even wachten", page)
    assert len(calls) == 2
    page.unroute(re.compile(r".*/vraag/consultation$"))
    # 401: the session ended in another tab; the edit is kept, saved after logging in again.
    tab = page.context.new_page()
    tab.goto(server.url + "/start")
    tab.get_by_role("button", name="Uitloggen").click()
    page.locator("#input-target_parents").fill("Na opnieuw inloggen")
    expect(page.locator("#status-target_parents")).to_contain_text("Je bent uitgelogd", timeout=6000)
    assert "Na opnieuw inloggen" in page.evaluate("() => JSON.stringify(localStorage)")
    assert _value(server, "target_parents") == "Na een verlopen token"
    login(tab, server, emails["lib_a"], PASSWORD)
    page.bring_to_front()
    page.locator("#status-target_parents").get_by_role("button", name="Daarna opnieuw opslaan").click()
    _stored(server, "target_parents", "Na opnieuw inloggen", page)
    _saved(page, "target_parents")
    assert "Na opnieuw inloggen" not in page.evaluate("() => JSON.stringify(localStorage)")


def test_leaving_a_field_does_not_send_a_saved_value_again(server, browser, page) -> None:
    url, emails = _prepare(server, consultation=START)
    other = _two(server, browser, page, url, emails)
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    field = page.locator("#input-consultation")
    field.fill(START + " Eén.")
    _saved(page, "consultation")
    count = len(posts)
    expect(other.locator("#input-consultation")).to_have_value(START + " Eén.", timeout=FEED)
    other.locator("#input-consultation").fill("Iets heel anders.")
    _saved(other, "consultation")
    page.wait_for_timeout(300)
    field.press("Tab")  # leaving the field: nothing new to send, so no spurious conflict
    page.wait_for_timeout(FEED)
    assert len(posts) == count
    expect(page.locator(".conflict")).to_have_count(0)
    expect(field).to_have_value("Iets heel anders.", timeout=FEED)
    # Presence: leaving a field shows within 5 seconds.
    other.locator("#input-target_parents").click()
    expect(page.locator("#presence")).to_contain_text("bij", timeout=5000)
    other.locator("h1").click()
    expect(page.locator("#presence")).not_to_contain_text("bij “", timeout=5000)
    assert other.js_errors == []


def test_table_cells_keep_mine_after_the_feed_then_the_table_saves_again(server, browser, page) -> None:
    url, emails = _prepare(server, shared_goals=[{"id": "goal-a", "cells": {"goal": "Voorlezen"}}])
    other = _two(server, browser, page, url, emails)
    goal = "#q-shared_goals--goal-a--goal"
    indicator = "#q-shared_goals--goal-a--indicator"
    other.context.set_offline(True)
    other.locator(goal).fill("Vaker voorlezen")
    expect(other.locator("#status-shared_goals")).to_contain_text("bewaard op deze computer", timeout=6000)
    page.locator(goal).fill("Samen voorlezen")
    _saved(page, "shared_goals")
    page.locator("h1").click()
    other.context.set_offline(False)
    conflict = other.locator("#conflict-shared_goals .conflict")
    expect(conflict).to_be_visible(timeout=8000)
    expect(other.locator("#conflict-shared_goals h4")).to_be_focused()
    other.wait_for_timeout(FEED)
    expect(other.locator(goal)).to_have_value("Vaker voorlezen")
    other.keyboard.press("Tab")  # the decision is one Tab away from the focused heading
    expect(conflict.get_by_role("button", name="Mijn waarde bewaren")).to_be_focused()
    other.keyboard.press("Enter")
    expect(conflict).to_have_count(0, timeout=6000)
    _stored(server, "shared_goals", [{"id": "goal-a", "cells": {"goal": "Vaker voorlezen"}}], other)
    # The cell and the other cells of the table save again.
    other.locator(indicator).fill("Meer uitleen")
    _stored(server, "shared_goals", [{"id": "goal-a", "cells": {"goal": "Vaker voorlezen",
                                                                  "indicator": "Meer uitleen"}}], other)
    other.locator(goal).fill("Vaker samen voorlezen")
    other.locator(goal).press("Tab")
    _stored(server, "shared_goals", [{"id": "goal-a", "cells": {"goal": "Vaker samen voorlezen",
                                                                  "indicator": "Meer uitleen"}}], other)
    expect(page.locator(indicator)).to_have_value("Meer uitleen", timeout=FEED + 2000)
    assert other.js_errors == []


def test_table_rows_added_in_two_browsers_are_both_kept(server, browser, page) -> None:
    url, emails = _prepare(server)
    other = _two(server, browser, page, url, emails)
    add_mine = page.locator("#field-shared_goals").get_by_role("button", name="Rij toevoegen")
    add_theirs = other.locator("#field-shared_goals").get_by_role("button", name="Rij toevoegen")
    add_mine.click()
    expect(page.locator("#field-shared_goals fieldset.row-card:not(.row-card--new)").first
           .get_by_label("Doel (verplicht)")).to_be_focused()
    add_theirs.click()  # based on an older version: merged, not refused
    expect(other.locator("#field-shared_goals fieldset.row-card:not(.row-card--new)")).to_have_count(2, timeout=5000)
    # The focus is in the library's new row: the partner's row waits until it leaves the
    # table (nothing is replaced under the cursor), then shows.
    page.wait_for_timeout(FEED)
    page.locator("h1").click()
    expect(page.locator("#field-shared_goals fieldset.row-card:not(.row-card--new)")).to_have_count(2, timeout=5000)
    first = page.locator("#field-shared_goals fieldset.row-card").first.get_by_label("Doel (verplicht)")
    first.fill("Meer voorlezen thuis")
    first.press("Tab")
    _saved(page, "shared_goals")
    rows = _value(server, "shared_goals")
    assert len(rows) == 2 and any(r["cells"].get("goal") == "Meer voorlezen thuis" for r in rows)


def test_unsent_edit_is_kept_retried_and_guarded(server, browser, page) -> None:
    url, emails = _prepare(server)
    login(page, server, emails["lib_a"], PASSWORD)
    page.goto(url)
    page.context.set_offline(True)
    field = page.locator("#input-target_parents")
    field.fill("Geschreven zonder verbinding")
    field.press("Tab")
    expect(page.locator("#status-target_parents")).to_contain_text("Geen verbinding", timeout=5000)
    stored = page.evaluate("() => JSON.stringify(localStorage)")
    assert "Geschreven zonder verbinding" in stored
    retry = page.locator("#status-target_parents").get_by_role("button", name="Nu opnieuw proberen")
    expect(retry).to_be_visible()
    page.context.set_offline(False)  # the browser's "online" event retries the kept edit
    _saved(page, "target_parents")
    assert _value(server, "target_parents") == "Geschreven zonder verbinding"
    assert "Geschreven zonder verbinding" not in page.evaluate("() => JSON.stringify(localStorage)")
    # With an unsent edit, closing the page raises the browser's "leave page?" question.
    page.context.set_offline(True)
    field.fill("Nog een wijziging")
    field.press("Tab")
    expect(page.locator("#status-target_parents")).to_contain_text("Geen verbinding", timeout=5000)
    with page.expect_event("dialog") as info:
        page.close(run_before_unload=True)
    assert info.value.type == "beforeunload"


def test_a_failed_row_button_keeps_the_table_and_says_so(server, page: Page) -> None:
    """A row button whose request fails (the server's 503 card; no connection; the server
    refusing the operation) leaves the table as it was - rows and buttons - and its status
    line says why. The answer used to take the table's place until a reload."""
    url, emails = _prepare(server)
    login(page, server, emails["lib_a"], PASSWORD)
    page.goto(url)
    field = page.locator("#field-shared_goals")
    rows = field.locator("fieldset.row-card:not(.row-card--new)")
    status = page.locator("#status-shared_goals")
    add = field.get_by_role("button", name="Rij toevoegen")
    add.click()
    expect(rows).to_have_count(1, timeout=5000)
    with server.app.test_request_context(headers={"HX-Request": "true"}):
        card, code = error_page(503)
    table_op = re.compile(r".*/vraag/shared_goals/tabel$")
    page.route(table_op, lambda route: route.fulfill(status=code, content_type="text/html", body=card))
    add.click()
    expect(status).to_contain_text("er is niets gewijzigd", timeout=5000)
    expect(status).to_contain_text("Even niet bereikbaar")
    expect(rows).to_have_count(1)
    expect(field.locator(".error-page")).to_have_count(0)
    page.unroute(table_op)
    # No answer at all (the connection dropped): the same, for a delete the user confirmed.
    page.route(table_op, lambda route: route.abort())
    page.evaluate("() => { document.getElementById('status-shared_goals').textContent = ''; }")
    page.once("dialog", lambda dialog: dialog.accept())
    rows.first.get_by_role("button", name=re.compile("^Verwijderen")).click()
    expect(status).to_contain_text("er is niets gewijzigd", timeout=5000)
    expect(rows).to_have_count(1)
    page.unroute(table_op)
    # The server refuses (422, its own reason): the reason goes into the status line.
    page.route(table_op, lambda route: route.continue_(
        post_data=(route.request.post_data or "").replace("op=add", "op=verzonnen")))
    field.get_by_role("button", name="Rij toevoegen").click()
    expect(status).to_contain_text("Deze actie bestaat niet", timeout=5000)
    expect(rows).to_have_count(1)
    page.unroute(table_op)
    field.get_by_role("button", name="Rij toevoegen").click()
    expect(rows).to_have_count(2, timeout=5000)
    expect(status).to_be_empty()
    assert len(_value(server, "shared_goals")) == 2


def test_a_failed_restore_keeps_the_field(server, page: Page) -> None:
    """"Deze versie terugzetten" answers with the field; when it fails (a 503 card) the
    field and its text stay, and the status line says nothing changed."""
    url, emails = _prepare(server, target_parents="Eerste versie")
    login(page, server, emails["cc_a"], PASSWORD)  # the first version is the library's
    page.goto(url)
    text = page.locator("#input-target_parents")
    text.fill("Tweede versie")
    _saved(page, "target_parents")
    page.locator("#vraag-target_parents").get_by_role("link", name=re.compile("^Geschiedenis")).click()
    restore = page.locator("#extra-target_parents").get_by_role("button", name="Deze versie terugzetten")
    expect(restore.first).to_be_visible(timeout=5000)
    with server.app.test_request_context(headers={"HX-Request": "true"}):
        card, code = error_page(503)
    page.route(re.compile(r".*/vraag/target_parents/herstellen$"),
               lambda route: route.fulfill(status=code, content_type="text/html", body=card))
    page.once("dialog", lambda dialog: dialog.accept())
    restore.first.click()
    expect(page.locator("#status-target_parents")).to_contain_text("er is niets gewijzigd", timeout=5000)
    expect(text).to_have_value("Tweede versie")
    assert _value(server, "target_parents") == "Tweede versie"


def test_a_comment_that_fails_to_post_stays_typed(server, page: Page) -> None:
    """"Plaatsen" without a connection, then answered with the 503 card: the thread and the
    typed comment stay, and the button's place says what happened; posting again works and
    takes that away."""
    url, emails = _prepare(server)
    login(page, server, emails["lib_a"], PASSWORD)
    page.goto(url)
    question = page.locator("#vraag-target_parents")
    question.locator("summary", has_text="Opmerkingen").click()
    box = question.get_by_label("Schrijf een opmerking")
    expect(box).to_be_visible(timeout=5000)
    box.fill("Kunnen we hier ook de peuterspeelzaal noemen?")
    # No connection: nothing is sent, the text stays, the button's place says so.
    post = re.compile(r".*/vraag/target_parents/opmerkingen$")
    page.route(post, lambda route: route.abort() if route.request.method == "POST" else route.continue_())
    question.get_by_role("button", name="Plaatsen").click()
    expect(question.locator(".action-error")).to_contain_text("Geen verbinding", timeout=5000)
    expect(box).to_have_value("Kunnen we hier ook de peuterspeelzaal noemen?")
    page.unroute(post)
    with server.app.test_request_context(headers={"HX-Request": "true"}):
        card, code = error_page(503)
    page.route(post, lambda route: route.fulfill(status=code, content_type="text/html", body=card)
               if route.request.method == "POST" else route.continue_())
    question.get_by_role("button", name="Plaatsen").click()
    note = question.locator(".action-error")
    expect(note).to_contain_text("Even niet bereikbaar", timeout=5000)
    expect(box).to_have_value("Kunnen we hier ook de peuterspeelzaal noemen?")
    page.unroute(post)
    question.get_by_role("button", name="Plaatsen").click()
    expect(question.locator(".comment__body")).to_have_text("Kunnen we hier ook de peuterspeelzaal noemen?",
                                                             timeout=5000)
    expect(note).to_have_count(0)
