"""English translation: complete catalogs, current .mo files, the plan overlay, and
what a user who chose English (or kept Dutch) sees.

When a test here fails after you added or changed a text, update the catalogs with
the commands in the docstring of stappenplan/i18n.py.
"""

from __future__ import annotations

import ast
import functools
import importlib
import io
import re
from gettext import GNUTranslations
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.i18n import force_locale
from stappenplan.workflow import answers, engine, localize
from stappenplan.workflow.plan_loader import available_versions, get_definition
from tests.factories import login

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "stappenplan" / "translations"
LOCALES = ("nl", "en")
# The keywords of the extraction command (see stappenplan/i18n.py) on top of Babel's defaults.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "_t": None, "N_": None}

# Calls that translate a variable (extraction cannot see the text): each must be listed
# here with the dict(s) the text comes from, and those texts must be marked for
# extraction (N_ in their module, or the list in stappenplan/i18n.py).
DYNAMIC_CALLS: dict[tuple[str, str], tuple[str, ...]] = {
    ("stappenplan/core/errors_web.py", "default_title"): ("stappenplan.core.errors_web:MESSAGES",),
    ("stappenplan/core/errors_web.py", "default_message"): ("stappenplan.core.errors_web:MESSAGES",),
    ("stappenplan/core/templating.py", "KIND_LABELS.get(kind, kind or '')"): (
        "stappenplan.core.templating:KIND_LABELS",
    ),
    ("stappenplan/workflow/timeline.py", "SLOT_LABELS[slot]"): ("stappenplan.workflow.timeline:SLOT_LABELS",),
    ("stappenplan/workflow/timeline.py", "STATUS_LABELS[instance.status]"): (
        "stappenplan.workflow.timeline:STATUS_LABELS",
    ),
    ("templates/notifications/preferences.html", "label"): ("stappenplan.notifications.services:KIND_LABELS",),
    ("stappenplan/worksheets/display.py", "CHECK_LABELS[value]"): ("stappenplan.worksheets.display:CHECK_LABELS",),
    ("stappenplan/worksheets/display.py", "MESSAGES[kinds[0]]"): ("stappenplan.worksheets.identifying:MESSAGES",),
    ("templates/audit/log.html", "mail_labels.get(m.template"): ("stappenplan.activity.routes:MAIL_LABELS",),
    ("stappenplan/activity/log.py", "LABELS[e.kind]"): ("stappenplan.activity.log:LABELS",),
    ("stappenplan/coordination/report.py", "outcomes.SCALE_ENDS[s]"): ("stappenplan.coordination.outcomes:SCALE_ENDS",),
    ("stappenplan/i18n.py", "text"): (),  # the hook of the workflow modules (their texts: _t)
}
GETTEXT_NAMES = {"_", "gettext", "_l", "lazy_gettext", "ngettext"}


# --------------------------------------------------------------------------- helpers


