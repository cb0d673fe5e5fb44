"""co-signatures (physician overrides, second-person checks) and the refill's record of them

Revision ID: cosign_0010
Revises: audit_0010
Create Date: 2026-12-02 00:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pump_service.persistence.types


revision: str = 'cosign_0010'
down_revision: str | None = 'audit_0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = pump_service.persistence.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'cosignature',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('pump_id', sa.Integer(), nullable=False),
        sa.Column('signer', sa.String(length=64), nullable=False),
        sa.Column('signer_role', sa.String(length=16), nullable=False),
        sa.Column('station_id', sa.String(length=64), nullable=False),
        sa.Column('requested_by', sa.String(length=64), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('expires_at', _UTC, nullable=False),
        sa.Column('used_by_refill_id', sa.Integer(), nullable=True),
        sa.Column('used_at', _UTC, nullable=True),
        sa.ForeignKeyConstraint(['pump_id'], ['pump.id']),
        sa.ForeignKeyConstraint(['used_by_refill_id'], ['refill.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_cosignature_pump_id'), 'cosignature', ['pump_id'], unique=False)
    # Plain ADD COLUMN: a batch copy cannot drop a table that others reference (SQLite, FKs on).
    op.add_column('refill', sa.Column('cosignatures', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column('refill', 'cosignatures')
    op.drop_index(op.f('ix_cosignature_pump_id'), table_name='cosignature')
    op.drop_table('cosignature')
