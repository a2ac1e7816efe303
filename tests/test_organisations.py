"""Members: invite colleagues, change roles, remove members, never the last admin; regions."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from stappenplan.accounts.models import User
from stappenplan.extensions import db
from stappenplan.mail import outbox
from stappenplan.organisations.models import Membership, RegionMembership, RegionRequest
from tests.factories import login
from tests.formdata import NS, by_id, parse, text_of


def _last_link(app: Flask) -> str:
    with app.app_context():
        body = outbox()[-1].body
    return re.search(r"http://[^\s]+(/uitnodiging/[^\s]+)", body).group(1)


def test_admin_invites_colleague_who_joins(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    response = client.post("/organisatie/leden/uitnodigen",
                           data={"email": "nieuw@bieb-a.nl", "role": "member", "team": "taalhuis"})
    assert response.status_code == 302
    link = _last_link(app)
    newcomer = app.test_client()
    page = newcomer.get(link).get_data(as_text=True)
    assert "Welkom bij Bibliotheek A" in page
    response = newcomer.post(link, data={"name": "Nieuwe Collega", "password": "sterk-wachtwoord-7",
                                         "confirm": "sterk-wachtwoord-7"})
    assert response.status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "nieuw@bieb-a.nl"))
        assert user.organisation.name == "Bibliotheek A"
        assert user.membership.role == "member" and user.membership.team == "taalhuis"
    assert "Nieuwe Collega" in client.get("/organisatie/leden").get_data(as_text=True)


def test_member_cannot_invite_or_change_roles(world, client: FlaskClient) -> None:
    login(client, world.emails["lib_a_member"])
    assert client.post("/organisatie/leden/uitnodigen", data={"email": "x@y.nl", "role": "admin"}).status_code == 403
    response = client.post(f"/organisatie/leden/{world.ids['member_lib_a']}/rol", data={"role": "member"})
    assert response.status_code == 404


def test_invite_existing_member_gets_message(world, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    response = client.post("/organisatie/leden/uitnodigen",
                           data={"email": world.emails["lib_a_member"], "role": "member"})
    assert response.status_code == 422
    assert "al lid van je organisatie" in response.get_data(as_text=True)
    # An address of another organisation: the same answer as any address; its owner is told by mail.
    response = client.post("/organisatie/leden/uitnodigen", data={"email": world.emails["cc_a"], "role": "member"})
    assert response.status_code == 302
    with client.application.app_context():
        [mail] = outbox()
        assert mail.to == world.emails["cc_a"] and "hoort al bij een andere organisatie" in mail.body
        assert "/uitnodiging/" not in mail.body


def test_change_role_inline_with_htmx(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    url = f"/organisatie/leden/{world.ids['member_lib_a_member']}/rol"
    partial = client.get(url, headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert body.lstrip().startswith("<tr") and "<html" not in body
    assert "HX-Request" in partial.headers.get("Vary", "")
    response = client.post(url, data={"role": "admin", "team": "jeugd"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "Beheerder" in response.get_data(as_text=True)
    with app.app_context():
        membership = db.session.scalar(
            select(Membership).where(Membership.public_id == world.ids["member_lib_a_member"])
        )
        assert membership.role == "admin" and membership.team == "jeugd"


def test_inline_role_change_says_so_at_once_and_not_again_later(world, client: FlaskClient) -> None:
    """The htmx answer brings the message for the page's flash area (out of band); it is not
    left in the session, where the next full page would show it as a stale success."""
    login(client, world.emails["lib_a"])
    url = f"/organisatie/leden/{world.ids['member_lib_a_member']}/rol"
    response = client.post(url, data={"role": "admin", "team": "taalhuis"}, headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith("<tr")
    flash = by_id(body, "flash")
    assert flash is not None and flash.get("hx-swap-oob") == "innerHTML"
    assert "De rol van Lid is aangepast." in " ".join("".join(flash.itertext()).split())
    page = client.get("/organisatie/leden").get_data(as_text=True)
    assert "is aangepast" not in text_of(page)
    # A refusal shows at the field and takes an earlier success out of the flash area.
    other = client.application.test_client()
    login(other, world.emails["cc_a"])
    response = other.post(f"/organisatie/leden/{world.ids['member_cc_a']}/rol", data={"role": "member"},
                          headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "minstens één beheerder" in body
    flash = by_id(body, "flash")
    assert flash is not None and flash.get("hx-swap-oob") == "innerHTML" and not "".join(flash.itertext()).strip()
    assert "minstens één beheerder" not in text_of(other.get("/organisatie/leden").get_data(as_text=True))


def _with_editor_open(client: FlaskClient, member_id: str) -> str:
    """The colleagues' page as the browser has it after "Wijzigen": the row swapped for the editor."""
    page = client.get("/organisatie/leden").get_data(as_text=True)
    editor = client.get(f"/organisatie/leden/{member_id}/rol", headers={"HX-Request": "true"}).get_data(as_text=True)
    row = re.compile(rf'<tr id="member-{member_id}">.*?</tr>', re.S)
    assert row.search(page)
    return row.sub(lambda _m: editor, page)


