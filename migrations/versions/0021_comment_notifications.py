"""comment_notifications: a comment on a shared step is news for the partner organisation

Notifications get the kind ``comment``: the partner organisation's people hear of every
comment on a step both organisations share (those it names keep the ``mention`` kind).

Revision ID: 0021_comment_notifications
Revises: 0020_invitation_declined
Create Date: 2026-12-07 20:10:00

"""
from alembic import op


revision = '0021_comment_notifications'
down_revision = '0020_invitation_declined'
branch_labels = None
depends_on = None

KINDS_OLD = "kind IN ('step_opened','signoff','mention','reminder','region')"
KINDS_NEW = "kind IN ('step_opened','signoff','mention','comment','reminder','region')"


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_notifications_kind'), KINDS_NEW)


def downgrade():
    op.execute("DELETE FROM notifications WHERE kind = 'comment'")
    op.execute("DELETE FROM notification_preferences WHERE kind = 'comment'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notifications_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_notifications_kind'), KINDS_OLD)
