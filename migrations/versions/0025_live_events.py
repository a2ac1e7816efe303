"""live_events: every change an open worksheet must hear of announces itself in its transaction

PostgreSQL: triggers call ``pg_notify('stappenplan_live', '<instance> <kind> <seq>')``;
a notification is delivered at commit and never after a rollback. SQLite (no NOTIFY): the
same triggers write a row to ``live_events`` instead, which the stream service reads.
What is announced: a step instance's change-feed sequence or status (a save, a comment, a
reopened or completed step), a sign-off made or withdrawn, someone arriving, leaving or
moving to another field (not the routine refresh of a presence row), and a partnership's
practice sequence (a practice card changed: kind ``practice``, the partnership's id).

Revision ID: 0025_live_events
Revises: 0024_plan_upgrades
Create Date: 2026-12-07 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0025_live_events'
down_revision = '0024_plan_upgrades'
branch_labels = None
depends_on = None

CHANNEL = "stappenplan_live"

POSTGRES_UP = [
    f"""CREATE OR REPLACE FUNCTION live_announce(instance integer, kind text, seq integer) RETURNS void
        LANGUAGE sql AS $$ SELECT pg_notify('{CHANNEL}', instance || ' ' || kind || ' ' || seq) $$""",
    """CREATE OR REPLACE FUNCTION live_step_instance() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN PERFORM live_announce(NEW.id, 'sheet', NEW.content_version); RETURN NULL; END $$""",
    """CREATE TRIGGER live_step_instances AFTER UPDATE ON step_instances FOR EACH ROW
       WHEN (OLD.content_version IS DISTINCT FROM NEW.content_version OR OLD.status IS DISTINCT FROM NEW.status)
       EXECUTE FUNCTION live_step_instance()""",
    """CREATE OR REPLACE FUNCTION live_sign_off() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN PERFORM live_announce(OLD.step_instance_id, 'signoff', 0);
         ELSE PERFORM live_announce(NEW.step_instance_id, 'signoff', 0); END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER live_sign_offs AFTER INSERT OR DELETE ON sign_offs FOR EACH ROW
       EXECUTE FUNCTION live_sign_off()""",
    # A presence row's routine refresh (every ~20 s) is no news; arriving, leaving, another
    # field, or coming back after the row went stale (60 s) is.
    """CREATE OR REPLACE FUNCTION live_presence() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'DELETE' THEN PERFORM live_announce(OLD.step_instance_id, 'presence', 0);
         ELSIF TG_OP = 'INSERT' OR OLD.question IS DISTINCT FROM NEW.question
               OR NEW.seen_at > OLD.seen_at + interval '50 seconds' OR NEW.seen_at < OLD.seen_at THEN
           PERFORM live_announce(NEW.step_instance_id, 'presence', 0);
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER live_presence AFTER INSERT OR UPDATE OR DELETE ON presence FOR EACH ROW
       EXECUTE FUNCTION live_presence()""",
    """CREATE OR REPLACE FUNCTION live_practice() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN PERFORM live_announce(NEW.id, 'practice', NEW.practice_seq); RETURN NULL; END $$""",
    """CREATE TRIGGER live_practice AFTER UPDATE ON partnerships FOR EACH ROW
       WHEN (OLD.practice_seq IS DISTINCT FROM NEW.practice_seq) EXECUTE FUNCTION live_practice()""",
]

POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS live_practice ON partnerships",
    "DROP FUNCTION IF EXISTS live_practice()",
    "DROP TRIGGER IF EXISTS live_presence ON presence",
    "DROP TRIGGER IF EXISTS live_sign_offs ON sign_offs",
    "DROP TRIGGER IF EXISTS live_step_instances ON step_instances",
    "DROP FUNCTION IF EXISTS live_presence()",
    "DROP FUNCTION IF EXISTS live_sign_off()",
    "DROP FUNCTION IF EXISTS live_step_instance()",
    "DROP FUNCTION IF EXISTS live_announce(integer, text, integer)",
]


def _insert(instance: str, kind: str, seq: str = "0") -> str:
    return f"INSERT INTO live_events (instance_id, kind, seq) VALUES ({instance}, '{kind}', {seq});"


# SQLite drops a table's triggers when a batch migration copies the table: a later
# migration that alters one of these tables must create its trigger again
# (tests/test_live.py checks that all of them exist).
SQLITE_UP = [
    f"""CREATE TRIGGER live_step_instances AFTER UPDATE OF content_version, status ON step_instances
        WHEN OLD.content_version IS NOT NEW.content_version OR OLD.status IS NOT NEW.status
        BEGIN {_insert('NEW.id', 'sheet', 'NEW.content_version')} END""",
    f"CREATE TRIGGER live_sign_offs_insert AFTER INSERT ON sign_offs BEGIN {_insert('NEW.step_instance_id', 'signoff')} END",
    f"CREATE TRIGGER live_sign_offs_delete AFTER DELETE ON sign_offs BEGIN {_insert('OLD.step_instance_id', 'signoff')} END",
    f"CREATE TRIGGER live_presence_insert AFTER INSERT ON presence BEGIN {_insert('NEW.step_instance_id', 'presence')} END",
    f"CREATE TRIGGER live_presence_delete AFTER DELETE ON presence BEGIN {_insert('OLD.step_instance_id', 'presence')} END",
    f"""CREATE TRIGGER live_presence_update AFTER UPDATE ON presence
        WHEN OLD.question IS NOT NEW.question OR julianday(NEW.seen_at) - julianday(OLD.seen_at) > 50.0 / 86400
             OR NEW.seen_at < OLD.seen_at
        BEGIN {_insert('NEW.step_instance_id', 'presence')} END""",
    f"""CREATE TRIGGER live_practice AFTER UPDATE OF practice_seq ON partnerships
        WHEN OLD.practice_seq IS NOT NEW.practice_seq
        BEGIN {_insert('NEW.id', 'practice', 'NEW.practice_seq')} END""",
    # Keep the newest ~1,000 announcements (the stream service reads them within a second).
    """CREATE TRIGGER live_events_prune AFTER INSERT ON live_events WHEN NEW.id % 100 = 0
       BEGIN DELETE FROM live_events WHERE id <= NEW.id - 1000; END""",
]

SQLITE_TRIGGERS = ["live_practice", "live_events_prune", "live_presence_update", "live_presence_delete", "live_presence_insert",
                   "live_sign_offs_delete", "live_sign_offs_insert", "live_step_instances"]


def upgrade():
    op.create_table(
        'live_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_live_events')),
        sqlite_autoincrement=True,
    )
    dialect = op.get_bind().dialect.name
    for statement in POSTGRES_UP if dialect == "postgresql" else SQLITE_UP if dialect == "sqlite" else []:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for statement in POSTGRES_DOWN:
            op.execute(statement)
    elif dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table('live_events')