def _catalog(locale: str) -> Catalog:
    with open(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


@functools.cache
def _extracted() -> dict[str | tuple[str, ...], list[str]]:
    """Every message in the current code and templates, with where it was found."""
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    found: dict[str | tuple[str, ...], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        if isinstance(message, tuple):
            message = tuple(m for m in message if m is not None)
            if len(message) == 1:
                message = message[0]
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdif]|%%|\{[a-z_]*\}")


def _placeholders(text: str) -> list[str]:
    return sorted(_PLACEHOLDER.findall(text))


# --------------------------------------------------------------------------- catalogs


def test_every_message_in_the_code_has_an_english_translation() -> None:
    extracted = _extracted()
    assert len(extracted) > 500  # extraction really ran over code and templates
    catalog = _catalog("en")
    problems = []
    for msgid, where in sorted(extracted.items(), key=lambda item: str(item[0])):
        singular = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = catalog.get(singular)
        if entry is None:
            problems.append(f"not in en/messages.po: {singular!r} ({where[0]})")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or not all(s and s.strip() for s in strings):
            problems.append(f"untranslated or fuzzy: {singular!r} ({where[0]})")
            continue
        sources = msgid if isinstance(msgid, tuple) else (msgid,)
        for i, text in enumerate(strings):
            source = sources[min(i, len(sources) - 1)]
            if _placeholders(text) != _placeholders(source):
                problems.append(f"placeholders differ: {source!r} -> {text!r}")
    assert not problems, "\n".join(problems)


def test_no_dutch_text_uses_a_plural_shortcut() -> None:
    """"uitnodiging(en)", "gesprek(ken)": a count takes ngettext, so each form reads as a sentence."""
    shortcut = re.compile(r"\w\((?:en|s|ken|n|'s)\)")
    found = []
    for msgid, where in _extracted().items():
        for text in msgid if isinstance(msgid, tuple) else (msgid,):
            if shortcut.search(_PLACEHOLDER.sub("", text)):
                found.append(f"{text!r} ({where[0]})")
    plan_texts = [p.read_text(encoding="utf-8") for p in Path(ROOT, "stappenplan/workflow/plans").glob("*.yaml")]
    found += [m.group(0) for text in plan_texts for m in shortcut.finditer(text)]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalog_is_up_to_date(locale: str) -> None:
    """The .mo files are committed: they must say what the .po says."""
    fresh = io.BytesIO()
    write_mo(fresh, _catalog(locale))
    fresh.seek(0)
    mo = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert mo.is_file(), f"{mo} is missing: run pybabel compile (see stappenplan/i18n.py)"
    with open(mo, "rb") as f:
        committed = GNUTranslations(f)
    expected = GNUTranslations(fresh)
    # The "" entry is the header (it carries dates); compare the messages.
    assert {k: v for k, v in committed._catalog.items() if k != ""} == {  # type: ignore[attr-defined]
        k: v for k, v in expected._catalog.items() if k != ""  # type: ignore[attr-defined]
    }, f"{mo} is older than its .po: run pybabel compile (see stappenplan/i18n.py)"


def test_the_dutch_catalog_has_no_translations() -> None:
    """Dutch is the msgid itself: a msgstr in nl would silently override the code."""
    overridden = [m.id for m in _catalog("nl") if m.id and isinstance(m.string, str) and m.string]
    assert not overridden


def _dynamic_calls() -> set[tuple[str, str]]:
    calls = set()
    for path in sorted((ROOT / "stappenplan").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in GETTEXT_NAMES
                and node.args
                and not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))
            ):
                calls.add((path.relative_to(ROOT).as_posix(), ast.unparse(node.args[0])))
    call = re.compile(r"\b(?:_|gettext|ngettext)\(\s*([^'\"\s)][^,)]*)")
    templates = [*(ROOT / "templates").rglob("*.html"), *(ROOT / "templates" / "mail").rglob("*.txt")]
    for path in sorted(templates):
        for match in call.finditer(path.read_text(encoding="utf-8")):
            calls.add((path.relative_to(ROOT).as_posix(), match.group(1).strip()))
    return calls


def _texts_of(source: str) -> list[str]:
    module, _sep, name = source.partition(":")
    value = getattr(importlib.import_module(module), name)
    texts: list[str] = []
    for item in value.values():
        texts.extend(item if isinstance(item, tuple) else [item])
    return texts


def test_texts_translated_through_a_variable_are_known_and_translated() -> None:
    unknown = _dynamic_calls() - set(DYNAMIC_CALLS)
    assert not unknown, (
        "gettext is called with a variable here; mark the possible texts with N_ and list the call "
        f"in DYNAMIC_CALLS (tests/test_i18n.py): {sorted(unknown)}"
    )
    catalog = _catalog("en")
    extracted = _extracted()
    missing = []
    for sources in DYNAMIC_CALLS.values():
        for source in sources:
            for text in _texts_of(source):
                entry = catalog.get(text)
                if text not in extracted or entry is None or not entry.string or entry.fuzzy:
                    missing.append(f"{source}: {text!r}")
    assert not missing, "not marked for extraction or not translated:\n" + "\n".join(missing)


