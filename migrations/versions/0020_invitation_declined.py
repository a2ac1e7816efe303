"""invitation_declined: an organisation already on the platform can decline in the app

An invitation for a partnership could be accepted only through its mail link; an admin of
an organisation that has an account now accepts or declines it from the start page. A
declined invitation keeps its row (the inviter's list says "Afgeslagen").

Revision ID: 0020_invitation_declined
Revises: 0019_theme_snapshots
Create Date: 2026-12-07 19:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020_invitation_declined'
down_revision = '0019_theme_snapshots'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declined_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_column('declined_at')
