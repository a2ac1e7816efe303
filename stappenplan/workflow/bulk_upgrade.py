"""``flask plan upgrade``: move every running partnership (or one) to a newer plan version.

Each partnership is its own transaction (``uow.checkpoint`` after it), so a failure
half-way keeps what was done and a second run picks up the rest: a partnership already on
the version is reported and left alone. ``--dry-run`` computes the same report and
commits nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import or_, select

from ..core import uow
from ..extensions import db
from ..partnerships.models import Partnership
from .plan_loader import available_versions, latest_version
from .upgrading import NoUpgradePath, UpgradeReport, plan_upgrade


class UpgradeError(ValueError):
    """A bad request to the command (unknown version or partnership): nothing was changed."""


SLOT = {"library": "bibliotheek", "childcare": "kinderopvang", "joint": "samen"}


def _answers(n: int) -> str:
    return f"{n} antwoord" if n == 1 else f"{n} antwoorden"


def describe(report: UpgradeReport) -> str:
    """One partnership's report, in a few Dutch lines."""
    parts = []
    for step in report.steps:
        bits = []
        if step.moved:
            bits.append(f"{_answers(step.moved_answers)} naar een nieuwe vraag ("
                        + ", ".join(f"{SLOT[slot]}: {'+'.join(src)} → {'+'.join(dst)}"
                                    for slot, src, dst in step.moved) + ")")
        if step.retired:
            bits.append(f"{_answers(len(step.retired))} leesbaar als 'uit versie {report.from_version}' ("
                        + ", ".join(f"{SLOT[slot]}: {key}" for slot, key, _label in
                                    sorted(step.retired, key=lambda r: list(SLOT).index(r[0]))) + ")")
        if step.added:
            bits.append(f"nieuw: {', '.join(step.added)}")
        if step.new_required_in_completed:
            bits.append("nieuwe verplichte vraag in afgeronde stap (blijft afgerond): "
                        + ", ".join(step.new_required_in_completed))
        if bits:
            parts.append(f"    stap {step.number}: " + "; ".join(bits))
    return "\n".join(parts) if parts else "    geen antwoorden te verplaatsen"


def run(to: int | None, *, dry_run: bool, partnership_id: str | None, echo: Callable[[str], None]) -> str:
    """Upgrade (or with ``dry_run`` only report) and return the closing summary line."""
    target = latest_version() if to is None else to
    if target not in available_versions():
        raise UpgradeError(f"versie {target} bestaat niet (er zijn: "
                           f"{', '.join(str(v) for v in available_versions())})")
    stmt = select(Partnership).order_by(Partnership.id)
    if partnership_id is not None:
        clauses = [Partnership.public_id == partnership_id]
        if partnership_id.isdigit():
            clauses.append(Partnership.id == int(partnership_id))
        stmt = stmt.where(or_(*clauses))
    ids = [(p.id, p.public_id) for p in db.session.scalars(stmt)]
    if partnership_id is not None and not ids:
        raise UpgradeError(f"samenwerking '{partnership_id}' bestaat niet")
    done = already = failed = 0
    for pk, public_id in ids:
        partnership = db.session.get(Partnership, pk)
        assert partnership is not None
        name = f"{partnership.library.name} – {partnership.childcare.name}"
        try:
            report = plan_upgrade(partnership, target, apply=not dry_run, lock=True)
        except NoUpgradePath as exc:
            echo(f"{public_id} {name}: overgeslagen, {exc}")
            failed += 1
            continue
        if report is None:
            echo(f"{public_id} {name}: staat al op versie {target} of hoger")
            already += 1
        else:
            verb = "zou gaan" if dry_run else "ging"
            echo(f"{public_id} {name}: {verb} van versie {report.from_version} naar {report.to_version}")
            echo(describe(report))
            done += 1
        if dry_run:
            db.session.rollback()
        else:
            uow.checkpoint()
    what = "zouden worden bijgewerkt" if dry_run else "bijgewerkt"
    summary = f"{done} samenwerking(en) {what}, {already} stond(en) al op versie {target}"
    return summary + (f", {failed} overgeslagen" if failed else "") + "."
