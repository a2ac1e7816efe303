"""practice: what happens after the plan is agreed, apart from the plan's answers

Step 6's activities and step 7's actions become practice records once their step is
agreed (stappenplan/practice). This revision

- creates ``practice_records`` (one per planned activity or action, or an activity added
  during the year, or a round's note on all activities), ``practice_revisions`` (every
  accepted change) and ``reminder_marks`` (when an item was last reminded of);
- adds ``partnerships.practice_seq`` (the practice page's live feed), ``users.calendar_token``
  (the secret of a person's calendar feed) and the notification mode ``weekly``;
- moves today's facts out of the plan's cells into records: step 6's columns held, parents,
  children and worked, step 7's status and step 6's "wat werkte" question. An activity
  counts as held as the figures counted it until now (marked held, or its date passed).
  A row that a later round copied as a draft, with the same facts, is that same activity:
  it gets no second record, which ends the double count of round 2. The cells are then
  taken out of the current answers (their revisions keep the history); nothing else
  changes in the agreed plan, and no approval is touched.

Row-level security: as every partnership-scoped table (visible and writable only when its
partnership is), and coordinators write none of it.

Revision ID: 0016_practice
Revises: 0015_region_tally_partnerships
"""
import datetime as dt
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0016_practice'
down_revision = '0015_region_tally_partnerships'
branch_labels = None
depends_on = None

APP_ROLE = "stappenplan_app"
#: table -> (column, parent) as in 0006: a row is visible when its parent is.
SCOPED = {
    "practice_records": ("partnership_id", "partnerships"),
    "practice_revisions": ("record_id", "practice_records"),
    "reminder_marks": ("partnership_id", "partnerships"),
}
NOT_COORDINATOR = "app_bypass() OR (SELECT app_kind()) IS DISTINCT FROM 'coordination'"

#: The plan cells that were facts, per (step, question): they move to the records.
ACTIVITY_FACTS = ("held", "parents", "children", "worked")
ACTION_FACTS = ("status",)


def _policies():
    result = []
    for table, (column, parent) in SCOPED.items():
        visible = f"app_bypass() OR {column} IN (SELECT id FROM {parent})"
        result.append(("tenant_scope", table, f"USING ({visible}) WITH CHECK ({visible})"))
        result.append(("role_coordinator_insert", table, f"AS RESTRICTIVE FOR INSERT WITH CHECK ({NOT_COORDINATOR})"))
        result.append(("role_coordinator_update", table,
                       f"AS RESTRICTIVE FOR UPDATE USING ({NOT_COORDINATOR}) WITH CHECK ({NOT_COORDINATOR})"))
        result.append(("role_coordinator_delete", table, f"AS RESTRICTIVE FOR DELETE USING ({NOT_COORDINATOR})"))
    return result


def upgrade():
    op.create_table('reminder_marks',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('partnership_id', sa.Integer(), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['partnership_id'], ['partnerships.id'], name=op.f('fk_reminder_marks_partnership_id_partnerships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_reminder_marks'))
    )
    with op.batch_alter_table('reminder_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_marks_partnership_id'), ['partnership_id'], unique=False)

    op.create_table('practice_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('partnership_id', sa.Integer(), nullable=False),
    sa.Column('cycle_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('source_row', sa.String(length=60), nullable=True),
    sa.Column('in_plan', sa.Boolean(), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('who', sa.String(length=500), nullable=True),
    sa.Column('parents', sa.Integer(), nullable=True),
    sa.Column('children', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('first_seq', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('activity','action','note')", name=op.f('ck_practice_records_kind')),
    sa.CheckConstraint("status IN ('planned','held','cancelled','in_progress','done','dropped')", name=op.f('ck_practice_records_status')),
    sa.CheckConstraint('children IS NULL OR children >= 0', name=op.f('ck_practice_records_children')),
    sa.CheckConstraint('parents IS NULL OR parents >= 0', name=op.f('ck_practice_records_parents')),
    sa.ForeignKeyConstraint(['cycle_id'], ['cycles.id'], name=op.f('fk_practice_records_cycle_id_cycles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['partnership_id'], ['partnerships.id'], name=op.f('fk_practice_records_partnership_id_partnerships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_practice_records_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practice_records')),
    sa.UniqueConstraint('cycle_id', 'kind', 'source_row', name='uq_practice_records_cycle_kind_row'),
    sa.UniqueConstraint('public_id', name=op.f('uq_practice_records_public_id'))
    )
    with op.batch_alter_table('practice_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_practice_records_cycle_id'), ['cycle_id'], unique=False)
        batch_op.create_index('ix_practice_records_partnership_seq', ['partnership_id', 'seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_practice_records_updated_by_id'), ['updated_by_id'], unique=False)

    op.create_table('practice_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('party', sa.String(length=10), nullable=True),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['practice_records.id'], name=op.f('fk_practice_revisions_record_id_practice_records'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_practice_revisions_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practice_revisions'))
    )
    with op.batch_alter_table('practice_revisions', schema=None) as batch_op:
        batch_op.create_index('ix_practice_revisions_record_version', ['record_id', 'version'], unique=False)
        batch_op.create_index(batch_op.f('ix_practice_revisions_user_id'), ['user_id'], unique=False)

    op.add_column('partnerships', sa.Column('practice_seq', sa.Integer(), server_default='0', nullable=False))

    # A plain column and a unique index: no rebuild of "users" on SQLite.
    op.add_column('users', sa.Column('calendar_token', sa.String(length=64), nullable=True))
    op.create_index(op.f('ix_users_calendar_token'), 'users', ['calendar_token'], unique=True)

    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notification_preferences_mode'), type_='check')
        batch_op.create_check_constraint('mode', "mode IN ('direct','digest','weekly','off')")

    if op.get_bind().dialect.name == 'postgresql':
        for table in SCOPED:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for name, table, rest in _policies():
            op.execute(f"CREATE POLICY {name} ON {table} {rest}")
    _move_facts()


def downgrade():
    _restore_facts()
    if op.get_bind().dialect.name == 'postgresql':
        for name, table, _rest in _policies():
            op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
    op.execute("DELETE FROM notification_preferences WHERE mode = 'weekly'")
    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_notification_preferences_mode'), type_='check')
        batch_op.create_check_constraint('mode', "mode IN ('direct','digest','off')")
    op.drop_index(op.f('ix_users_calendar_token'), table_name='users')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('calendar_token')

    with op.batch_alter_table('partnerships', schema=None) as batch_op:
        batch_op.drop_column('practice_seq')

    with op.batch_alter_table('practice_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practice_revisions_user_id'))
        batch_op.drop_index('ix_practice_revisions_record_version')

    op.drop_table('practice_revisions')
    with op.batch_alter_table('practice_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practice_records_updated_by_id'))
        batch_op.drop_index('ix_practice_records_partnership_seq')
        batch_op.drop_index(batch_op.f('ix_practice_records_cycle_id'))

    op.drop_table('practice_records')
    with op.batch_alter_table('reminder_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_marks_partnership_id'))

    op.drop_table('reminder_marks')


