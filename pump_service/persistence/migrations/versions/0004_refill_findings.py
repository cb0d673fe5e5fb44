"""refill findings and overrides, planning-rate source and forecast, pump flow ratio, visit register

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pump_service.persistence.types


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('refill') as batch:
        batch.add_column(sa.Column('findings', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('override', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('register_ml', sa.Float(), nullable=True))
        batch.add_column(sa.Column('planning_rate_source', sa.String(length=16), nullable=False, server_default='model'))
        batch.add_column(sa.Column('dosing_rate_ml_per_day', sa.Float(), nullable=True))
        batch.add_column(sa.Column('alarm_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('empty_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('booked_appointment_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('pump') as batch:
        batch.add_column(sa.Column('flow_ratio', sa.Float(), nullable=True))
    with op.batch_alter_table('visit') as batch:
        batch.add_column(sa.Column('register_ml', sa.Float(), nullable=True))
        batch.add_column(sa.Column('register_read_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('visit') as batch:
        batch.drop_column('register_read_at')
        batch.drop_column('register_ml')
    with op.batch_alter_table('pump') as batch:
        batch.drop_column('flow_ratio')
    with op.batch_alter_table('refill') as batch:
        for name in ('booked_appointment_id', 'empty_at', 'alarm_at', 'dosing_rate_ml_per_day', 'planning_rate_source', 'register_ml',
                     'override', 'findings'):
            batch.drop_column(name)