# --------------------------------------------------------------------------- plan content


@pytest.mark.parametrize("version", available_versions())
def test_the_english_plan_covers_every_text_of_the_plan(version: int) -> None:
    problems = localize.overlay_problems(get_definition(version), localize.load_overlay(version, "en"))
    assert not problems, "\n".join(problems)


def test_the_localized_plan_keeps_keys_and_rules() -> None:
    dutch = get_definition(1)
    english = localize.localized(dutch, "en")
    assert english is not dutch and localize.localized(dutch, "en") is english  # built once
    assert localize.localized(dutch, "nl") is dutch
    for nl_step, en_step in zip(dutch.steps, english.steps, strict=True):
        assert [q.key for q in nl_step.questions] == [q.key for q in en_step.questions]
        for nl_q, en_q in zip(nl_step.questions, en_step.questions, strict=True):
            assert (nl_q.type, nl_q.required, nl_q.party, nl_q.situations, nl_q.visible_to, nl_q.option_keys()) == (
                en_q.type, en_q.required, en_q.party, en_q.situations, en_q.visible_to, en_q.option_keys())
            assert [c.option_keys() for c in nl_q.columns] == [c.option_keys() for c in en_q.columns]
        assert (nl_step.mode, nl_step.number, set(nl_step.intro)) == (en_step.mode, en_step.number, set(en_step.intro))
    assert english.step(1).question("why").label == "Why do you want to work (more) with parents?"
    assert english.step(1).question("support").scale_labels[1] == "Not at all"
    assert english.step(5).question("conversations").column("activities_with_child").options[0].label == (
        "Reading aloud"
    )
    # The engine works on keys: same decisions with either definition.
    state = engine.initial_state(dutch)
    actor = engine.Actor("library", True)
    assert engine.allowed_actions(dutch, state, actor) == engine.allowed_actions(english, state, actor)


# --------------------------------------------------------------------------- pure modules


def test_workflow_messages_follow_the_request_language(app: Flask) -> None:
    date_question = get_definition(1).step(4).question("agreement_date")
    dutch = "Dit is geen geldige datum. Gebruik de vorm dd-mm-jjjj."
    assert answers.validate_answer(date_question, "31-02-2026") == (None, dutch)  # no context: Dutch
    with app.test_request_context():
        assert answers.validate_answer(date_question, "31-02-2026") == (None, dutch)
        with force_locale("en"):
            assert answers.validate_answer(date_question, "31-02-2026") == (
                None, "This is not a valid date. Use the form dd-mm-yyyy.")
            assert engine.party_name("childcare") == "the childcare organisation"
            state = engine.initial_state(get_definition(1))
            assert engine.blockers(get_definition(1), state, "library") == ["Step 2 opens when step 1 is completed"]
            with pytest.raises(engine.ActionRefused, match="^Only an administrator can start a new round.$"):
                engine.apply(get_definition(1), state, engine.Action("start_new_cycle"), engine.Actor("library"))
        assert engine.party_name("childcare") == "de kinderopvang"


# --------------------------------------------------------------------------- the web


def _choose(client: FlaskClient, locale: str, expected_status: int = 302) -> Any:
    response = client.post("/account/taal", data={"locale": locale})
    assert response.status_code == expected_status, response.get_data(as_text=True)[:300]
    return response


def _locale_of(app: Flask, email: str) -> str | None:
    from stappenplan.accounts.models import User
    from stappenplan.extensions import db

    with app.app_context():
        return db.session.scalar(select(User.locale).where(User.email == email))


