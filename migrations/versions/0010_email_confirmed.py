"""users: email_confirmed_at — a self-registered account invites nobody before its address
is confirmed

Every account that exists already came in through an invitation link or the demo, so its
address counts as confirmed from its creation.

Revision ID: 0010_email_confirmed
Revises: 0009_region_version
Create Date: 2026-12-01 04:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_email_confirmed'
down_revision = '0009_region_version'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_confirmed_at', sa.DateTime(), nullable=True))
    op.execute("UPDATE users SET email_confirmed_at = created_at")


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('email_confirmed_at')
