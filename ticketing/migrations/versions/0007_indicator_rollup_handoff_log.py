"""indicator rollup (indicator_day_state, indicator_days, indicator_day_hours), the handoff log, open tickets by date,
false-positive reopens

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:30:00
"""
import sqlalchemy as sa
from alembic import op

import ticketing.models

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_INT = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_COUNTS = ('reports', 'resolved', 'judged', 'on_time', 'open_overdue', 'ever_resolved', 'reopened_after_resolution',
           'asked', 'confirmed', 'rated', 'rating_sum', 'rating_1', 'rating_2', 'rating_3', 'rating_4', 'rating_5',
           'rerouted', 'open')


def _dt(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, ticketing.models.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table('handoff_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    _dt('requested_at', False), _dt('taken_at', True), _dt('first_reply_at', True), _dt('closed_at', True),
    sa.Column('closed_how', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'],
                            name=op.f('fk_handoff_log_conversation_id_conversations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handoff_log'))
    )
    with op.batch_alter_table('handoff_log', schema=None) as batch_op:
        batch_op.create_index('ix_handoff_log_conversation_open', ['conversation_id', 'closed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_handoff_log_requested_at'), ['requested_at'], unique=False)
    # The escalations still recorded on their conversations (the others were lost when handed back).
    op.execute(
        "INSERT INTO handoff_log (conversation_id, channel, reason, requested_at, first_reply_at) "
        "SELECT c.id, i.channel, c.handoff_reason, c.handoff_requested_at, "
        "(SELECT min(o.created_at) FROM outbox o WHERE o.identity_id = c.identity_id AND o.kind = 'staff_reply' "
        " AND o.created_at >= c.handoff_requested_at) "
        "FROM conversations c JOIN channel_identities i ON i.id = c.identity_id "
        "WHERE c.handoff_requested_at IS NOT NULL"
    )

    op.create_table('indicator_day_state',
    sa.Column('day', sa.Date(), nullable=False),
    _dt('starts_at', False), _dt('ends_at', False),
    sa.Column('dirty', sa.Boolean(), nullable=False),
    _dt('refreshed_at', True),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_indicator_day_state')),
    sa.UniqueConstraint('starts_at', name=op.f('uq_indicator_day_state_starts_at'))
    )
    op.create_table('indicator_days',
    sa.Column('id', _INT, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('category_code', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    *(sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS),
    sa.ForeignKeyConstraint(['day'], ['indicator_day_state.day'], name=op.f('fk_indicator_days_day_indicator_day_state'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                            name=op.f('fk_indicator_days_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_days'))
    )
    with op.batch_alter_table('indicator_days', schema=None) as batch_op:
        batch_op.create_index('ix_indicator_days_day', ['day', 'department_id'], unique=False)
    op.create_table('indicator_day_hours',
    sa.Column('id', _INT, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=False),
    sa.Column('category_code', sa.String(length=64), nullable=False),
    sa.Column('tenths', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['day'], ['indicator_day_state.day'],
                            name=op.f('fk_indicator_day_hours_day_indicator_day_state'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['department_id'], ['departments.id'],
                            name=op.f('fk_indicator_day_hours_department_id_departments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_indicator_day_hours'))
    )
    with op.batch_alter_table('indicator_day_hours', schema=None) as batch_op:
        batch_op.create_index('ix_indicator_day_hours_day', ['day', 'department_id'], unique=False)
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_open_created', ['created_at'], unique=False,
                              postgresql_where=sa.text('is_open IS true'), sqlite_where=sa.text('is_open IS 1'))
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index(
            'ix_ticket_events_false_positive', ['ticket_id'], unique=False,
            postgresql_where=sa.text("kind = 'reopened' AND (data ->> 'previous_reason') = 'resolved'"),
            sqlite_where=sa.text("kind = 'reopened' AND json_extract(data, '$.previous_reason') = 'resolved'"))


def downgrade() -> None:
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_events_false_positive')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_open_created')
    op.drop_table('indicator_day_hours')
    op.drop_table('indicator_days')
    op.drop_table('indicator_day_state')
    op.drop_table('handoff_log')