def test_the_account_page_offers_the_language_choice(app: Flask, world) -> None:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    page = client.get("/account").get_data(as_text=True)
    assert 'action="/account/taal"' in page
    assert '<span lang="en">English</span>' in page and '<span lang="nl">Nederlands</span>' in page

    response = _choose(client, "en")
    assert response.headers["Location"].endswith("/account")
    assert _locale_of(app, world.emails["lib_a"]) == "en"
    page = client.get("/account").get_data(as_text=True)
    assert "The language has been changed." in page
    assert '<html lang="en">' in page
    assert "My account" in page and "Mijn account" not in page

    _choose(client, "nl")
    page = client.get("/account").get_data(as_text=True)
    assert "De taal is gewijzigd." in page and "Mijn account" in page
    assert '<html lang="nl">' in page
    assert _locale_of(app, world.emails["lib_a"]) == "nl"


@pytest.mark.parametrize("value", ["de", "", "EN", "english", "<script>"])
def test_only_known_languages_are_saved(app: Flask, world, value: str) -> None:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    page = _choose(client, value, expected_status=200).get_data(as_text=True)
    assert "field--error" in page
    assert _locale_of(app, world.emails["lib_a"]) is None


def test_choosing_a_language_needs_a_login(client: FlaskClient, world) -> None:
    assert client.post("/account/taal", data={"locale": "en"}).status_code == 401


def test_an_english_user_sees_english_and_a_dutch_partner_dutch(app: Flask, world) -> None:
    partnership = world.ids["partnership_a"]
    english = app.test_client()
    login(english, world.emails["lib_a"])
    _choose(english, "en")
    dutch = app.test_client()
    login(dutch, world.emails["cc_a"])

    home = english.get("/start").get_data(as_text=True)
    assert "Your partnerships" in home and "Jullie samenwerkingen" not in home
    assert "Log out" in home and "Uitloggen" not in home
    home = dutch.get("/start").get_data(as_text=True)
    assert "Jullie samenwerkingen met de bibliotheek" in home and "Uitloggen" in home

    # The worksheet: question texts from plans/v1.en.yaml; keys (field names) unchanged.
    sheet = english.get(f"/samenwerkingen/{partnership}/stap/1/bibliotheek").get_data(as_text=True)
    assert "Why do you want to work (more) with parents?" in sheet
    assert "How does the Taalhuis see this?" in sheet
    assert "Encourage the (language) development of young children" in sheet
    assert "Waarom wil je" not in sheet
    assert "q-why" in sheet
    sheet = dutch.get(f"/samenwerkingen/{partnership}/stap/1/kinderopvang").get_data(as_text=True)
    assert "Waarom wil je (meer) met ouders samenwerken?" in sheet and "Why do you want" not in sheet

    # The timeline: step titles from the overlay, engine messages through gettext.
    timeline = english.get(f"/samenwerkingen/{partnership}").get_data(as_text=True)
    assert "Start with the why" in timeline and "Begin met het waarom" not in timeline
    assert "Step 2 opens when step 1 is completed" in timeline
    assert "Fill in step 1" in timeline
    timeline = dutch.get(f"/samenwerkingen/{partnership}").get_data(as_text=True)
    assert "Begin met het waarom" in timeline and "Stap 2 gaat open als stap 1 is afgerond" in timeline

    # An error page.
    missing = english.get("/samenwerkingen/bestaat-niet")
    assert missing.status_code == 404
    assert "Page not found" in missing.get_data(as_text=True)
    missing = dutch.get("/samenwerkingen/bestaat-niet")
    assert "Pagina niet gevonden" in missing.get_data(as_text=True)


