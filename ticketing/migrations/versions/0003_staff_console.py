"""staff console: sessions, login attempts, personal-data access log, conversation tickets, queue index

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:15:00
"""
from alembic import op
import sqlalchemy as sa
import ticketing.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('staff_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('created_at', ticketing.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', ticketing.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ticketing.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', ticketing.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_sessions_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sessions'))
    )
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sessions_staff_id'), ['staff_id'], unique=False)

    op.create_table('login_attempts',
    sa.Column('id', BIGID, nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('created_at', ticketing.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts'))
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_username_created', ['username', 'created_at'], unique=False)
        batch_op.create_index('ix_login_attempts_address_created', ['address', 'created_at'], unique=False)

    op.create_table('personal_data_access',
    sa.Column('id', BIGID, nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=True),
    sa.Column('identity_id', sa.Integer(), nullable=True),
    sa.Column('what', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=True),
    sa.Column('created_at', ticketing.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_personal_data_access_citizen_id_citizens')),
    sa.ForeignKeyConstraint(['identity_id'], ['channel_identities.id'], name=op.f('fk_personal_data_access_identity_id_channel_identities')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_personal_data_access_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_personal_data_access'))
    )
    with op.batch_alter_table('personal_data_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_personal_data_access_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_personal_data_access_staff_id'), ['staff_id'], unique=False)

    op.create_table('conversation_tickets',
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', BIGID, nullable=False),
    sa.Column('created_at', ticketing.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_tickets_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_conversation_tickets_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('conversation_id', name=op.f('pk_conversation_tickets'))
    )
    with op.batch_alter_table('conversation_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conversation_tickets_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_queue', ['department_id', 'is_open',
                                                   sa.text('coalesce(revised_due_at, due_at)')], unique=False)
        batch_op.create_index('ix_tickets_queue_category', ['department_id', 'is_open', 'category_code',
                                                            sa.text('coalesce(revised_due_at, due_at)')], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_queue_category')
        batch_op.drop_index('ix_tickets_queue')
    with op.batch_alter_table('conversation_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conversation_tickets_ticket_id'))
    op.drop_table('conversation_tickets')
    with op.batch_alter_table('personal_data_access', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_personal_data_access_staff_id'))
        batch_op.drop_index(batch_op.f('ix_personal_data_access_citizen_id'))
    op.drop_table('personal_data_access')
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_address_created')
        batch_op.drop_index('ix_login_attempts_username_created')
    op.drop_table('login_attempts')
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_sessions_staff_id'))
    op.drop_table('staff_sessions')
