"""login throttle: failed logins per e-mail address, shared by every app process

One row per address (a keyed hash of it) with the failures in a row and the moment until
which logins for it are refused (stappenplan/accounts/throttle.py); rows of addresses
quiet for a day are deleted. Not scoped to an
organisation: the address may belong to no account at all. PostgreSQL: the application
role gets its privileges through the default privileges of 0006.

Revision ID: 0008_login_throttle
Revises: 0007_outbox
Create Date: 2026-12-01 00:54:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008_login_throttle'
down_revision = '0007_outbox'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_throttles',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_failure_at', sa.DateTime(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttles')),
    )
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttles_last_failure_at'), ['last_failure_at'], unique=False)


def downgrade():
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttles_last_failure_at'))
    op.drop_table('login_throttles')