# --------------------------------------------------------------------------- data

def _tables():
    meta = sa.MetaData()
    cycles = sa.Table("cycles", meta, sa.Column("id", sa.Integer), sa.Column("partnership_id", sa.Integer),
                      sa.Column("number", sa.Integer))
    instances = sa.Table("step_instances", meta, sa.Column("id", sa.Integer), sa.Column("cycle_id", sa.Integer),
                         sa.Column("step", sa.Integer), sa.Column("slot", sa.String), sa.Column("status", sa.String))
    answers = sa.Table("answers", meta, sa.Column("id", sa.Integer), sa.Column("step_instance_id", sa.Integer),
                       sa.Column("question", sa.String), sa.Column("value", sa.JSON),
                       sa.Column("updated_by_id", sa.Integer), sa.Column("updated_at", sa.DateTime))
    records = sa.Table("practice_records", meta, *(sa.Column(name, kind) for name, kind in (
        ("id", sa.Integer), ("public_id", sa.String), ("partnership_id", sa.Integer), ("cycle_id", sa.Integer),
        ("kind", sa.String), ("source_row", sa.String), ("in_plan", sa.Boolean), ("title", sa.String),
        ("date", sa.Date), ("status", sa.String), ("who", sa.String), ("parents", sa.Integer),
        ("children", sa.Integer), ("note", sa.Text), ("version", sa.Integer), ("seq", sa.Integer), ("first_seq", sa.Integer),
        ("created_at", sa.DateTime), ("updated_at", sa.DateTime), ("updated_by_id", sa.Integer))))
    revisions = sa.Table("practice_revisions", meta, *(sa.Column(name, kind) for name, kind in (
        ("record_id", sa.Integer), ("version", sa.Integer), ("values", sa.JSON), ("user_id", sa.Integer),
        ("party", sa.String), ("kind", sa.String), ("created_at", sa.DateTime))))
    partnerships = sa.Table("partnerships", meta, sa.Column("id", sa.Integer), sa.Column("practice_seq", sa.Integer))
    return cycles, instances, answers, records, revisions, partnerships


def _date(raw):
    if not isinstance(raw, str):
        return None
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        return None


def _count(raw):
    return int(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) and raw >= 0 else None


def _text(raw):
    return raw if isinstance(raw, str) and raw.strip() else None


def _facts_rows(conn):
    cycles, instances, answers, *_rest = _tables()
    return conn.execute(
        sa.select(answers.c.id, answers.c.question, answers.c.value, answers.c.updated_by_id, answers.c.updated_at,
                  instances.c.step, instances.c.status, cycles.c.id.label("cycle_id"), cycles.c.partnership_id)
        .join(instances, instances.c.id == answers.c.step_instance_id)
        .join(cycles, cycles.c.id == instances.c.cycle_id)
        .where(instances.c.slot == "joint",
               ((instances.c.step == 6) & answers.c.question.in_(("activities", "what_worked")))
               | ((instances.c.step == 7) & (answers.c.question == "action_schema")))
        .order_by(cycles.c.partnership_id, cycles.c.number, answers.c.id)
    ).all()


