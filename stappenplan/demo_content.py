"""Realistic Dutch demo answers, so a newcomer sees a living product."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .extensions import local_today

# The day where the organisations are, as practice and its tests reckon (the server's
# own date is a day off between midnight in Amsterdam and midnight UTC).
TODAY = local_today()


def _d(days: int) -> str:
    return (TODAY + timedelta(days=days)).isoformat()


OWN: dict[str, dict[int, dict[str, object]]] = {
    "library": {
        1: {
            "why": "We zien dat veel ouders van jonge kinderen de bibliotheek niet vinden. Via de kinderopvang "
                   "bereiken we gezinnen die we nu missen, ook ouders die moeite hebben met lezen en schrijven.",
            "benefit_children": "Meer voorlezen thuis en een rijkere woordenschat voordat ze naar school gaan.",
            "benefit_parents": "Vertrouwen om zelf voor te lezen en te praten met hun kind, "
                               "en de weg naar het Taalhuis.",
            "benefit_organisation": "Nieuwe leden en een stevige plek in het netwerk rond jonge kinderen.",
            "aims": ["language_development", "home_environment", "trust"],
            "low_literacy_knowledge": "In onze gemeente is ongeveer 1 op de 8 volwassenen laaggeletterd. "
                                      "Via de kinderopvang weten we nog weinig over de gezinnen zelf.",
            "youth_view": "Jeugd & educatie wil vooral ouders helpen om thuis voor te lezen (preventie).",
            "taalhuis_view": "Het Taalhuis ziet kansen om ouders die zelf willen leren te bereiken (curatie).",
            "support": {"value": 4, "remark": "Directie staat erachter; het team jeugd is enthousiast."},
        },
        2: {
            "current_activities": [
                {"id": "lib-a1", "cells": {"activity": "BoekStart-spreekuur", "for_whom": "Ouders met baby's",
                                           "frequency": "Maandelijks", "parents_reached": 25}},
                {"id": "lib-a2", "cells": {"activity": "Voorleesochtend", "for_whom": "Peuters en ouders",
                                           "frequency": "Wekelijks", "parents_reached": 12}},
            ],
            "contact_satisfaction": {"value": 3, "remark": "Goed met ouders die al komen, de rest missen we."},
            "reaching_low_literacy": "Nog te weinig. We werken met folders, maar die werken niet voor deze groep.",
            "staff_skills": ["interactive_reading", "refer_taalhuis"],
            "staff_skills_level": {"value": 3, "remark": ""},
            "in_policy": "deels",
            "ambitions": "Over een jaar werken we met drie kinderopvanglocaties samen en vinden 20 ouders via de "
                         "opvang de weg naar de bibliotheek of het Taalhuis.",
        },
        3: {
            "other_value": "De kinderopvang ziet de ouders elke dag en heeft hun vertrouwen.",
            "offer": ["expertise", "collection", "staff_training"],
            "offer_details": "Boekenkisten, training interactief voorlezen en een Taalhuis-medewerker "
                             "op ouderavonden.",
            "existing_cooperation": "We leveren al boekenkisten voor de groepen.",
            "obstacles": ["time", "reachability"],
            "commitment": "4 uur per week van de jeugdbibliothecaris",
            "contact_person": "{library}, jeugdbibliothecaris",
        },
    },
    "childcare": {
        1: {
            "why": "Ouders vragen ons hoe ze thuis met taal kunnen helpen. We willen ze beter ondersteunen.",
            "benefit_children": "Kinderen die thuis en op de opvang dezelfde boeken en liedjes leren.",
            "benefit_parents": "Ouders voelen zich gezien en weten waar ze hulp kunnen vinden.",
            "benefit_organisation": "Een sterkere band met ouders en meer kennis bij de pedagogisch medewerkers.",
            "aims": ["language_development", "parent_cooperation", "trust"],
            "low_literacy_knowledge": "We merken het soms aan formulieren die niet worden ingevuld.",
            "support": {"value": 3,
                        "remark": "De locatiemanager is enthousiast, het team moet nog overtuigd raken."},
        },
        2: {
            "current_activities": [
                {"id": "cc-a1", "cells": {"activity": "Koffieochtend", "for_whom": "Alle ouders",
                                          "frequency": "Eens per maand", "parents_reached": 8}},
            ],
            "contact_satisfaction": {"value": 4, "remark": "Bij het brengen en halen is er veel contact."},
            "reaching_low_literacy": "Persoonlijk aanspreken bij de deur werkt het best.",
            "staff_skills": ["parent_conversations"],
            "staff_skills_level": {"value": 2, "remark": "Laaggeletterdheid herkennen vinden we lastig."},
            "in_policy": "nee",
            "ambitions": "Elke groep leest dagelijks interactief voor en we houden twee keer per jaar een "
                         "ouderbijeenkomst samen met de bibliotheek.",
        },
        3: {
            "other_value": "De bibliotheek heeft kennis over voorlezen en kan ouders verder helpen.",
            "offer": ["space", "network", "parent_activities"],
            "offer_details": "Onze ouderruimte en de ouderavonden.",
            "obstacles": ["workload", "time"],
            "obstacles_details": "De werkdruk is hoog; plannen moet buiten de groepstijd.",
            "commitment": "2 uur per maand per groep",
            "contact_person": "{childcare}, locatiemanager",
        },
    },
}

JOINT: dict[int, dict[str, object]] = {
    4: {
        "shared_goals": [
            {"id": "goal-1", "cells": {"goal": "Ouders lezen thuis vaker voor",
                                       "indicator": "Uitleen van de boekenkist aan ouders verdubbelt",
                                       "deadline": _d(180)}},
            {"id": "goal-2", "cells": {"goal": "Ouders met taalvragen vinden het Taalhuis",
                                       "indicator": "10 doorverwijzingen via de opvang", "deadline": _d(300)}},
        ],
        "responsibilities": [
            {"id": "resp-1", "cells": {"task": "Ouderbijeenkomsten organiseren", "organisation": "both",
                                       "person": "{library_first} en {childcare_first}"}},
            {"id": "resp-2", "cells": {"task": "Boekenkist bijhouden", "organisation": "library",
                                       "person": "{library}"}},
        ],
        "target_parents": "Ouders van de peuters op onze peutergroepen.",
        "consultation_frequency": "monthly",
        "consultation": "Eens per maand een kort overleg op de opvang, na de voorleesochtend.",
        "agreement": "ja",
        "agreement_date": _d(-20),
    },
    5: {
        "approach": "Pedagogisch medewerkers nodigen ouders persoonlijk uit bij het halen. De gesprekken zijn "
                    "op de opvang, met koffie, zonder formulieren.",
        "conversations": [
            {"id": "rec-1", "cells": {"label": "Gezin A", "date": _d(-30),
                                      "proud": "Hun dochter zingt veel liedjes.",
                                      "activities_with_child": ["singing", "playing"],
                                      "support_wishes": ["reading_aloud", "learning_dutch"],
                                      "appealing_activities": "Samen zingen op de opvang",
                                      "home_language": "Arabisch"}},
            {"id": "rec-2", "cells": {"label": "Gezin B", "date": _d(-25), "proud": "Elke dag naar buiten.",
                                      "activities_with_child": ["outdoors", "screens"],
                                      "support_wishes": ["reading_aloud", "own_literacy"],
                                      "appealing_activities": "Voorlezen met prentenboeken",
                                      "home_language": "Nederlands"}},
            {"id": "rec-3", "cells": {"label": "Gezin C", "date": _d(-21), "proud": "Praat veel met zijn zoon.",
                                      "activities_with_child": ["talking", "reading_aloud"],
                                      "support_wishes": ["digital_skills"],
                                      "appealing_activities": "Bibliotheekbezoek", "home_language": "Pools"}},
            {"id": "rec-4", "cells": {"label": "Gezin D", "date": _d(-18), "proud": "Ze bakken samen koekjes.",
                                      "activities_with_child": ["reading_aloud", "singing"],
                                      "support_wishes": ["reading_aloud"],
                                      "appealing_activities": "Boekjes lenen", "home_language": "Turks"}},
            {"id": "rec-5", "cells": {"label": "Gezin E", "date": _d(-14), "proud": "Veel samen buiten spelen.",
                                      "activities_with_child": ["playing"],
                                      "support_wishes": ["learning_dutch", "own_literacy"],
                                      "appealing_activities": "Een taalcafé", "home_language": "Tigrinya"}},
            {"id": "rec-6", "cells": {"label": "Gezin F", "date": _d(-10), "proud": "Vertelt elke avond een verhaal.",
                                      "activities_with_child": ["talking"],
                                      "support_wishes": ["reading_aloud"],
                                      "appealing_activities": "Voorleesochtend", "home_language": "Nederlands"}},
        ],
        "learned": "Ouders willen graag voorlezen maar weten niet goed hoe. Liedjes en samen spelen spreken aan. "
                   "Een paar ouders willen zelf beter leren lezen.",
    },
    6: {
        "activities": [
            {"id": "act-1", "cells": {"activity": "Voorleesochtend voor ouders en peuters",
                                      "needs": ["reading_aloud", "language_development"],
                                      "audience": "parent_and_child", "organiser": "Bibliotheek",
                                      "timing": "Elke 2e dinsdag", "location": "Opvang", "date": _d(-14)}},
            {"id": "act-2", "cells": {"activity": "Liedjesmiddag", "needs": ["language_development"],
                                      "need": "Zingen in de eigen taal", "audience": "parent_and_child",
                                      "organiser": "Kinderopvang", "timing": "Maandelijks",
                                      "location": "Ouderruimte", "date": _d(21)}},
        ],
        "invitation": "Persoonlijk bij het halen, met een kaartje met plaatjes en weinig tekst.",
        "taalhuis_route": "De Taalhuis-medewerker komt mee naar de voorleesochtend en maakt een afspraak.",
    },
    7: {
        "action_schema": [
            {"id": "plan-1", "cells": {"action": "Training interactief voorlezen voor alle medewerkers",
                                       "theme": "staff_training", "who": "Bibliotheek", "deadline": _d(5),
                                       "secured": "Jaarlijks in het scholingsplan"}},
            {"id": "plan-2", "cells": {"action": "Ouderbetrokkenheid in het pedagogisch beleidsplan",
                                       "theme": "policy", "who": "Locatiemanager", "deadline": _d(60)}},
        ],
        "involve_staff": "Elke groep kiest een taalambassadeur; die deelt ervaringen in het teamoverleg.",
        # Version 1 asks these two apart; version 2 merges them into "embedding".
        "recorded_where": "In het jaarplan van de opvang en in het werkplan van de bibliotheek.",
        "funding": "Uit het budget voor ouderbetrokkenheid van de opvang en het leesbevorderingsbudget van de "
                   "bibliotheek.",
        "embedding": "We zetten de aanpak in het jaarplan van de opvang en in het werkplan van de bibliotheek. "
                     "Beide organisaties betalen uit hun eigen budget.",
    },
    8: {
        "evaluation_moments": [
            {"id": "eval-1", "cells": {"date": _d(6), "with_whom": ["staff", "partners"],
                                       "method": "conversation", "topic": "Halfjaarlijkse terugblik"}},
        ],
        "goal_progress": {"goal-1": {"value": 4, "remark": "Meer ouders lenen boeken."},
                          "goal-2": {"value": 2, "remark": "Twee doorverwijzingen; we willen er meer."}},
        "went_well": "Ouders komen vaker binnen en lenen meer boeken.",
        "parent_feedback": "Ouders vonden de voorleesochtend gezellig en laagdrempelig.",
        "next_round": "Een tweede locatie erbij betrekken en vaker samen met het Taalhuis.",
    },
}

#: What happened once steps 6 and 7 were agreed (practice records, by the plan row's id):
#: (party that records it, the fields as the practice form sends them).
PRACTICE: dict[str, tuple[str, dict[str, str]]] = {
    "act-1": ("childcare", {"status": "held", "date": _d(-14), "parents": "6", "children": "8",
                            "note": "Zes ouders kwamen. Samen een boek kiezen werkte goed."}),
    "plan-1": ("library", {"status": "in_progress", "who": "Bibliotheek", "date": _d(5), "note": ""}),
}
#: The round's note on all activities together.
PRACTICE_NOTE = "De voorleesochtend trok zes ouders. Ouders vroegen of ze de boeken mee naar huis mochten nemen."

COMMENTS: list[tuple[int, str, str, str]] = [
    # (step, question, party, text)
    (4, "shared_goals", "childcare", "Kunnen we het tweede doel wat kleiner maken? 10 doorverwijzingen is veel."),
    (4, "shared_goals", "library", "Goed punt. Zullen we 6 doen en na een half jaar kijken?"),
    (6, "activities", "library", "De Taalhuis-collega kan bij de liedjesmiddag aansluiten."),
]


def for_people(value: Any, library: str, childcare: str) -> Any:
    """The demo answers with the names of the partnership's own people in place of
    ``{library}``/``{childcare}`` (and their first names): each organisation's answers
    name its own contact, not another demo organisation's."""
    if isinstance(value, str):
        return (value.replace("{library_first}", library.split()[0]).replace("{childcare_first}", childcare.split()[0])
                .replace("{library}", library).replace("{childcare}", childcare))
    if isinstance(value, dict):
        return {k: for_people(v, library, childcare) for k, v in value.items()}
    if isinstance(value, list):
        return [for_people(v, library, childcare) for v in value]
    return value
