"""prepared_partnerships: a partnership exists from the invitation on, for the inviter's own steps

An organisation that invites a partner can fill its own steps 1-3 at once, before the
partner accepts: the partnership is made with the invitation and waits for the invited
organisation (``awaiting_org_id``) until it accepts. Until then it is seen only by the
inviter (not by the invited organisation, nor by coordinators). An invited organisation
that is not on the platform yet is a placeholder (``organisations.placeholder``) with the
invitation's name and no members; accepting turns it into the real organisation.

Revision ID: 0022_prepared_partnerships
Revises: 0021_comment_notifications
Create Date: 2026-12-07 20:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022_prepared_partnerships'
down_revision = '0021_comment_notifications'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placeholder', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('partnerships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('awaiting_org_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_partnerships_awaiting_org_id_organisations'), 'organisations',
                                    ['awaiting_org_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_partnerships_awaiting_org_id'), ['awaiting_org_id'], unique=False)


def downgrade():
    with op.batch_alter_table('partnerships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partnerships_awaiting_org_id'))
        batch_op.drop_constraint(batch_op.f('fk_partnerships_awaiting_org_id_organisations'), type_='foreignkey')
        batch_op.drop_column('awaiting_org_id')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('placeholder')
