"""region requests: joining a region is a request that a coordinator of the region decides

Before, any self-registered library could put itself in a region and so in the
coordinator's figures and exports. A branch now asks; only an accepted request adds the
region membership. At most one request per branch is pending (a partial unique index).
Notifications get the kind ``region`` (a request made, a request decided).

PostgreSQL: row-level security like 0006 — a request is visible to the branch that made
it and to the coordination organisation of its region.

Revision ID: 0011_region_requests
Revises: 0010_email_confirmed
Create Date: 2026-12-01 04:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0011_region_requests'
down_revision = '0010_email_confirmed'
branch_labels = None
depends_on = None

VISIBLE = ("app_bypass() OR library_id = app_org() "
           "OR region_id IN (SELECT id FROM regions WHERE coordination_id = app_org())")
KINDS_OLD = "kind IN ('step_opened','signoff','mention','reminder')"
KINDS_NEW = "kind IN ('step_opened','signoff','mention','reminder','region')"


def upgrade():
    op.create_table(
        'region_requests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=32), nullable=False),
        sa.Column('library_id', sa.Integer(), nullable=False),
        sa.Column('region_id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('pending','accepted','declined','withdrawn')",
                           name=op.f('ck_region_requests_status')),
        sa.ForeignKeyConstraint(['library_id'], ['organisations.id'],
                                name=op.f('fk_region_requests_library_id_organisations'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['region_id'], ['regions.id'],
                                name=op.f('fk_region_requests_region_id_regions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['requested_by_id'], ['users.id'],
                                name=op.f('fk_region_requests_requested_by_id_users'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'],
                                name=op.f('fk_region_requests_decided_by_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_region_requests')),
        sa.UniqueConstraint('public_id', name=op.f('uq_region_requests_public_id')),
    )
    pending = sa.text("status = 'pending'")
    with op.batch_alter_table('region_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_requests_library_id'), ['library_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_region_requests_region_id'), ['region_id'], unique=False)
        batch_op.create_index('uq_region_requests_pending', ['library_id'], unique=True,
                              postgresql_where=pending, sqlite_where=pending)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_notifications_kind'), KINDS_NEW)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE region_requests ENABLE ROW LEVEL SECURITY")
        op.execute("DROP POLICY IF EXISTS tenant_scope ON region_requests")
        op.execute(f"CREATE POLICY tenant_scope ON region_requests USING ({VISIBLE}) WITH CHECK ({VISIBLE})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS tenant_scope ON region_requests")
    op.execute("DELETE FROM notifications WHERE kind = 'region'")
    op.execute("DELETE FROM notification_preferences WHERE kind = 'region'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_notifications_kind'), KINDS_OLD)
    with op.batch_alter_table('region_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_region_requests_pending')
        batch_op.drop_index(batch_op.f('ix_region_requests_region_id'))
        batch_op.drop_index(batch_op.f('ix_region_requests_library_id'))
    op.drop_table('region_requests')
