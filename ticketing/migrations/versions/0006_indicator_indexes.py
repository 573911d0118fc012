"""indicator indexes: cohorts by creation date (overall and per department), the backlog, events by kind

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:10:00
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_created', ['created_at'], unique=False)
        batch_op.create_index('ix_tickets_department_created', ['department_id', 'created_at'], unique=False)
        batch_op.create_index('ix_tickets_backlog', ['status', 'department_id', 'created_at', 'due_at'],
                              unique=False)
        batch_op.create_index('ix_tickets_updated', ['updated_at'], unique=False)
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_events_kind', ['kind', 'ticket_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_events_kind')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_updated')
        batch_op.drop_index('ix_tickets_backlog')
        batch_op.drop_index('ix_tickets_department_created')
        batch_op.drop_index('ix_tickets_created')