def test_a_refused_action_is_explained_in_english(app: Flask, world) -> None:
    client = app.test_client()
    login(client, world.emails["lib_a"])
    _choose(client, "en")
    response = client.post(f"/samenwerkingen/{world.ids['partnership_a']}/actie",
                           data={"kind": "complete", "step": "1", "slot": "library"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "First answer all required questions of step 1." in page
    assert "Beantwoord eerst" not in page


def test_the_admins_log_reads_in_english(app: Flask, world) -> None:
    english = app.test_client()
    login(english, world.emails["lib_a"])
    _choose(english, "en")
    assert english.post("/organisatie/leden/uitnodigen",
                        data={"email": "nieuw@bieb-a.nl", "role": "member"}).status_code == 302
    log = english.get("/organisatie/logboek").get_data(as_text=True)
    assert "invited a colleague" in log and "nodigde een collega uit" not in log


def test_wtforms_own_messages_follow_the_language_and_are_read_once(app: Flask, monkeypatch) -> None:
    """WTForms' built-in messages come in the request's language; their catalog is read
    from disk once per language and process, not in every request that builds a form."""
    from babel import support
    from wtforms import IntegerField

    from stappenplan.core import forms

    class NumberForm(forms.Form):
        number = IntegerField()

    loads: list[object] = []
    real_load = support.Translations.load
    monkeypatch.setattr(support.Translations, "load",
                        lambda *args, **kwargs: loads.append(args) or real_load(*args, **kwargs))
    forms._wtforms_catalog.cache_clear()
    messages = {}
    for locale in ("nl", "en", "nl", "en"):
        with app.test_request_context("/", method="POST", data={"number": "abc"}), force_locale(locale):
            form = NumberForm(meta={"csrf": False})
            assert not form.validate()
            messages.setdefault(locale, set()).add(form.number.errors[-1])
    assert messages["en"] == {"Not a valid integer value."}
    assert messages["nl"] == {"Ongeldig getal."}
    assert len(loads) == 2  # one per language


def test_the_kept_catalog_follows_every_change_of_language_in_a_request(app: Flask) -> None:
    """``i18n.translations`` keeps the request's catalog and answers from it;
    ``i18n.force_locale`` (mails in the recipient's language) and ``i18n.refresh`` (a user
    who just chose another language) must switch it, in templates as in code."""
    import flask_babel
    from flask import render_template_string

    from stappenplan import i18n
    from stappenplan.i18n import gettext

    def both() -> tuple[str, str]:
        return gettext("Opgeslagen."), render_template_string('{{ _("Opgeslagen.") }}')

    with app.test_request_context("/"):
        assert both() == ("Opgeslagen.", "Opgeslagen.")
        assert both() == ("Opgeslagen.", "Opgeslagen.")  # from the kept catalog
        with i18n.force_locale("en"):
            assert both() == ("Saved.", "Saved.")
            with i18n.force_locale("nl"):
                assert both() == ("Opgeslagen.", "Opgeslagen.")
            assert both() == ("Saved.", "Saved.")
        assert both() == ("Opgeslagen.", "Opgeslagen.")
        with i18n.force_locale("en"):  # first use of the catalog inside
            pass
        assert both() == ("Opgeslagen.", "Opgeslagen.")
        babel = flask_babel.get_babel(app)
        chosen = babel.locale_selector
        babel.locale_selector = lambda: "en"
        try:
            assert both() == ("Opgeslagen.", "Opgeslagen."), "the request's language holds until refresh"
            i18n.refresh()
            assert both() == ("Saved.", "Saved.")
        finally:
            babel.locale_selector = chosen
    with app.test_request_context("/"), i18n.force_locale("en"):
        assert both() == ("Saved.", "Saved."), "a catalog first kept inside force_locale"


def test_the_language_changes_only_through_i18n() -> None:
    """The kept catalog (``i18n.translations``) is dropped by ``i18n.force_locale`` and
    ``i18n.refresh``; Flask-Babel's own would leave it in the old language. The tests use
    the same two, or they would test another app than the one that runs."""
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for path in [*(root / "stappenplan").rglob("*.py"), *(root / "tests").rglob("*.py")]:
        if path == root / "stappenplan" / "i18n.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "flask_babel":
                offenders += [f"{path.name}: {a.name}" for a in node.names if a.name in ("force_locale", "refresh")]
            elif isinstance(node, ast.Attribute) and node.attr in ("force_locale", "refresh") \
                    and isinstance(node.value, ast.Name) and node.value.id == "flask_babel":
                offenders.append(f"{path.name}: flask_babel.{node.attr}")
    assert offenders == []


def test_kept_moments_read_like_flask_babels_format_datetime(app: Flask) -> None:
    """The ``datetime`` filter keeps each formatted moment per format, language and time
    zone (``i18n._format_moment``), the ``date`` filter each moment's local day
    (``_local_day``): their text must be exactly Flask-Babel's, on both sides of the clock
    changes and of midnight (31 December 23:05 UTC is 1 January in Amsterdam), for stored
    naive UTC and for aware times, and in English it must not answer with a Dutch text
    kept before."""
    from datetime import datetime, timedelta, timezone

    import flask_babel

    from stappenplan import i18n

    moments = [datetime(2026, 3, 29, 0, 59), datetime(2026, 3, 29, 1, 1), datetime(2026, 10, 25, 0, 30),
               datetime(2026, 10, 25, 1, 30), datetime(2026, 12, 31, 23, 5, 59),
               datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=-4)))]
    formats = ["d MMM yyyy, HH:mm", "d MMMM yyyy, HH:mm", "HH:mm"]
    i18n._format_moment.cache_clear()
    i18n._local_day.cache_clear()
    with app.test_request_context("/"):
        for language in ("nl", "en"):
            with force_locale(language):
                for moment in moments:
                    for fmt in formats:
                        expected = flask_babel.format_datetime(moment, fmt)
                        assert i18n.format_moment(moment, fmt) == expected
                        assert i18n.format_moment(moment, fmt) == expected  # kept
                    day = flask_babel.format_date(flask_babel.to_user_timezone(moment).date(), "d MMM yyyy")
                    assert i18n.format_day(moment, "d MMM yyyy") == day
                    assert i18n.format_day(moment, "d MMM yyyy") == day  # kept
        assert i18n.format_moment(None) == ""
        with force_locale("en"):
            assert "Mar" in i18n.format_moment(moments[0])
        assert "mrt" in i18n.format_moment(moments[0])
    kept = i18n._format_moment.cache_info()
    assert kept.hits >= len(moments) * len(formats) * 2 and kept.currsize >= len(moments) * len(formats) * 2
    assert i18n._local_day.cache_info().hits >= len(moments) * 3


