"""theme_snapshots: step 5's theme counts are shown from snapshots (disclosure control)

A shown count changed with every new conversation, so whoever knew which family was just
spoken with learned its answers. Now a scope's counts (a partnership's overview, a
coordinator's region) are shown from its last snapshot, which is renewed only after at
least the minimum of conversations changed in at least the minimum of partnerships
(stappenplan/workflow/disclosure.py). ``region_tally`` also returns the conversations per
partnership (numbers only, never themes), so the app can tell where the change lies.

Row-level security: a partnership's snapshot is seen and written where its partnership is;
a region's only by its coordination organisation.

Revision ID: 0019_theme_snapshots
Revises: 0018_db_guard
Create Date: 2026-12-07 17:46:55.670022

"""
from alembic import op
import sqlalchemy as sa
import importlib.util
from pathlib import Path

APP_ROLE = "stappenplan_app"
VISIBLE = ("app_bypass() OR (partnership_id IS NOT NULL AND partnership_id IN (SELECT id FROM partnerships)) "
           "OR (partnership_id IS NULL AND coordination_id = app_org())")


def _region_tally(with_partnerships):
    """0015's region_tally with 0018's floors; with ``by_partnership`` as a fourth column."""
    spec = importlib.util.spec_from_file_location("db_guard_0018", Path(__file__).with_name("0018_db_guard.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    drop, create = module._tallies(floored=True)[1:]
    if with_partnerships:
        create = create.replace(
            "RETURNS TABLE (conversations integer, partnerships integer, counts jsonb)",
            "RETURNS TABLE (conversations integer, partnerships integer, counts jsonb, by_partnership jsonb)")
        create = create.replace(
            "         ) END\n    FROM total",
            "         ) END,\n         (SELECT coalesce(jsonb_object_agg(pid, n), '{}'::jsonb) FROM (\n"
            "            SELECT partnership_id AS pid, count(*) AS n FROM records GROUP BY partnership_id) per)\n"
            "    FROM total")
        assert "by_partnership" in create and "GROUP BY partnership_id" in create
    return [drop, create]


# revision identifiers, used by Alembic.
revision = '0019_theme_snapshots'
down_revision = '0018_db_guard'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('theme_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=80), nullable=False),
    sa.Column('partnership_id', sa.Integer(), nullable=True),
    sa.Column('coordination_id', sa.Integer(), nullable=True),
    sa.Column('by_partnership', sa.JSON(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('taken_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['coordination_id'], ['organisations.id'], name=op.f('fk_theme_snapshots_coordination_id_organisations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['partnership_id'], ['partnerships.id'], name=op.f('fk_theme_snapshots_partnership_id_partnerships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_theme_snapshots')),
    sa.UniqueConstraint('scope', name=op.f('uq_theme_snapshots_scope'))
    )
    with op.batch_alter_table('theme_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_theme_snapshots_coordination_id'), ['coordination_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_theme_snapshots_partnership_id'), ['partnership_id'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE theme_snapshots ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_scope ON theme_snapshots USING ({VISIBLE}) WITH CHECK ({VISIBLE})")
        for statement in _region_tally(with_partnerships=True):
            op.execute(statement)



def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP POLICY IF EXISTS tenant_scope ON theme_snapshots")
        for statement in _region_tally(with_partnerships=False):
            op.execute(statement)
    with op.batch_alter_table('theme_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_theme_snapshots_partnership_id'))
        batch_op.drop_index(batch_op.f('ix_theme_snapshots_coordination_id'))

    op.drop_table('theme_snapshots')
