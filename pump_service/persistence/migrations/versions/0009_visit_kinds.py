"""visit kinds: analysis, reprogramming, flush and abandoned visits beside refills

Revision ID: kinds_0006
Revises: clinics_0006
Create Date: 2026-12-01 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pump_service.persistence.types


revision: str = 'kinds_0006'
down_revision: str | None = 'clinics_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ADD/DROP COLUMN: a batch copy cannot drop a table that others reference (SQLite, FKs on).
_UTC = pump_service.persistence.types.UTCDateTime(timezone=True)


def _columns() -> list[sa.Column]:
    return [
        sa.Column('kind', sa.String(length=16), nullable=False, server_default='refill'),
        sa.Column('performed_at', _UTC, nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('abandon_reason', sa.String(length=500), nullable=True),
    ]


def upgrade() -> None:
    for column in _columns():
        op.add_column('visit', column)


def downgrade() -> None:
    for column in reversed(_columns()):
        op.drop_column('visit', column.name)