def test_what_users_wrote_keeps_its_language_in_the_english_interface(app: Flask, world) -> None:
    """The interface in English (lang="en"); answers, comments and the plan that people wrote
    in Dutch are marked lang="nl", so a screen reader reads them with Dutch pronunciation."""
    from stappenplan.accounts.models import User
    from stappenplan.extensions import db
    from tests.factories import driver as partner_driver

    with app.app_context():
        driver = partner_driver(world)
        driver.own_steps(3, 3)
        driver.fill_joint(4)
        user = db.session.scalar(select(User).where(User.email == world.emails["lib_a"]))
        user.locale = "en"
        db.session.commit()
    client = app.test_client()
    login(client, world.emails["lib_a"])
    base = f"/samenwerkingen/{world.ids['partnership_a']}"
    sheet = client.get(f"{base}/stap/4/samen").get_data(as_text=True)
    assert '<html lang="en"' in sheet
    assert re.search(r'<textarea lang="nl" id="input-target_parents"', sheet)
    assert re.search(r'<textarea lang="nl" id="q-shared_goals--goal-1--goal"', sheet)
    plan = client.get(f"{base}/plan").get_data(as_text=True)
    assert '<html lang="en"' in plan and '<p class="qa__a" lang="nl">' in plan
    assert re.search(r'<td class="plan-table__line" lang="nl"', plan)
    own = client.get(f"{base}/stap/1/bibliotheek").get_data(as_text=True)
    assert '<div class="answer-text" lang="nl">' in own
