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

# table -> the function that decides whether a row is visible, and its column
SCOPED = {
    "partnerships": ("app_visible_partnership", "id"),
    "cycles": ("app_visible_partnership", "partnership_id"),
    "step_instances": ("app_visible_cycle", "cycle_id"),
    "sign_offs": ("app_visible_instance", "step_instance_id"),
    "answers": ("app_visible_instance", "step_instance_id"),
    "comment_threads": ("app_visible_instance", "step_instance_id"),
    "presence": ("app_visible_instance", "step_instance_id"),
    "answer_revisions": ("app_visible_answer", "answer_id"),
    "comments": ("app_visible_thread", "thread_id"),
    "comment_mentions": ("app_visible_comment", "comment_id"),
    "audit_events": ("app_visible_partnership", "partnership_id"),
    "notifications": ("app_visible_partnership", "partnership_id"),
    "invitations": ("app_visible_partnership", "partnership_id"),
}
NULLABLE = {"audit_events", "notifications", "invitations"}

FUNCTIONS = """
CREATE OR REPLACE FUNCTION app_org() RETURNS integer LANGUAGE sql STABLE AS $$
  SELECT NULLIF(current_setting('app.org_id', true), '')::integer
$$;
CREATE OR REPLACE FUNCTION app_bypass() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('app.bypass', true), '') = 'on'
$$;
CREATE OR REPLACE FUNCTION app_visible_partnership(pid integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT app_bypass() OR EXISTS (
    SELECT 1 FROM partnerships p
    WHERE p.id = pid AND (
      p.library_id = app_org() OR p.childcare_id = app_org()
      OR p.library_id IN (SELECT rm.library_id FROM region_memberships rm
                          JOIN regions r ON r.id = rm.region_id WHERE r.coordination_id = app_org())))
$$;
CREATE OR REPLACE FUNCTION app_visible_cycle(cid integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT app_bypass() OR EXISTS (SELECT 1 FROM cycles c WHERE c.id = cid AND app_visible_partnership(c.partnership_id))
$$;
CREATE OR REPLACE FUNCTION app_visible_instance(iid integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT app_bypass() OR EXISTS (SELECT 1 FROM step_instances s WHERE s.id = iid AND app_visible_cycle(s.cycle_id))
$$;
CREATE OR REPLACE FUNCTION app_visible_answer(aid integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT app_bypass() OR EXISTS (SELECT 1 FROM answers a WHERE a.id = aid AND app_visible_instance(a.step_instance_id))
$$;
CREATE OR REPLACE FUNCTION app_visible_thread(tid integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT app_bypass() OR EXISTS (SELECT 1 FROM comment_threads t WHERE t.id = tid
                                 AND app_visible_instance(t.step_instance_id))
$$;
CREATE OR REPLACE FUNCTION app_visible_comment(cid integer) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT app_bypass() OR EXISTS (SELECT 1 FROM comments c WHERE c.id = cid AND app_visible_thread(c.thread_id))
$$;
"""


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
    for table, (function, column) in SCOPED.items():
        visible = f"{function}({column})"
        if table in NULLABLE:
            visible = f"({column} IS NULL OR {visible})"
        check = visible
        if table == "partnerships":
            # A new partnership is not visible to a lookup by id within its own INSERT ... RETURNING,
            # so its own columns decide first; the function adds the coordinators' regions.
            check = "app_bypass() OR library_id = app_org() OR childcare_id = app_org()"
            visible = f"{check} OR {visible}"
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"DROP POLICY IF EXISTS tenant_scope ON {table}")
        op.execute(f"CREATE POLICY tenant_scope ON {table} USING ({visible}) WITH CHECK ({check})")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in SCOPED:
        op.execute(f"DROP POLICY IF EXISTS tenant_scope ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    for name in ("app_visible_comment", "app_visible_thread", "app_visible_answer", "app_visible_instance",
                 "app_visible_cycle"):
        op.execute(f"DROP FUNCTION IF EXISTS {name}(integer)")
    op.execute("DROP FUNCTION IF EXISTS app_visible_partnership(integer)")
    op.execute("DROP FUNCTION IF EXISTS app_org()")
    op.execute("DROP FUNCTION IF EXISTS app_bypass()")
