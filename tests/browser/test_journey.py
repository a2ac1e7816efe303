"""The whole plan as the two organisations live it, in two browsers.

Each organisation finishes its own steps 1-3, both approve the joint steps 4, 6, 7 and 8,
the childcare organisation completes step 5, the round closes and a new one starts. Every
step's button is pressed in the browser, by the party whose turn it is, and the other
party's browser shows what waits on it. The answers themselves are written through the
worksheets' services (every question type has its own browser test in
test_question_types.py), so this test is about the plan's course, not about typing.
"""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from stappenplan import demo_content as content
from stappenplan.accounts.models import User
from stappenplan.demo import Driver
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from tests.browser.conftest import login, new_page, shot
from tests.factories import PASSWORD, build_world

SLUG = {"library": "bibliotheek", "childcare": "kinderopvang", "joint": "samen"}


class Journey:
    """The two browsers and a way to write answers the way the worksheets do."""

    def __init__(self, server, browser, page: Page) -> None:
        self.server = server
        world = build_world(server.app)
        self.pid = world.ids["partnership_a"]
        self.emails = {"library": world.emails["lib_a"], "childcare": world.emails["cc_a"]}
        login(page, server, self.emails["library"], PASSWORD)
        other = new_page(browser)
        login(other, server, self.emails["childcare"], PASSWORD)
        self.pages = {"library": page, "childcare": other}
        self.asked: list[str] = []
        for each in self.pages.values():
            each.on("dialog", self._accept)

    def _accept(self, dialog) -> None:
        self.asked.append(dialog.message)
        dialog.accept()

    def fill(self, step: int, slot: str, answers: dict[str, object], party: str | None = None) -> None:
        """Answers saved as an autosave saves them (version checks, revisions, the feed)."""
        with self.server.app.app_context():
            p = db.session.scalar(select(Partnership).where(Partnership.public_id == self.pid))
            users = {k: db.session.scalar(select(User).where(User.email == v)) for k, v in self.emails.items()}
            Driver(p, users["library"], users["childcare"]).fill(party or slot, step, slot, answers)
            db.session.commit()

    def sheet(self, party: str, step: int, slot: str) -> Page:
        page = self.pages[party]
        page.goto(f"{self.server.url}/samenwerkingen/{self.pid}/stap/{step}/{SLUG[slot]}")
        return page

    def overview(self, party: str) -> Page:
        page = self.pages[party]
        page.goto(f"{self.server.url}/samenwerkingen/{self.pid}")
        return page

    def press_on_sheet(self, party: str, step: int, slot: str, label: str) -> Page:
        """The button in the worksheet's own bar; the worksheet comes back with a message.
        A question the browser asks first (``self.asked``) is answered yes."""
        page = self.sheet(party, step, slot)
        self.asked.clear()
        page.locator("#sheet-bar").get_by_role("button", name=label).click()
        page.wait_for_url(f"**/stap/{step}/{SLUG[slot]}")
        expect(page.locator(".flash--success")).to_be_visible()
        return page


def _step(page: Page, n: int):
    return page.locator(f"#stap-{n}")


