"""reminders: a coordinator's reminder to both organisations of a stalled partnership

Row-level security as for the other partnership-scoped tables: a row is visible (and
may be written) only when its partnership is.

Revision ID: 0012_reminders
Revises: 0011_region_requests
Create Date: 2026-12-01 04:40:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012_reminders'
down_revision = '0011_region_requests'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'reminders',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=32), nullable=False),
        sa.Column('partnership_id', sa.Integer(), nullable=False),
        sa.Column('coordination_id', sa.Integer(), nullable=False),
        sa.Column('sent_by_id', sa.Integer(), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['coordination_id'], ['organisations.id'], name=op.f('fk_reminders_coordination_id_organisations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['partnership_id'], ['partnerships.id'], name=op.f('fk_reminders_partnership_id_partnerships'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sent_by_id'], ['users.id'], name=op.f('fk_reminders_sent_by_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminders')),
        sa.UniqueConstraint('public_id', name=op.f('uq_reminders_public_id')),
    )
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.create_index('ix_reminders_partnership_created', ['partnership_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_reminders_coordination_id'), ['coordination_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reminders_sent_by_id'), ['sent_by_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        visible = "app_bypass() OR partnership_id IN (SELECT id FROM partnerships)"
        op.execute("ALTER TABLE reminders ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_scope ON reminders USING ({visible}) WITH CHECK ({visible})")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP POLICY IF EXISTS tenant_scope ON reminders")
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminders_sent_by_id'))
        batch_op.drop_index(batch_op.f('ix_reminders_coordination_id'))
        batch_op.drop_index('ix_reminders_partnership_created')
    op.drop_table('reminders')
