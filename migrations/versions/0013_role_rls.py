"""row-level security per role: what a coordinator and a library may read and write

0006 limits every transaction to the partnerships of its organisation. This adds
restrictive policies (AND-ed with those) that look at the kind of that organisation
(``app_kind()``, from ``organisations``):

- step 5's conversation records (questions only the childcare organisation may see,
  ``app_childcare_only``) and the comments on them: childcare only;
- a coordination organisation reads answers, comments and presence of the shared
  steps once they are open (what its plan and worksheet pages show), the notifications
  of its own people (and only those it changes), and writes no partnership content;
- the theme counts of step 5 come from ``record_tally``: a SECURITY DEFINER function
  that returns counts only, only from the given minimum of conversations on, and only
  for a step the caller's organisation may see.

Revision ID: 0013_role_rls
Revises: 0012_reminders
"""
from alembic import op

revision = '0013_role_rls'
down_revision = '0012_reminders'
branch_labels = None
depends_on = None

APP_ROLE = "stappenplan_app"

#: Question keys whose answers only the childcare organisation may read (``visible_to:
#: childcare`` in the plan definitions; tests/test_rls.py checks the two agree).
CHILDCARE_ONLY = ("conversations",)

#: Tables a coordination organisation never writes. Not here: audit_events (its own
#: actions are audited, a deleted account is pseudonymised) and notifications (it
#: marks its own as read); invitations only where they belong to a partnership (its
#: admins invite colleagues).
COORDINATOR_READ_ONLY = (
    "partnerships", "cycles", "step_instances", "sign_offs", "answers", "answer_revisions",
    "comment_threads", "comments", "comment_mentions", "presence", "invitations",
)
#: Tables whose rows belong to one step instance and hold what was written in it.
COORDINATOR_SHARED_STEPS = ("answers", "comment_threads", "presence")
PRIVATE_QUESTION = ("answers", "comment_threads")

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION app_kind() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT kind FROM organisations WHERE id = app_org()
$$;
CREATE OR REPLACE FUNCTION app_childcare_only(question text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT question = ANY (ARRAY[{", ".join(f"'{key}'" for key in CHILDCARE_ONLY)}]::text[])
$$;
CREATE OR REPLACE FUNCTION record_tally(p_instance integer, p_question text, p_minimum integer,
                                        p_options text[])
RETURNS TABLE (conversations integer, counts jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH visible AS (
    SELECT 1 FROM step_instances si
      JOIN cycles c ON c.id = si.cycle_id
      JOIN partnerships p ON p.id = c.partnership_id
     WHERE si.id = p_instance AND si.status <> 'locked' AND app_childcare_only(p_question)
       AND (app_bypass() OR p.library_id = app_org() OR p.childcare_id = app_org()
            OR p.library_id IN (SELECT rm.library_id FROM region_memberships rm
                                  JOIN regions r ON r.id = rm.region_id WHERE r.coordination_id = app_org()))
  ), records AS (
    SELECT rec FROM answers a,
           json_array_elements(CASE WHEN json_typeof(a.value) = 'array' THEN a.value ELSE '[]'::json END) rec
     WHERE a.step_instance_id = p_instance AND a.question = p_question AND EXISTS (SELECT 1 FROM visible)
  ), total AS (
    SELECT count(*)::integer AS n FROM records
  )
  SELECT total.n,
         CASE WHEN total.n >= greatest(p_minimum, 1) THEN (
           SELECT coalesce(jsonb_object_agg(pick, (
             SELECT coalesce(sum(CASE json_typeof(cell)
                                   WHEN 'array' THEN (SELECT count(*) FROM json_array_elements_text(cell) e
                                                       WHERE e = split_part(pick, ':', 2))
                                   WHEN 'string' THEN (cell #>> '{{}}' = split_part(pick, ':', 2))::integer
                                   ELSE 0 END), 0)::integer
               FROM (SELECT rec -> 'cells' -> split_part(pick, ':', 1) AS cell FROM records) cells
           )), '{{}}'::jsonb)
             FROM unnest(p_options) AS pick
         ) END
    FROM total
$$;
REVOKE ALL ON FUNCTION record_tally(integer, text, integer, text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION record_tally(integer, text, integer, text[]) TO {APP_ROLE};
"""

# ``(SELECT app_kind())``: evaluated once per statement, not once per row.
NOT_COORDINATOR = "app_bypass() OR (SELECT app_kind()) IS DISTINCT FROM 'coordination'"
SHARED_STEP = "step_instance_id IN (SELECT id FROM step_instances WHERE slot = 'joint' AND status <> 'locked')"
PRIVATE = "app_bypass() OR NOT app_childcare_only(question) OR (SELECT app_kind()) = 'childcare'"
OWN_PEOPLE = "user_id IN (SELECT m.user_id FROM memberships m WHERE m.organisation_id = app_org())"


def _policies() -> list[tuple[str, str, str]]:
    """(name, table, the rest of CREATE POLICY) for every policy this revision adds."""
    result = []
    for table in PRIVATE_QUESTION:
        result.append(("role_childcare_only", table, f"AS RESTRICTIVE FOR ALL USING ({PRIVATE}) WITH CHECK ({PRIVATE})"))
    for table in COORDINATOR_SHARED_STEPS:
        result.append(("role_coordinator_read", table,
                       f"AS RESTRICTIVE FOR SELECT USING ({NOT_COORDINATOR} OR {SHARED_STEP})"))
    # FOR ALL: an UPDATE or DELETE without a WHERE on the table's columns does not
    # apply SELECT policies, and a coordinator touches only its own people's rows.
    own = f"{NOT_COORDINATOR} OR {OWN_PEOPLE}"
    result.append(("role_coordinator_own", "notifications", f"AS RESTRICTIVE FOR ALL USING ({own}) WITH CHECK ({own})"))
    for table in COORDINATOR_READ_ONLY:
        allowed = NOT_COORDINATOR + (" OR partnership_id IS NULL" if table == "invitations" else "")
        result.append(("role_coordinator_insert", table, f"AS RESTRICTIVE FOR INSERT WITH CHECK ({allowed})"))
        result.append(("role_coordinator_update", table,
                       f"AS RESTRICTIVE FOR UPDATE USING ({allowed}) WITH CHECK ({allowed})"))
        result.append(("role_coordinator_delete", table, f"AS RESTRICTIVE FOR DELETE USING ({allowed})"))
    return result


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTIONS)
    for name, table, rest in _policies():
        op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
        op.execute(f"CREATE POLICY {name} ON {table} {rest}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, _rest in _policies():
        op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS record_tally(integer, text, integer, text[])")
    op.execute("DROP FUNCTION IF EXISTS app_childcare_only(text)")
    op.execute("DROP FUNCTION IF EXISTS app_kind()")