def test_two_organisations_go_through_all_eight_steps_and_start_round_two(server, browser, page: Page) -> None:
    j = Journey(server, browser, page)

    # Steps 1-3: each organisation on its own; the other sees the step as done.
    for step in (1, 2, 3):
        for party in ("library", "childcare"):
            j.fill(step, party, content.OWN[party][step])
            sheet = j.press_on_sheet(party, step, party, f"Stap {step} afronden")
            # Completing step 3 shows the organisation's own answers to the partner: asked first.
            partner = "Opvang A" if party == "library" else "Bibliotheek A"
            assert j.asked == ([f"Stap 3 afronden? Daarna ziet {partner} jullie antwoorden van stap 1 tot en met 3. "
                                "Dat kun je niet ongedaan maken."] if step == 3 else [])
            expect(sheet.locator(".page-head > .badge")).to_have_text("Afgerond")
            # Completed: the worksheet is read-only for its own organisation now.
            expect(sheet.locator("#sheet-bar").get_by_role("button", name=f"Stap {step} afronden")).to_have_count(0)
        other = j.overview("library")
        expect(_step(other, step).locator(".badge--completed")).to_have_count(2)
    shot(page, "journey-own-steps-done")

    # Step 4 is open for both. The library approves on the worksheet; the childcare
    # organisation's open worksheet then says so, and it approves there too.
    childcare_sheet = j.sheet("childcare", 4, "joint")
    expect(childcare_sheet.locator("#sheet-bar")).not_to_contain_text("al goedgekeurd")
    for step in (4, 6, 7, 8):
        answers = list(content.JOINT[step].items())
        half = max(1, len(answers) // 2)
        j.fill(step, "joint", dict(answers[:half]), party="library")
        j.fill(step, "joint", dict(answers[half:]), party="childcare")
        if step == 4:
            j.press_on_sheet("library", 4, "joint", "Stap 4 goedkeuren")
            # Away from the worksheet: its change feed reloads it once the step completes,
            # which would cut across this test's next navigation of that page.
            j.overview("library")
            # The childcare organisation's worksheet, open all along, hears of it from its
            # change feed: no answer changed, yet the warning and the bar's note appear.
            expect(childcare_sheet.locator("#approval-warning")).to_contain_text(
                "Let op: Bibliotheek A heeft deze stap al goedgekeurd", timeout=15_000)
            expect(childcare_sheet.locator("#sheet-bar")).to_contain_text("heeft deze stap al goedgekeurd")
            shot(childcare_sheet, "journey-partner-approved-live")
            childcare_sheet.locator("#sheet-bar").get_by_role("button", name="Stap 4 goedkeuren").click()
            expect(childcare_sheet.locator(".flash--success")).to_be_visible()
        else:
            # On the overview: the timeline is swapped in place, with the outcome beside it.
            library = j.overview("library")
            _step(library, step).get_by_role("button", name=f"Stap {step} goedkeuren").click()
            expect(library.locator("#timeline .outcome")).to_contain_text("goedgekeurd")
            childcare = j.pages["childcare"]
            childcare.goto(f"{server.url}/start")
            waiting = childcare.locator("section", has=childcare.get_by_role("heading", name="Wacht op jullie"))
            expect(waiting).to_contain_text(f"Stap {step} goedkeuren (je partner keurde al goed)")
            childcare = j.overview("childcare")
            _step(childcare, step).get_by_role("button", name=f"Stap {step} goedkeuren").click()
            # The second approval completes the step.
            expect(childcare.locator("#timeline .outcome")).to_contain_text(f"Stap {step} is afgerond")
        library = j.overview("library")
        expect(_step(library, step).locator(".step__marker")).to_have_text("✓")

        if step == 4:
            # Step 5: the childcare organisation leads and completes it; the library sees it done.
            library = j.overview("library")
            expect(_step(library, 5).get_by_role("button", name="Stap 5 afronden")).to_have_count(0)
            j.fill(5, "joint", dict(content.JOINT[5]), party="childcare")
            j.press_on_sheet("childcare", 5, "joint", "Stap 5 afronden")
            library = j.overview("library")
            expect(_step(library, 5).locator(".step__marker")).to_have_text("✓")
    shot(page, "journey-round-closed")

    # All eight done: the round is closed, and either organisation may start the next.
    library = j.overview("library")
    expect(library.get_by_role("heading", name="Deze ronde is afgerond")).to_be_visible()
    library.get_by_role("button", name="Nieuwe ronde starten").click()
    expect(library.locator("#timeline")).to_contain_text("Open")
    childcare = j.overview("childcare")
    expect(childcare.get_by_text("Ronde 2", exact=False).first).to_be_visible()
    expect(_step(childcare, 1).locator(".badge--open")).to_have_count(2)
    shot(childcare, "journey-round-two")
    assert j.pages["childcare"].js_errors == []
