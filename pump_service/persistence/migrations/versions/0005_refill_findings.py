"""refill findings and overrides, planning-rate source and forecast, pump flow ratio, visit register

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pump_service.persistence.types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ADD/DROP COLUMN (SQLite >= 3.35 has both): a batch copy cannot drop tables that others
# reference while foreign keys are enforced.
_UTC = pump_service.persistence.types.UTCDateTime(timezone=True)


def _columns() -> dict[str, list[sa.Column]]:
    return {
        'refill': [
            sa.Column('findings', sa.JSON(), nullable=False, server_default='[]'),
            sa.Column('override', sa.JSON(), nullable=True),
            sa.Column('register_ml', sa.Float(), nullable=True),
            sa.Column('planning_rate_source', sa.String(length=16), nullable=False, server_default='model'),
            sa.Column('dosing_rate_ml_per_day', sa.Float(), nullable=True),
            sa.Column('alarm_at', _UTC, nullable=True),
            sa.Column('empty_at', _UTC, nullable=True),
            sa.Column('booked_appointment_id', sa.Integer(), nullable=True),
        ],
        'pump': [sa.Column('flow_ratio', sa.Float(), nullable=True)],
        'visit': [sa.Column('register_ml', sa.Float(), nullable=True), sa.Column('register_read_at', _UTC, nullable=True)],
    }


def upgrade() -> None:
    for table, columns in _columns().items():
        for column in columns:
            op.add_column(table, column)


def downgrade() -> None:
    for table, columns in _columns().items():
        for column in reversed(columns):
            op.drop_column(table, column.name)