def test_inline_role_editor_has_ids_of_its_own(world, client: FlaskClient) -> None:
    """The invite form's "Rol" label points at its own select, the editor's at the editor's."""
    login(client, world.emails["lib_a"])
    member_id = world.ids["member_lib_a_member"]
    root = parse(_with_editor_open(client, member_id))
    ids = [el.get("id") for el in root.iter() if el.get("id")]
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    parents = {child: parent for parent in root.iter() for child in parent}

    def form_of(el):
        while el is not None and el.tag != f"{NS}form":
            el = parents.get(el)
        return el

    by = {el.get("id"): el for el in root.iter() if el.get("id")}
    forms = {form.get("action"): form for form in root.iter(f"{NS}form")}
    invite, editor = forms["/organisatie/leden/uitnodigen"], forms[f"/organisatie/leden/{member_id}/rol"]
    for form in (invite, editor):
        for label in form.iter(f"{NS}label"):
            target = by.get(label.get("for"))
            assert target is not None and form_of(target) is form, (label.get("for"), "".join(label.itertext()))
        assert len([s for s in form.iter(f"{NS}select") if s.get("name") == "role"]) == 1
    selects = {s.get("name"): s for s in editor.iter(f"{NS}select")}
    assert selects["role"].get("id") == f"role-{member_id}" and selects["role"].get("autofocus") is not None
    assert selects["team"].get("id") == f"team-{member_id}"


def test_inline_role_editor_gives_focus_back_to_the_row(world, client: FlaskClient) -> None:
    """After saving or cancelling, the row's "Wijzigen" button takes the focus (autofocus,
    which htmx honours in what it swaps in); the page itself autofocuses nothing."""
    login(client, world.emails["lib_a"])
    member_id = world.ids["member_lib_a_member"]
    assert "autofocus" not in client.get("/organisatie/leden").get_data(as_text=True)
    cancel = client.get(f"/organisatie/leden/{member_id}", headers={"HX-Request": "true"})
    saved = client.post(f"/organisatie/leden/{member_id}/rol", data={"role": "member", "team": "taalhuis"},
                        headers={"HX-Request": "true"})
    for response in (cancel, saved):
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and body.lstrip().startswith(f'<tr id="member-{member_id}">')
        [focused] = [el for el in parse(body).iter() if el.get("autofocus") is not None]
        assert focused.get("hx-get") == f"/organisatie/leden/{member_id}/rol"
    # Without htmx the row's address is the colleagues' page.
    assert client.get(f"/organisatie/leden/{member_id}").headers["Location"].endswith("/organisatie/leden")


def test_last_admin_cannot_be_demoted_or_removed(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["cc_a"])
    url = f"/organisatie/leden/{world.ids['member_cc_a']}"
    response = client.post(url + "/rol", data={"role": "member"})
    assert "minstens één beheerder" in response.get_data(as_text=True)
    response = client.post(url + "/verwijderen", follow_redirects=True)
    assert "laatste beheerder" in response.get_data(as_text=True)
    with app.app_context():
        membership = db.session.scalar(select(Membership).where(Membership.public_id == world.ids["member_cc_a"]))
        assert membership is not None and membership.role == "admin"


def _actions(html: str, member_id: str) -> tuple[list[str], str]:
    """The links and buttons in a member's row, and the row's text."""
    row = by_id(html, f"member-{member_id}")
    assert row is not None
    names = [" ".join("".join(el.itertext()).split()) for el in row.iter() if el.tag in (f"{NS}a", f"{NS}button")]
    return names, " ".join("".join(row.itertext()).split())


def test_the_only_admin_is_not_offered_removal_or_demotion(world, client: FlaskClient) -> None:
    login(client, world.emails["cc_a"])  # the only admin of a childcare: nothing to change
    page = client.get("/organisatie/leden").get_data(as_text=True)
    actions, text = _actions(page, world.ids["member_cc_a"])
    assert actions == []
    assert "Je bent de enige beheerder. Maak eerst een collega beheerder" in text
    actions, _text = _actions(page, world.ids["member_cc_a_member"])
    assert actions == ["Wijzigen Lid", "Verwijderen Lid"]
    # The confirmation, asked for directly, does not ask; the post is still refused.
    url = f"/organisatie/leden/{world.ids['member_cc_a']}/verwijderen"
    confirm = client.get(url).get_data(as_text=True)
    assert "Je bent de enige beheerder" in text_of(confirm) and "Ja, verwijder" not in confirm
    assert "laatste beheerder" in client.post(url, follow_redirects=True).get_data(as_text=True)


