"""regions: a version that goes up whenever what the coordinators may see changes

Opt-in, opt-out and deleted branches or partners raise it in the same transaction; the
coordinator dashboard's per-process cache keys on it, so an opt-out shows at once.

Revision ID: 0009_region_version
Revises: 0008_login_throttle
Create Date: 2026-12-01 00:58:01

"""
from alembic import op
import sqlalchemy as sa


revision = '0009_region_version'
down_revision = '0008_login_throttle'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_column('version')
