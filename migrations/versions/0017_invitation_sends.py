"""invitation_sends: every invitation mail, first one or resend, for the daily cap

The cap counted invitations by their last send, so a resend was not counted (120 resends
of one invitation mailed one address 120 times) and five parallel requests all passed it.
Each mail is now a row; the count is taken under a lock on the organisation's row. Filled
from today's invitations: one row at their creation and, when resent since, one at their
last send. Row-level security: an organisation sees (and writes) only its own rows.

Revision ID: 0017_invitation_sends
Revises: 0016_practice
Create Date: 2026-12-07 17:26:11.445099

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_invitation_sends'
down_revision = '0016_practice'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('invitation_sends',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('new','resend')", name=op.f('ck_invitation_sends_kind')),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_invitation_sends_invitation_id_invitations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_invitation_sends_organisation_id_organisations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitation_sends'))
    )
    with op.batch_alter_table('invitation_sends', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitation_sends_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_index('ix_invitation_sends_org_sent', ['organisation_id', 'sent_at'], unique=False)

    op.execute("INSERT INTO invitation_sends (organisation_id, invitation_id, kind, sent_at) "
               "SELECT inviter_org_id, id, 'new', created_at FROM invitations")
    op.execute("INSERT INTO invitation_sends (organisation_id, invitation_id, kind, sent_at) "
               "SELECT inviter_org_id, id, 'resend', sent_at FROM invitations WHERE sent_at > created_at")
    if op.get_bind().dialect.name == 'postgresql':
        own = "app_bypass() OR organisation_id = app_org()"
        op.execute("ALTER TABLE invitation_sends ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_scope ON invitation_sends USING ({own}) WITH CHECK ({own})")



def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP POLICY IF EXISTS tenant_scope ON invitation_sends")
    with op.batch_alter_table('invitation_sends', schema=None) as batch_op:
        batch_op.drop_index('ix_invitation_sends_org_sent')
        batch_op.drop_index(batch_op.f('ix_invitation_sends_invitation_id'))

    op.drop_table('invitation_sends')
