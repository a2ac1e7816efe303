"""The guess whether a record label names a family (step 5 stays anonymous)."""

import pytest

from stappenplan.worksheets.identifying import ADDRESS, EMAIL, NAME, PHONE, POSTCODE, identifying_kinds


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Jan de Vries", NAME),
        ("Sanne Jansen", NAME),
        ("Fatima el Amrani", NAME),
        ("Gezin Jansen", NAME),
        ("gezin Öztürk", NAME),
        ("mevrouw Bakker", NAME),
        ("dhr. Yilmaz", NAME),
        ("Marie-Claire van der Berg-Smit", NAME),
        ("Dorpsstraat 12", ADDRESS),
        ("Kerkweg 3a", ADDRESS),
        ("woont Julianalaan 140", ADDRESS),
        ("1234 AB", POSTCODE),
        ("gezin uit 3511AB", POSTCODE),
        ("1234ab", POSTCODE),
        ("j.devries@example.nl", EMAIL),
        ("06-12345678", PHONE),
        ("020 123 4567", PHONE),
        ("+31 6 12345678", PHONE),
        ("0031 6 1234 5678", PHONE),
    ],
)
def test_names_addresses_and_contact_details_are_recognised(text: str, kind: str) -> None:
    assert kind in identifying_kinds(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        None,
        "Gezin A",
        "gezin b",
        "Gezin 12",
        "Familie 3",
        "Ouder 1, peuter",
        "Moeder en kind",
        "Gezin A (tweeling)",
        "Gezin C, thuistaal Turks",
        "Gezin A, gesprek 2024",
        "Gezin D, 06-2024",
        "Gesprek 3 september",
        "Vader van Gezin E",
        "Gezin F, 2 kinderen",
        "Gezin G 1234",
    ],
)
def test_anonymous_labels_are_left_alone(text: str | None) -> None:
    assert identifying_kinds(text) == []


def test_an_address_with_a_postcode_reports_both_and_no_name() -> None:
    kinds = identifying_kinds("Stationsplein 4, 1012 AB Amsterdam")
    assert POSTCODE in kinds and ADDRESS in kinds and NAME not in kinds
