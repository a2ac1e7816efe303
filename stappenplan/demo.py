"""Demo data for `flask seed-demo`: a small region that shows every role."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from .accounts.models import User
from .accounts.passwords import hash_password
from .extensions import db
from .organisations.models import Membership, Organisation, Region, RegionMembership
from .partnerships import services as partnership_services
from .partnerships.invitations import PartnerEntry, invite_partners

PASSWORD = "demo-stappenplan-2026"
DOMAIN = "demo.stappenplan.nl"


@dataclass
class Login:
    email: str
    role: str


LOGINS = [
    Login(f"bibliotheek@{DOMAIN}", "Bibliotheek Tiel — beheerder (jeugd & educatie)"),
    Login(f"taalhuis@{DOMAIN}", "Bibliotheek Tiel — lid (Taalhuis)"),
    Login(f"culemborg@{DOMAIN}", "Bibliotheek Culemborg — beheerder"),
    Login(f"opvang@{DOMAIN}", "Kinderopvang De Vlinder — beheerder"),
    Login(f"kabouterhuis@{DOMAIN}", "Kindcentrum Het Kabouterhuis — beheerder"),
    Login(f"coordinator@{DOMAIN}", "Taalnetwerk Rivierenland — regionale coördinator"),
]


def _org(name: str, kind: str) -> Organisation:
    org = Organisation(name=name, kind=kind)
    db.session.add(org)
    return org


def _user(email: str, name: str, org: Organisation, role: str = "admin", team: str | None = None) -> User:
    user = User(email=email, name=name, password_hash=_hash())
    db.session.add(user)
    db.session.add(Membership(user=user, organisation=org, role=role, team=team))
    return user


_HASH: dict[str, str] = {}


def _hash() -> str:
    if "h" not in _HASH:
        _HASH["h"] = hash_password(PASSWORD)
    return _HASH["h"]


def already_seeded() -> bool:
    return db.session.scalar(select(User.id).where(User.email == LOGINS[0].email)) is not None


def seed() -> bool:
    """Create the demo data once; False when it was already there."""
    if already_seeded():
        return False
    _HASH.clear()
    coordination = _org("Taalnetwerk Rivierenland", "coordination")
    region = Region(name="Regio Rivierenland", coordination=coordination)
    db.session.add(region)
    tiel = _org("Bibliotheek Rivierenland – vestiging Tiel", "library")
    culemborg = _org("Bibliotheek Rivierenland – vestiging Culemborg", "library")
    childcare = {
        "vlinder": _org("Kinderopvang De Vlinder", "childcare"),
        "kabouterhuis": _org("Kindcentrum Het Kabouterhuis", "childcare"),
        "hummeltje": _org("Peuteropvang Hummeltje", "childcare"),
        "zonnestraal": _org("Kinderdagverblijf Zonnestraal", "childcare"),
        "regenboog": _org("KDV De Regenboog", "childcare"),
    }
    lib_admin = _user(LOGINS[0].email, "Sanne de Vries", tiel, "admin", "jeugd")
    _user(LOGINS[1].email, "Ahmed El Amrani", tiel, "member", "taalhuis")
    cul_admin = _user(LOGINS[2].email, "Joost Bakker", culemborg, "admin", "jeugd")
    vlinder_admin = _user(LOGINS[3].email, "Fatima Yilmaz", childcare["vlinder"])
    kabouter_admin = _user(LOGINS[4].email, "Lotte Jansen", childcare["kabouterhuis"])
    _user(f"hummeltje@{DOMAIN}", "Petra Smit", childcare["hummeltje"])
    _user(f"zonnestraal@{DOMAIN}", "Noor Hendriks", childcare["zonnestraal"])
    _user(LOGINS[5].email, "Marieke Visser", coordination)
    db.session.flush()
    db.session.add(RegionMembership(region=region, library=tiel))
    db.session.add(RegionMembership(region=region, library=culemborg))
    db.session.flush()

    start = partnership_services.start_partnership
    start(tiel, childcare["vlinder"], 2, lib_admin)
    start(tiel, childcare["kabouterhuis"], 3, lib_admin)
    start(tiel, childcare["hummeltje"], 2, lib_admin)
    start(culemborg, childcare["zonnestraal"], 2, cul_admin)
    start(culemborg, childcare["vlinder"], 1, vlinder_admin)
    del kabouter_admin
    db.session.commit()
    # One invitation still open, so the invitation list is not empty.
    invite_partners(cul_admin, [PartnerEntry(f"regenboog@{DOMAIN}", "KDV De Regenboog")], 2)
    return True
