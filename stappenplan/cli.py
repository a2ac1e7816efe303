"""Flask CLI commands: demo data, regions and coordinators, the plan files' schema."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select, text

from .core import uow
from .extensions import db

#: The JSON Schema of the plan files, for plan authors and their editors (`flask plan-schema`).
PLAN_SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "plan.schema.json"


def register(app: Flask) -> None:
    from . import rls

    # Commands are system tasks: with row-level security on PostgreSQL they bypass it, explicitly.
    system = rls.allow_system_tasks

    @app.cli.command("seed-demo")
    @click.option("--partnerships", "partnerships", type=click.IntRange(min=0), default=0, show_default=True,
                  help="Maak daarnaast zoveel extra samenwerkingen in de demoregio (voor overzichten en tests).")
    def seed_demo(partnerships: int) -> None:
        """Load the demo data once and print the demo logins."""
        system()
        from . import demo

        # The demo's e-mails are kept in MAIL_DIR, not printed: the logins must stay readable.
        app.config["MAIL_CONSOLE_PRINT"] = False
        created = demo.seed()
        click.echo("Demodata geladen." if created else "Demodata stond er al.")
        if partnerships:
            from . import demo_bulk

            added = demo_bulk.generate(partnerships)
            click.echo(f"{added} extra samenwerkingen aangemaakt in {demo_bulk.REGION_NAME}.")
        uow.checkpoint()  # saved, and the demo's mails delivered, before the logins come last
        if partnerships and db.engine.dialect.name == "postgresql":
            # Fresh bulk rows have no planner statistics until autovacuum gets to them (never,
            # where it is off); without them the dashboard's queries took 20 instead of 5 ms.
            with db.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        if created and app.config["MAIL_BACKEND"] == "console":
            click.echo(f"De e-mails van de demo staan in {app.config['MAIL_DIR']}.")
        click.echo("")
        click.echo(demo.logins_table())
        click.echo("")

    @app.cli.command("notify-due")
    @click.option("--days", default=7, show_default=True, help="Hoeveel dagen vooruit.")
    def notify_due(days: int) -> None:
        """Reminders for deadlines and evaluation moments (for cron; safe to run twice)."""
        system()
        from .notifications.services import due_reminders

        made = due_reminders(days=days)
        click.echo(f"Herinneringen gemaakt: {made}.")

    @app.cli.command("send-digest")
    def send_digest() -> None:
        """Send the daily digest emails (for cron, once a day)."""
        system()
        from .notifications.services import send_digests

        click.echo(f"Overzichten verstuurd: {send_digests()}.")

    @app.cli.command("deliver")
    @click.option("--loop", is_flag=True, help="Blijf draaien en kijk elke INTERVAL seconden of er mail klaarstaat.")
    @click.option("--interval", default=10, show_default=True, type=click.IntRange(min=1))
    def deliver(loop: bool, interval: int) -> None:
        """Send the e-mail waiting in the outbox (retries with back-off; for a worker or cron)."""
        import time

        system()
        from .outbox.services import deliver as send

        while True:
            result = send()
            if result.sent or result.retried or result.dead or not loop:
                click.echo(f"{result.sent} verstuurd, {result.retried} later opnieuw, {result.dead} opgegeven.")
            if not loop:
                return
            time.sleep(interval)

    @app.cli.command("db-guard")
    def db_guard() -> None:
        """Renew the database's own guard from this app's settings (run as the owner of the
        tables, after changing SECRET_KEY or THEME_MIN_*): app_bypass() and app_theme_floor()."""
        if db.engine.dialect.name != "postgresql":
            click.echo("Alleen nodig op PostgreSQL (rijbeveiliging).")
            return
        for statement in rls.guard_sql(app):
            db.session.execute(text(statement))
        db.session.commit()
        click.echo("De bewaking van de database is bijgewerkt.")

    @app.cli.command("purge-records")
    def purge_records() -> None:
        """Remove step-5 conversation records past their retention period (for cron)."""
        system()
        from .privacy.services import purge_records as purge

        click.echo(f"Gespreksverslagen verwijderd: {purge()}.")

    @app.cli.command("create-region")
    @click.argument("name")
    @click.option("--coordination", "coordination", required=True,
                  help="Naam van de coördinerende organisatie (wordt aangemaakt als die niet bestaat).")
    def create_region(name: str, coordination: str) -> None:
        """Create a region and its coordination organisation."""
        system()
        from .organisations.models import Region
        from .organisations.services import create_region as create

        if db.session.scalar(select(Region).where(Region.name == name)):
            raise click.ClickException(f"Regio '{name}' bestaat al.")
        region = create(name, coordination)
        click.echo(f"Regio '{region.name}' aangemaakt, coördinatie: {region.coordination.name}.")

    @app.cli.command("invite-coordinator")
    @click.argument("region_name")
    @click.argument("email")
    @click.option("--admin/--member", default=True, help="Rol in de coördinerende organisatie.")
    def invite_coordinator(region_name: str, email: str, admin: bool) -> None:
        """Invite a coordinator (a user of the region's coordination organisation)."""
        system()
        from .core.forms import check_email
        from .organisations.models import Region
        from .partnerships.invitations import create_coordinator_invitation

        region = db.session.scalar(select(Region).where(Region.name == region_name))
        if region is None:
            raise click.ClickException(f"Regio '{region_name}' bestaat niet.")
        address = check_email(email)
        if address is None:
            raise click.ClickException(f"'{email}' is geen geldig e-mailadres.")
        link = create_coordinator_invitation(region, address, "admin" if admin else "member")
        click.echo(f"Uitnodiging verstuurd naar {address}.\nLink: {link}")

    @app.cli.group("plan")
    def plan_group() -> None:
        """Plan versions: move running partnerships to a newer version."""

    @plan_group.command("upgrade")
    @click.option("--to", "to", type=int, default=None, help="De versie (standaard: de nieuwste).")
    @click.option("--dry-run", is_flag=True, help="Alleen laten zien wat er zou gebeuren.")
    @click.option("--partnership", "partnership_id", default=None,
                  help="Alleen deze samenwerking (het id uit haar adres, of het nummer).")
    def plan_upgrade(to: int | None, dry_run: bool, partnership_id: str | None) -> None:
        """Move running partnerships to a newer plan version, one transaction each."""
        system()
        from .workflow import bulk_upgrade

        try:
            lines = bulk_upgrade.run(to, dry_run=dry_run, partnership_id=partnership_id, echo=click.echo)
        except bulk_upgrade.UpgradeError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(lines)

    @app.cli.command("plan-schema")
    @click.option("--output", "-o", default=str(PLAN_SCHEMA_FILE), show_default=True,
                  help="Waar het schema heen gaat; '-' drukt het af.")
    def plan_schema(output: str) -> None:
        """Write the JSON Schema of the plan files, so editors can check a plan while it is written."""
        from .workflow.plan_model import plan_json_schema

        schema = plan_json_schema()
        if output == "-":
            click.echo(schema, nl=False)
            return
        Path(output).write_text(schema, encoding="utf-8")
        click.echo(f"Schema geschreven naar {output}.")
