"""region_tally: counts only from a minimum number of partnerships

A branch with one partnership past step 5 showed that partnership's themes to the
coordinators, who may not read its records. The function now also counts the
partnerships behind the conversations, and gives counts only when at least
``p_min_partnerships`` of them lie behind them (config THEME_MIN_PARTNERSHIPS).

Revision ID: 0015_region_tally_partnerships
Revises: 0014_region_tally
"""
import importlib.util
from pathlib import Path

from alembic import op

revision = '0015_region_tally_partnerships'
down_revision = '0014_region_tally'
branch_labels = None
depends_on = None

APP_ROLE = "stappenplan_app"

FUNCTION = f"""
CREATE FUNCTION region_tally(p_question text, p_minimum integer, p_min_partnerships integer, p_options text[],
                             p_library integer)
RETURNS TABLE (conversations integer, partnerships integer, counts jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH visible AS (
    SELECT si.id, c.partnership_id FROM step_instances si
      JOIN cycles c ON c.id = si.cycle_id
      JOIN partnerships p ON p.id = c.partnership_id
     WHERE si.status <> 'locked' AND app_childcare_only(p_question)
       AND (app_bypass() OR (SELECT app_kind()) = 'coordination')
       AND p.library_id IN (SELECT rm.library_id FROM region_memberships rm
                              JOIN regions r ON r.id = rm.region_id WHERE r.coordination_id = app_org())
       AND (p_library IS NULL OR p.library_id = p_library)
  ), records AS (
    SELECT rec, v.partnership_id FROM answers a
      JOIN visible v ON v.id = a.step_instance_id
      CROSS JOIN LATERAL json_array_elements(CASE WHEN json_typeof(a.value) = 'array' THEN a.value
                                                  ELSE '[]'::json END) rec
     WHERE a.question = p_question
  ), total AS (
    SELECT count(*)::integer AS n, count(DISTINCT partnership_id)::integer AS partnerships FROM records
  )
  SELECT total.n, total.partnerships,
         CASE WHEN total.n >= greatest(p_minimum, 1) AND total.partnerships >= greatest(p_min_partnerships, 1) THEN (
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
REVOKE ALL ON FUNCTION region_tally(text, integer, integer, text[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION region_tally(text, integer, integer, text[], integer) TO {APP_ROLE};
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS region_tally(text, integer, text[], integer)")
    op.execute(FUNCTION)


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS region_tally(text, integer, integer, text[], integer)")
    op.execute(_previous().FUNCTION)


def _previous():
    """Migration 0014, whose function this one replaces (its file name is no module name)."""
    spec = importlib.util.spec_from_file_location("region_tally_0014", Path(__file__).with_name("0014_region_tally.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
