"""reused_answers: an own step may start from the organisation's answers in another partnership

A step instance remembers the step instance it copied its answers from and when, so the
worksheet can say where they came from and which answers differ since.

Revision ID: 0023_reused_answers
Revises: 0022_prepared_partnerships
Create Date: 2026-12-07 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023_reused_answers'
down_revision = '0022_prepared_partnerships'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('step_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reused_from_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('reused_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_step_instances_reused_from_id_step_instances'), 'step_instances',
                                    ['reused_from_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('step_instances', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_step_instances_reused_from_id_step_instances'), type_='foreignkey')
        batch_op.drop_column('reused_at')
        batch_op.drop_column('reused_from_id')
