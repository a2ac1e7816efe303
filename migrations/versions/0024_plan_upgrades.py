"""plan_upgrades: a round remembers the plan version it moved from, and when

A running partnership can move to a newer plan version. Its current round then says
which version it came from, so the worksheets can mark the questions that are new and
the plan page can show answers to questions the new version no longer asks.

Revision ID: 0024_plan_upgrades
Revises: 0023_reused_answers
Create Date: 2026-12-07 23:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024_plan_upgrades'
down_revision = '0023_reused_answers'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cycles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('upgraded_from', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('upgraded_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('cycles', schema=None) as batch_op:
        batch_op.drop_column('upgraded_at')
        batch_op.drop_column('upgraded_from')
