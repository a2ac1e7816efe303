"""Comments reach people: "@Full Name" in the text names a person who may see the step, and
every comment on a shared step is news for the partner organisation (mail per choice)."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.core import uow
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.notifications.models import Notification
from stappenplan.worksheets.comments import named_in
from tests.factories import driver, login

HX = {"HX-Request": "true"}
NAMES = {"lib_a": "Bram Bakker", "lib_a_member": "Lotte de Vries", "cc_a": "Fatima El Amrani",
         "cc_a_member": "Lotte", "cc_b": "Karin Buiten", "lib_b": "Lotte de Vries-Jansen"}


@pytest.fixture
def named(world, app: Flask):
    """World A with step 4 open and everyone given a distinct full name."""
    with app.app_context():
        for key, name in NAMES.items():
            db.session.scalar(select(User).where(User.email == world.emails[key])).name = name
        db.session.commit()
        driver(world).own_steps(3, 3)
        uow.checkpoint()
        outbox().clear()
    return world


def _client(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _url(world, step: int, slot: str) -> str:
    return f"/samenwerkingen/{world.ids['partnership_a']}/stap/{step}/{slot}/vraag/" + (
        "target_parents" if step == 4 else "why") + "/opmerkingen"


def _notes(world, key: str, kind: str | None = None) -> list[Notification]:
    stmt = (select(Notification).join(User, User.id == Notification.user_id)
            .where(User.email == world.emails[key]).order_by(Notification.id))
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))


def test_a_full_name_after_an_at_sign_counts_as_a_mention(named, app: Flask) -> None:
    lib = _client(app, named.emails["lib_a"])
    response = lib.post(_url(named, 4, "samen"), headers=HX,
                        data={"body": "Goed punt. @fatima el amrani, wat vind jij? En @Karin Buiten?"})
    assert response.status_code == 200
    with app.app_context():
        mentions = _notes(named, "cc_a", "mention")
        assert [n.title for n in mentions] == ["Bram Bakker noemde je bij stap 4"]
        assert _notes(named, "cc_a", "comment") == []  # named: one notification, not two
        assert _notes(named, "cc_b") == []  # not on this step: her name is only text
        assert [m.to for m in outbox() if "noemde je" in m.subject] == [named.emails["cc_a"]]


def test_the_longest_name_wins_and_a_name_must_end_at_a_word_boundary(named, app: Flask) -> None:
    with app.app_context():
        people = list(db.session.scalars(select(User)))
    by_name = {u.name: u for u in people}
    assert [u.name for u in named_in("@Lotte de Vries, kijk jij?", people)] == ["Lotte de Vries"]
    assert [u.name for u in named_in("Vraag aan @LOTTE: klopt dit?", people)] == ["Lotte"]
    assert named_in("@Lottery en mail@Lotte.nl", people) == []
    assert {u.name for u in named_in("@Lotte de Vries-Jansen", people)} == {"Lotte de Vries-Jansen"}
    assert by_name["Lotte"] not in named_in("geen @ hier", people)


def test_a_typed_name_reaches_no_one_outside_the_steps_audience(named, app: Flask) -> None:
    lib = _client(app, named.emails["lib_a"])
    # Step 1 is the library's own: the childcare's people cannot be reached by name.
    response = lib.post(_url(named, 1, "bibliotheek"), headers=HX,
                        data={"body": "@Fatima El Amrani en @Lotte de Vries, even kijken?"})
    assert response.status_code == 200
    with app.app_context():
        for key in ("cc_a", "cc_a_member"):  # named or not: nothing of an own step reaches the partner
            assert _notes(named, key, "mention") == [] and _notes(named, key, "comment") == []
        assert [n.kind for n in _notes(named, "lib_a_member")][-1:] == ["mention"]


def test_every_comment_on_a_joint_step_tells_the_partner_organisation(named, app: Flask) -> None:
    cc = _client(app, named.emails["cc_a"])
    response = cc.post(_url(named, 4, "samen"), headers=HX,
                       data={"body": "Wat vinden jullie? @Lotte de Vries"})
    assert response.status_code == 200
    with app.app_context():
        # The library's people hear of it; the one named gets the mention instead.
        admin = _notes(named, "lib_a", "comment")
        assert len(admin) == 1
        assert admin[0].title.startswith("Fatima El Amrani plaatste een opmerking bij stap 4: ")
        assert "Wat vinden jullie?" in admin[0].body
        assert _notes(named, "lib_a_member", "comment") == []
        assert len(_notes(named, "lib_a_member", "mention")) == 1
        # The author's own colleagues and other partnerships hear nothing.
        assert _notes(named, "cc_a_member", "comment") == [] and _notes(named, "lib_b") == []
        # Mail per choice: comments default to the daily overview, a mention goes right away.
        assert admin[0].mode == "digest"
        assert [m.to for m in outbox()] == [named.emails["lib_a_member"]]


def test_the_comment_choice_decides_the_mail(named, app: Flask) -> None:
    member = _client(app, named.emails["lib_a_member"])
    page = member.get("/account/meldingen").get_data(as_text=True)
    assert "Je partner plaatst een opmerking bij een gezamenlijke stap" in page
    assert member.post("/account/meldingen", data={"step_opened": "direct", "signoff": "direct", "mention": "off",
                                                   "comment": "direct", "reminder": "direct",
                                                   "region": "direct"}).status_code == 302
    cc = _client(app, named.emails["cc_a"])
    cc.post(_url(named, 4, "samen"), headers=HX, data={"body": "Eerste opzet staat erin."})
    cc.post(_url(named, 4, "samen"), headers=HX, data={"body": "@Lotte de Vries, zie je dit?"})
    with app.app_context():
        to_member = [m.subject for m in outbox() if m.to == named.emails["lib_a_member"]]
        assert len(to_member) == 1 and "opmerking bij stap 4" in to_member[0]  # the mention: no mail (off)
        assert len(_notes(named, "lib_a_member", "mention")) == 1  # but in the app


def test_a_comment_moves_the_partners_change_feed_and_its_count(named, app: Flask) -> None:
    """No answer changes, yet the partner's open page hears of the comment: its count."""
    lib = _client(app, named.emails["lib_a"])
    sheet = f"/samenwerkingen/{named.ids['partnership_a']}/stap/4/samen"
    page = lib.get(sheet).get_data(as_text=True)
    seq = re.search(r'id="sheet-seq" name="seq" value="(\d+)"', page).group(1)
    sig = re.search(r'id="presence-sig" name="presence" value="([^"]*)"', page).group(1)
    feed = {"seq": seq, "presence": sig, "status": "open"}
    assert lib.get(f"{sheet}/wijzigingen", query_string=feed, headers=HX).status_code == 204
    cc = _client(app, named.emails["cc_a"])
    assert cc.post(_url(named, 4, "samen"), headers=HX, data={"body": "Nog een idee"}).status_code == 200
    news = lib.get(f"{sheet}/wijzigingen", query_string=feed, headers=HX)
    assert news.status_code == 200
    assert re.search(r'id="comment-count-target_parents" data-count="1" data-news=true hx-swap-oob=true',
                     news.get_data(as_text=True))


def test_a_comment_costs_the_same_statements_however_many_people_hear_of_it(named, app: Flask) -> None:
    from stappenplan.organisations.models import Organisation
    from tests.factories import make_user
    from tests.test_query_counts import counted

    cc = _client(app, named.emails["cc_a"])
    cc.post(_url(named, 4, "samen"), headers=HX, data={"body": "Eerste"})  # the thread exists after this
    with counted(app) as few:
        assert cc.post(_url(named, 4, "samen"), headers=HX, data={"body": "Tweede"}).status_code == 200
    with app.app_context():
        library = db.session.scalar(select(Organisation).where(Organisation.public_id == named.ids["lib_a"]))
        for i in range(5):
            make_user(library, f"collega{i}@bieb-a.nl", role="member")
        db.session.commit()
    with counted(app) as many:
        assert cc.post(_url(named, 4, "samen"), headers=HX, data={"body": "Derde"}).status_code == 200
    with app.app_context():
        assert len(_notes(named, "lib_a", "comment")) == 3
    assert len(many) == len(few), "\n".join(many)