def _move_facts():
    conn = op.get_bind()
    _cycles, _instances, answers, records, revisions, partnerships = _tables()
    today = dt.date.today()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    seen = {}  # (partnership, kind, row) -> what an earlier round recorded
    seqs = {}
    stripped = []

    def add(row, kind, source_row, values):
        seqs[row.partnership_id] = seqs.get(row.partnership_id, 0) + 1
        record_id = conn.execute(records.insert().values(
            public_id=secrets.token_urlsafe(16), partnership_id=row.partnership_id, cycle_id=row.cycle_id, kind=kind,
            source_row=source_row, in_plan=True, version=1, seq=seqs[row.partnership_id],
            first_seq=seqs[row.partnership_id],
            created_at=row.updated_at or now, updated_at=row.updated_at or now, updated_by_id=row.updated_by_id,
            **values).returning(records.c.id)).scalar_one()
        snapshot = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in values.items()}
        conn.execute(revisions.insert().values(record_id=record_id, version=1, values=snapshot,
                                               user_id=row.updated_by_id, party=None, kind="migration",
                                               created_at=now))

    for row in _facts_rows(conn):
        value = row.value
        agreed = row.status == "completed"
        if row.question == "what_worked":
            text = _text(value)
            key = (row.partnership_id, "note", "what_worked")
            if row.status != "locked" and text and seen.get(key) != text:
                add(row, "note", "what_worked", {"title": "", "status": "planned", "note": text})
            seen[key] = text
            continue
        kind, facts = ("activity", ACTIVITY_FACTS) if row.question == "activities" else ("action", ACTION_FACTS)
        cleaned, changed = [], False
        for item in value if isinstance(value, list) else []:
            cells = dict(item.get("cells") or {}) if isinstance(item, dict) else {}
            if any(k in cells for k in facts):
                changed = True
            if isinstance(item, dict):
                cleaned.append({**item, "cells": {k: v for k, v in cells.items() if k not in facts}})
            if row.status == "locked" or not isinstance(item, dict) or not item.get("id"):
                continue
            key = (row.partnership_id, kind, str(item["id"]))
            if kind == "activity":
                when = _date(cells.get("date"))
                held = cells.get("held") == "held" or (when is not None and when < today)
                values = {"title": str(cells.get("activity") or "")[:500], "date": when,
                          "status": "held" if held else "planned", "parents": _count(cells.get("parents")),
                          "children": _count(cells.get("children")), "note": _text(cells.get("worked"))}
                has_facts = held or any(values[k] is not None for k in ("parents", "children", "note"))
            else:
                status = cells.get("status") if cells.get("status") in ("planned", "in_progress", "done") else "planned"
                values = {"title": str(cells.get("action") or "")[:500], "date": _date(cells.get("deadline")),
                          "who": _text(cells.get("who")), "status": status}
                has_facts = status != "planned"
            if seen.get(key) == values:
                # Last round's row copied into this round: its facts are last round's. Agreed
                # again, it is planned anew (without those facts); otherwise it is nothing yet.
                if agreed:
                    fresh = {**values, "status": "planned"}
                    for k in ("parents", "children", "note"):
                        fresh.pop(k, None)
                    if kind == "activity":
                        fresh["date"] = None
                    add(row, kind, str(item["id"]), fresh)
                continue
            if agreed or has_facts:
                add(row, kind, str(item["id"]), values)
                seen[key] = values
        if changed:
            stripped.append((row.id, cleaned))
    for answer_id, cleaned in stripped:
        conn.execute(answers.update().where(answers.c.id == answer_id).values(value=cleaned))
    for partnership_id, seq in seqs.items():
        conn.execute(partnerships.update().where(partnerships.c.id == partnership_id).values(practice_seq=seq))


def _restore_facts():
    """Downgrade: the newest facts go back into the cells of their plan rows."""
    conn = op.get_bind()
    cycles, instances, answers, records, *_rest = _tables()
    facts = {}
    for rec in conn.execute(sa.select(records).where(records.c.source_row.is_not(None))):
        facts[(rec.cycle_id, rec.kind, rec.source_row)] = rec
    for row in _facts_rows(conn):
        if row.question == "what_worked":
            continue
        kind = "activity" if row.question == "activities" else "action"
        items = row.value if isinstance(row.value, list) else []
        restored = []
        for item in items:
            rec = facts.get((row.cycle_id, kind, str(item.get("id")))) if isinstance(item, dict) else None
            if rec is None:
                restored.append(item)
                continue
            cells = dict(item.get("cells") or {})
            if kind == "activity":
                cells["held"] = "held" if rec.status == "held" else "planned"
                for name, value in (("parents", rec.parents), ("children", rec.children), ("worked", rec.note)):
                    if value is not None:
                        cells[name] = value
            else:
                cells["status"] = rec.status if rec.status in ("planned", "in_progress", "done") else "planned"
            restored.append({**item, "cells": cells})
        if restored != items:
            conn.execute(answers.update().where(answers.c.id == row.id).values(value=restored))
