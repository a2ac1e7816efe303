"""Does a short text look like a name, an address or contact details?

Step 5's conversation records must stay anonymous ("Gezin A", never a name). People
type fast, so the worksheet warns next to the field when a label looks like it could
point to a family. It only warns: a guess is never a reason to refuse a save, and the
patterns will sometimes be wrong in both directions. Pure functions, no Flask.
"""

from __future__ import annotations

import re

from ..workflow.definition import N_

EMAIL = "email"
PHONE = "phone"
POSTCODE = "postcode"
ADDRESS = "address"
NAME = "name"

#: What the worksheet says per kind (msgids: translated where they are shown).
MESSAGES = {
    EMAIL: N_("Dit lijkt op een e-mailadres."),
    PHONE: N_("Dit lijkt op een telefoonnummer."),
    POSTCODE: N_("Dit lijkt op een postcode."),
    ADDRESS: N_("Dit lijkt op een adres."),
    NAME: N_("Dit lijkt op een naam."),
}

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Dutch numbers: 10 digits from a 0 (06-12345678, 020 123 4567), or +31 / 0031 and 9 digits.
_PHONE = re.compile(r"(?<![\w+])(?:(?:\+|00)31[\s-]?(?:\(0\)[\s-]?)?[1-9]|0[1-9])(?:[\s-]?\d){8}(?!\d)")
# 1234 AB (the letters SA, SD and SS are never used); lower case only without a space.
_POSTCODE = re.compile(r"\b[1-9]\d{3}(?: ?(?!SA|SD|SS)[A-Z]{2}|(?!sa|sd|ss)[a-z]{2})\b")
_STREET_WORDS = (
    "straat|laan|weg|plein|gracht|kade|singel|dijk|dreef|steeg|pad|hof|park|markt|plantsoen"
    "|baan|wal|erf|veld|ring|allee|boulevard|hoek"
)
# A word that ends in a street word, then a house number: "Dorpsstraat 12", "Kerkweg 3a".
_ADDRESS = re.compile(rf"\b\w*(?:{_STREET_WORDS})\.?\s+\d{{1,5}}(?:\s?[a-zA-Z])?\b", re.IGNORECASE)
# Words that may stand between a first name and a surname (Jan de Vries, Fatima el Amrani).
_INFIXES = {"van", "de", "der", "den", "het", "ten", "ter", "te", "op", "in", "'t", "el", "al", "la", "le", "da", "di",
            "du", "von", "bin", "ben"}
# Words after which a capitalised word is a name ("mevrouw Bakker", "Gezin Jansen", "moeder
# Fatima"); capitalised themselves they are not a name ("Vader van Gezin E").
_TITLES = {"mevrouw", "mevr", "mw", "meneer", "dhr", "heer", "fam", "familie", "gezin", "moeder", "vader", "ouder",
           "oma", "opa"}
_CAPITALISED = re.compile(r"^[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿ]+(?:[-'][A-ZÀ-ÖØ-Þa-zà-öø-ÿ][a-zà-öø-ÿ]+)*$")
_WORD = re.compile(r"[\w'-]+")


def _looks_like_name(text: str) -> bool:
    """Two capitalised words in a row, perhaps with "van der" between them.

    One capital letter ("Gezin A") is not a name; a capitalised word after "Gezin"
    ("Gezin Jansen") is, because it names the family.
    """
    previous_capitalised = False
    for word in _WORD.findall(text):
        if word.lower() in _TITLES:
            previous_capitalised = True
        elif _CAPITALISED.match(word):
            if previous_capitalised:
                return True
            previous_capitalised = True
        elif word.lower() in _INFIXES and previous_capitalised:
            continue
        else:
            previous_capitalised = False
    return False


def identifying_kinds(text: str | None) -> list[str]:
    """The kinds of identifying detail ``text`` seems to hold, most telling first."""
    if not text or not text.strip():
        return []
    kinds = []
    if _EMAIL.search(text):
        kinds.append(EMAIL)
    if _PHONE.search(text):
        kinds.append(PHONE)
    if _POSTCODE.search(text):
        kinds.append(POSTCODE)
    if _ADDRESS.search(text):
        kinds.append(ADDRESS)
    elif _looks_like_name(_EMAIL.sub(" ", text)):
        kinds.append(NAME)
    return kinds
