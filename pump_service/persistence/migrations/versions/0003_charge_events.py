"""charge events: one row per charge, void or credit event, with its delivery state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:43:04.155619
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import pump_service.persistence.types


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('charge_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('original_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True),
    sa.Column('visit_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('refill_id', sa.Integer(), nullable=True),
    sa.Column('patient_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('service_date', sa.Date(), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('event', sa.JSON(), nullable=False),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('delivery_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.ForeignKeyConstraint(['refill_id'], ['refill.id'], name='fk_charge_event_refill_id_refill'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('charge_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_charge_event_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_event_delivery_status'), ['delivery_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_event_event_id'), ['event_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_charge_event_original_event_id'), ['original_event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_event_patient_ref'), ['patient_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_event_refill_id'), ['refill_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_event_service_date'), ['service_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_charge_event_visit_key'), ['visit_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('charge_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_charge_event_visit_key'))
        batch_op.drop_index(batch_op.f('ix_charge_event_service_date'))
        batch_op.drop_index(batch_op.f('ix_charge_event_refill_id'))
        batch_op.drop_index(batch_op.f('ix_charge_event_patient_ref'))
        batch_op.drop_index(batch_op.f('ix_charge_event_original_event_id'))
        batch_op.drop_index(batch_op.f('ix_charge_event_event_id'))
        batch_op.drop_index(batch_op.f('ix_charge_event_delivery_status'))
        batch_op.drop_index(batch_op.f('ix_charge_event_created_at'))

    op.drop_table('charge_event')
