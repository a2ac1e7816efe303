"""row-level security on the partnership-scoped tables (PostgreSQL only)

A second line of defence behind the application's own checks: the application
runs as the role ``stappenplan_app`` (no BYPASSRLS) and sets the organisation
of the current user per transaction (``app.org_id``); system tasks set
``app.bypass`` explicitly. Migrations run as the owner of the tables.

Revision ID: 0006_row_level_security
Revises: 0005_audit_pseudonym
"""
from alembic import op

revision = '0006_row_level_security'
down_revision = '0005_audit_pseudonym'
branch_labels = None
depends_on = None

APP_ROLE = "stappenplan_app"

# table -> (column, the table it points to). Each policy only admits rows whose parent is
# itself visible under that parent's policy, so the chain ends at partnerships. Plain
# IN (SELECT ...) subqueries let PostgreSQL plan semi-joins instead of a function call per row.
SCOPED = {
    "cycles": ("partnership_id", "partnerships"),
    "step_instances": ("cycle_id", "cycles"),
    "sign_offs": ("step_instance_id", "step_instances"),
    "answers": ("step_instance_id", "step_instances"),
    "comment_threads": ("step_instance_id", "step_instances"),
    "presence": ("step_instance_id", "step_instances"),
    "answer_revisions": ("answer_id", "answers"),
    "comments": ("thread_id", "comment_threads"),
    "comment_mentions": ("comment_id", "comments"),
    "audit_events": ("partnership_id", "partnerships"),
    "notifications": ("partnership_id", "partnerships"),
    "invitations": ("partnership_id", "partnerships"),
}
NULLABLE = {"audit_events", "notifications", "invitations"}
TABLES = ["partnerships", *SCOPED]

FUNCTIONS = """
CREATE OR REPLACE FUNCTION app_org() RETURNS integer LANGUAGE sql STABLE AS $$
  SELECT NULLIF(current_setting('app.org_id', true), '')::integer
$$;
CREATE OR REPLACE FUNCTION app_bypass() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('app.bypass', true), '') = 'on'
$$;
"""

PARTNERSHIP_OWN = "app_bypass() OR library_id = app_org() OR childcare_id = app_org()"
PARTNERSHIP_REGION = ("library_id IN (SELECT rm.library_id FROM region_memberships rm "
                      "JOIN regions r ON r.id = rm.region_id WHERE r.coordination_id = app_org())")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN NOBYPASSRLS;
      END IF;
    END $$;
    """)
    op.execute(f"GRANT {APP_ROLE} TO CURRENT_USER")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}")
    op.execute(FUNCTIONS)
    policies = {"partnerships": (f"{PARTNERSHIP_OWN} OR {PARTNERSHIP_REGION}", PARTNERSHIP_OWN)}
    for table, (column, parent) in SCOPED.items():
        visible = f"app_bypass() OR {column} IN (SELECT id FROM {parent})"
        if table in NULLABLE:
            visible = f"{column} IS NULL OR {visible}"
        policies[table] = (visible, visible)
    for table in TABLES:
        using, check = policies[table]
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"DROP POLICY IF EXISTS tenant_scope ON {table}")
        op.execute(f"CREATE POLICY tenant_scope ON {table} USING ({using}) WITH CHECK ({check})")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_scope ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION IF EXISTS app_org()")
    op.execute("DROP FUNCTION IF EXISTS app_bypass()")
