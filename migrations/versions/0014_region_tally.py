"""region_tally: step 5's theme counts over a whole region, for its coordinators

Coordinators may not read step 5's conversation records (0013). Their region-wide
overview comes from this SECURITY DEFINER function: counts only, only for a
coordination organisation, only over the partnerships of its own regions (or one
branch of them), and only from the given minimum number of conversations on.

Revision ID: 0014_region_tally
Revises: 0013_role_rls
"""
from alembic import op

revision = '0014_region_tally'
down_revision = '0013_role_rls'
branch_labels = None
depends_on = None

APP_ROLE = "stappenplan_app"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION region_tally(p_question text, p_minimum integer, p_options text[], p_library integer)
RETURNS TABLE (conversations integer, counts jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH visible AS (
    SELECT si.id FROM step_instances si
      JOIN cycles c ON c.id = si.cycle_id
      JOIN partnerships p ON p.id = c.partnership_id
     WHERE si.status <> 'locked' AND app_childcare_only(p_question)
       AND (app_bypass() OR (SELECT app_kind()) = 'coordination')
       AND p.library_id IN (SELECT rm.library_id FROM region_memberships rm
                              JOIN regions r ON r.id = rm.region_id WHERE r.coordination_id = app_org())
       AND (p_library IS NULL OR p.library_id = p_library)
  ), records AS (
    SELECT rec FROM answers a
      JOIN visible v ON v.id = a.step_instance_id
      CROSS JOIN LATERAL json_array_elements(CASE WHEN json_typeof(a.value) = 'array' THEN a.value
                                                  ELSE '[]'::json END) rec
     WHERE a.question = p_question
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
REVOKE ALL ON FUNCTION region_tally(text, integer, text[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION region_tally(text, integer, text[], integer) TO {APP_ROLE};
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS region_tally(text, integer, text[], integer)")
