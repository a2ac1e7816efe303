"""Start pages per role: progress, what waits on whom, activity, filters, pagination."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from stappenplan import demo
from stappenplan.extensions import db
from stappenplan.partnerships.models import Partnership
from tests.factories import login, make_org, make_partnership, make_user
from tests.formdata import NS, by_id


def _client(app: Flask, email: str):
    client = app.test_client()
    login(client, email, demo.PASSWORD)
    return client


def test_library_home_shows_progress_and_waiting(app: Flask) -> None:
    with app.app_context():
        demo.seed()
    page = _client(app, "bibliotheek@demo.stappenplan.nl").get("/start").get_data(as_text=True)
    assert "Wacht op jullie" in page and "Wacht op de partner" in page and "Recente activiteit" in page
    # progress bar with text per step, not colour alone
    assert "Stap 1: bibliotheek afgerond, kinderopvang afgerond" in page
    assert "Stap 4: bezig" in page
    assert "Kindcentrum Het Kabouterhuis" in page and "Stap 4 goedkeuren" in page
    assert "3 samenwerkingen" in page
    assert "Kinderdagverblijf Zonnestraal" not in page  # another branch's partnership


def test_the_status_filter_names_the_card_it_filters_for(app: Flask) -> None:
    """The filter "wacht-op-ons" is called what the card above it is called: "Wacht op jullie"."""
    with app.app_context():
        demo.seed()
    for email in ("bibliotheek@demo.stappenplan.nl", "opvang@demo.stappenplan.nl"):
        page = _client(app, email).get("/start").get_data(as_text=True)
        option = by_id(page, "status")
        assert option is not None
        labels = {o.get("value"): " ".join("".join(o.itertext()).split()) for o in option.iter(f"{NS}option")}
        heading = by_id(page, "wait-us")
        assert heading is not None and "".join(heading.itertext()).strip().startswith("Wacht op jullie")
        assert labels["wacht-op-ons"] == "Wacht op jullie" and "Wacht op ons" not in page


def _card(page: str, heading_id: str) -> str:
    """The text of one start-page card (from its heading to the end of its section)."""
    start = page.index(f'id="{heading_id}"')
    return page[start:page.index("</section>", start)]


def test_an_approval_is_told_from_the_readers_side(app: Flask) -> None:
    """In the demo the library approved step 4 with Het Kabouterhuis and childcare did not
    yet. The library's "Wacht op de partner" says the library approved ("jullie"), the
    childcare's "Wacht op jullie" says the partner did; neither says it of the wrong side."""
    with app.app_context():
        demo.seed()
    library = _client(app, "bibliotheek@demo.stappenplan.nl").get("/start").get_data(as_text=True)
    waiting = _card(library, "wait-them")
    assert "Kindcentrum Het Kabouterhuis" in waiting
    assert "Stap 4 goedkeuren (jullie keurden al goed)" in waiting
    assert "je partner keurde al goed" not in waiting
    childcare = _client(app, "kabouterhuis@demo.stappenplan.nl").get("/start").get_data(as_text=True)
    ours = _card(childcare, "wait-us")
    assert "Stap 4 goedkeuren (je partner keurde al goed)" in ours
    assert "jullie keurden al goed" not in childcare


def test_childcare_home_lists_partnerships_with_several_libraries(app: Flask) -> None:
    with app.app_context():
        demo.seed()
    page = _client(app, "opvang@demo.stappenplan.nl").get("/start").get_data(as_text=True)
    assert "vestiging Tiel" in page and "vestiging Culemborg" in page
    assert "Wacht op jullie" in page and "Stap 2 invullen en afronden" in page


def test_filters_search_sort_and_htmx_partial(app: Flask) -> None:
    with app.app_context():
        demo.seed()
    client = _client(app, "bibliotheek@demo.stappenplan.nl")
    page = client.get("/start?zoek=kabouter").get_data(as_text=True)
    assert "1 van 3 samenwerkingen" in page and "Peuteropvang Hummeltje</span>" not in page
    page = client.get("/start?status=wacht-op-partner").get_data(as_text=True)
    assert "Kindcentrum Het Kabouterhuis</span>" in page and "Peuteropvang Hummeltje</span>" not in page
    page = client.get("/start?situatie=3").get_data(as_text=True)
    assert "1 van 3" in page
    partial = client.get("/start?sorteer=naam", headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="results"') and "<html" not in body
    assert body.index("Kindcentrum") < body.index("Kinderopvang De Vlinder") < body.index("Peuteropvang")
    assert "HX-Request" in partial.headers["Vary"]
    # nonsense values are ignored, never an error
    for query in ("pagina=-4", "pagina=abc", "status=<script>", "situatie=9", "sorteer=x", "zoek=" + "a" * 500):
        assert client.get(f"/start?{query}").status_code == 200


def test_pagination(app: Flask) -> None:
    with app.app_context():
        lib = make_org("Grote Bieb", "library")
        admin = make_user(lib, "grote@bieb.nl")
        for i in range(45):
            make_partnership(lib, make_org(f"Opvang {i:02d}", "childcare"), admin)
        db.session.commit()
    client = app.test_client()
    login(client, "grote@bieb.nl")
    first = client.get("/start?sorteer=naam").get_data(as_text=True)
    assert "Pagina 1 van 3" in first and 'plist__title">Opvang 00<' in first
    assert 'plist__title">Opvang 20<' not in first
    third = client.get("/start?sorteer=naam&pagina=3").get_data(as_text=True)
    assert 'plist__title">Opvang 44<' in third and 'plist__title">Opvang 00<' not in third
    assert "Pagina 3 van 3" in client.get("/start?pagina=99").get_data(as_text=True)


def test_activity_feed_with_load_more(app: Flask) -> None:
    with app.app_context():
        demo.seed()
        pid = db.session.scalar(select(Partnership.public_id).join(Partnership.childcare).where(
            Partnership.childcare.has(name="Peuteropvang Hummeltje")))
    client = _client(app, "bibliotheek@demo.stappenplan.nl")
    page = client.get(f"/samenwerkingen/{pid}").get_data(as_text=True)
    assert "Activiteit" in page and "Meer laden" in page and "rondde stap 6 af" in page
    import re

    more = re.search(r'hx-get="([^"]*activiteit\?voor=\d+)"', page).group(1).replace("&amp;", "&")
    older = client.get(more, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<li" in older and "<html" not in older
    assert client.get(more).status_code == 200  # without JavaScript: a page
    coordinator = _client(app, "coordinator@demo.stappenplan.nl")
    feed = coordinator.get(f"/samenwerkingen/{pid}/activiteit").get_data(as_text=True)
    assert "opmerking" not in feed  # coordinators see workflow events only
