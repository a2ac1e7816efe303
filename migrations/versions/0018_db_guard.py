"""the database defends itself: no bypass without the app's secret, no counts below the floor

Until now ``app_bypass()`` was on whenever ``app.bypass`` said 'on', a setting the
application role may set itself; and the tally functions took their minimum from the
caller (asked with minimum 1 they gave one partnership's counts). Now:

- ``app_bypass()`` compares the SHA-256 of ``app.bypass`` with the hash of a value derived
  from the app's SECRET_KEY (``rls.bypass_token``); the database holds only the hash, so the
  role alone cannot switch its checks off. The app's system tasks send the value itself.
- ``app_theme_floor()`` holds the minimums (THEME_MIN_CONVERSATIONS and _PARTNERSHIPS at
  the time of the migration); ``record_tally`` and ``region_tally`` never count below them,
  whatever the caller asks. Both functions belong to the owner: the role cannot replace them.
  ``flask db-guard`` renews them after a change of SECRET_KEY or of the minimums.
- every policy calls ``(SELECT app_bypass())``: once per statement, not once per row.

Revision ID: 0018_db_guard
Revises: 0017_invitation_sends
"""
import importlib.util
from pathlib import Path

from alembic import op
from flask import current_app
from sqlalchemy import text


revision = '0018_db_guard'
down_revision = '0017_invitation_sends'
branch_labels = None
depends_on = None

OLD_BYPASS = """CREATE OR REPLACE FUNCTION app_bypass() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('app.bypass', true), '') = 'on'
$$;"""
FLOORS = (("greatest(p_minimum, 1)", "greatest(p_minimum, app_theme_floor('conversations'))"),
          ("greatest(p_min_partnerships, 1)", "greatest(p_min_partnerships, app_theme_floor('partnerships'))"))


def _migration(name):
    """An earlier migration, whose SQL this one builds on (their file names are no module names)."""
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tallies(floored):
    record = _migration("0013_role_rls").FUNCTIONS
    region = _migration("0015_region_tally_partnerships").FUNCTION
    for old, new in FLOORS:
        record, region = (record.replace(old, new), region.replace(old, new)) if floored else (record, region)
    return [record, "DROP FUNCTION IF EXISTS region_tally(text, integer, integer, text[], integer)", region]


def _policies(conn, old, new):
    """Every policy that calls ``old``, with ``new`` in its place."""
    rows = conn.execute(text("SELECT schemaname, tablename, policyname, qual, with_check FROM pg_policies "
                             "WHERE schemaname = 'public'")).all()
    for schema, table, name, qual, check in rows:
        parts = []
        if qual and old in qual:
            parts.append(f"USING ({qual.replace(old, new)})")
        if check and old in check:
            parts.append(f"WITH CHECK ({check.replace(old, new)})")
        if parts:
            op.execute(f'ALTER POLICY "{name}" ON {schema}.{table} ' + " ".join(parts))


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    from stappenplan import rls

    for statement in rls.guard_sql(current_app):
        op.execute(statement)
    for statement in _tallies(floored=True):
        op.execute(statement)
    _policies(op.get_bind(), "app_bypass()", "( SELECT app_bypass() AS app_bypass)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    _policies(op.get_bind(), "( SELECT app_bypass() AS app_bypass)", "app_bypass()")
    for statement in _tallies(floored=False):
        op.execute(statement)
    op.execute(OLD_BYPASS)
    op.execute("DROP FUNCTION IF EXISTS app_theme_floor(text)")
