"""public address cache: each ticket's published address (``ticketing.anonymise.public_address``), kept when the
address is written, with the key it was computed for (the rules' fingerprint and the address)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:30:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_address', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('public_address_key', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('public_address_key')
        batch_op.drop_column('public_address')