def test_a_librarys_only_admin_may_change_team_but_not_become_member(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    own, colleague = world.ids["member_lib_a"], world.ids["member_lib_a_member"]
    actions, text = _actions(client.get("/organisatie/leden").get_data(as_text=True), own)
    assert actions == ["Wijzigen Admin"] and "Je bent de enige beheerder." in text
    editor = client.get(f"/organisatie/leden/{own}/rol", headers={"HX-Request": "true"}).get_data(as_text=True)
    select = by_id(editor, f"role-{own}")
    assert [o.get("value") for o in select.iter(f"{NS}option")] == ["admin"]
    hint = by_id(editor, f"role-{own}-hint")
    assert hint is not None and select.get("aria-describedby") == f"role-{own}-hint"
    assert "Maak eerst een collega beheerder" in "".join(hint.itertext())
    # A second admin: the own row (sent along out of band) offers removal again.
    response = client.post(f"/organisatie/leden/{colleague}/rol", data={"role": "admin", "team": "taalhuis"},
                           headers={"HX-Request": "true"})
    body = f"<table><tbody>{response.get_data(as_text=True)}</tbody></table>"  # rows, as in the page
    row = by_id(body, f"member-{own}")
    assert row is not None and row.get("hx-swap-oob") == "true"
    actions, text = _actions(body, own)
    assert actions == ["Wijzigen Admin", "Verwijderen Admin"] and "enige beheerder" not in text
    editor = client.get(f"/organisatie/leden/{own}/rol", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert [o.get("value") for o in by_id(editor, f"role-{own}").iter(f"{NS}option")] == ["member", "admin"]


def test_removing_yourself_is_asked_in_the_second_person(world, app: Flask, client: FlaskClient) -> None:
    login(client, world.emails["lib_a"])
    client.post(f"/organisatie/leden/{world.ids['member_lib_a_member']}/rol", data={"role": "admin"})
    url = f"/organisatie/leden/{world.ids['member_lib_a']}/verwijderen"
    confirm = text_of(client.get(url).get_data(as_text=True))
    assert "Jezelf verwijderen uit Bibliotheek A?" in confirm
    assert "Je kunt dan niet meer inloggen bij Bibliotheek A. Wat je eerder invulde, blijft bewaard." in confirm
    assert "Admin verwijderen?" not in confirm and "deze persoon" not in confirm and "Ja, verwijder mij" in confirm
    response = client.post(url, follow_redirects=True)
    assert "Je bent verwijderd uit Bibliotheek A." in text_of(response.get_data(as_text=True))


def test_remove_member_needs_confirmation_and_ends_their_session(world, app: Flask) -> None:
    admin, member = app.test_client(), app.test_client()
    login(admin, world.emails["lib_a"])
    login(member, world.emails["lib_a_member"])
    url = f"/organisatie/leden/{world.ids['member_lib_a_member']}/verwijderen"
    confirm = admin.get(url)
    assert confirm.status_code == 200 and "Ja, verwijderen" in confirm.get_data(as_text=True)
    assert admin.post(url).status_code == 302
    assert member.get("/start").status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == world.emails["lib_a_member"]))
        assert user is not None and user.membership is None  # account kept for attribution
    response = app.test_client().post("/inloggen", data={"email": world.emails["lib_a_member"],
                                                         "password": "een-goed-wachtwoord-42"})
    assert response.status_code == 200  # cannot log in any more


def test_region_opt_in_and_out(world, app: Flask, client: FlaskClient) -> None:
    coordinator = app.test_client()
    login(coordinator, world.emails["coord_b"])
    partnership_url = f"/samenwerkingen/{world.ids['partnership_a']}"
    assert coordinator.get(partnership_url).status_code == 404
    login(client, world.emails["lib_a"])
    client.post("/organisatie/regio/afmelden")  # leave region A first: leaving is immediate
    response = client.post("/organisatie/regio", data={"region": world.ids["region_b"]})
    assert response.status_code == 302
    assert coordinator.get(partnership_url).status_code == 404  # only a request, until accepted
    with app.app_context():
        request_id = db.session.scalar(select(RegionRequest.public_id).where(RegionRequest.status == "pending"))
    assert coordinator.post(f"/regio/aanvragen/{request_id}/aannemen").status_code == 302
    assert coordinator.get(partnership_url).status_code == 200
    client.post("/organisatie/regio/afmelden")
    assert coordinator.get(partnership_url).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(RegionMembership).join(RegionMembership.library)
                                 .where(RegionMembership.library.has(public_id=world.ids["lib_a"]))) is None


def test_region_page_only_for_library_admins(world, client: FlaskClient) -> None:
    login(client, world.emails["cc_a"])
    assert client.get("/organisatie/regio").status_code == 403
