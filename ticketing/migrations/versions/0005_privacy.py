"""privacy: privacy_requests (derechos ARCO), tickets.anonymised_at and the retention job's indexes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:10:00
"""
from alembic import op
import sqlalchemy as sa
import ticketing.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('privacy_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=20), nullable=True),
    sa.Column('requested_at', ticketing.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', ticketing.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=120), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_privacy_requests_citizen_id_citizens')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_requests'))
    )
    with op.batch_alter_table('privacy_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_requests_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index('ix_privacy_requests_status', ['kind', 'status'], unique=False)

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', ticketing.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_tickets_retention', ['anonymised_at', 'is_open', 'updated_at'], unique=False)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_created_at')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_created_at')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_retention')
        batch_op.drop_column('anonymised_at')

    with op.batch_alter_table('privacy_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_privacy_requests_status')
        batch_op.drop_index(batch_op.f('ix_privacy_requests_citizen_id'))

    op.drop_table('privacy_requests')
