"""open311 api keys, tickets by date

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 09:30:00.000000

ChannelKind gained ``web`` and ``open311``: the channel columns are VARCHAR(32) without a native enum or a CHECK
constraint, so the new values need no schema change.
"""
from alembic import op
import sqlalchemy as sa
import ticketing.models


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('open311_api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('key_sha256', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('created_at', ticketing.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', ticketing.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', ticketing.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_api_keys')),
    sa.UniqueConstraint('key_sha256', name=op.f('uq_open311_api_keys_key_sha256')),
    sa.UniqueConstraint('name', name=op.f('uq_open311_api_keys_name'))
    )


def downgrade() -> None:
    op.drop_table('open311_api_keys')
