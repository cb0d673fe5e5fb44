"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 15:26:10.167603
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import pump_service.persistence.types


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('patient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('body_mass_kg', sa.Float(), nullable=True),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_patient_ref'), ['patient_ref'], unique=True)

    op.create_table('pump',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('model_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('family', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('route', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('nominal_rate_ml_per_day', sa.Float(), nullable=True),
    sa.Column('implanted_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_fill_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_fill_volume_ml', sa.Float(), nullable=True),
    sa.Column('reservoir_ml', sa.Float(), nullable=True),
    sa.Column('reservoir_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('measured_rate_ml_per_day', sa.Float(), nullable=True),
    sa.Column('planning_rate_ml_per_day', sa.Float(), nullable=True),
    sa.Column('battery_state', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('months_to_eri', sa.Integer(), nullable=True),
    sa.Column('clock_drift_s', sa.Float(), nullable=True),
    sa.Column('alarms', sa.JSON(), nullable=False),
    sa.Column('next_due_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_due_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('updated_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pump', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pump_next_due_at'), ['next_due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pump_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pump_serial'), ['serial'], unique=True)

    op.create_table('condition_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pump_id', sa.Integer(), nullable=False),
    sa.Column('start_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('body_temperature_c', sa.Float(), nullable=False),
    sa.Column('ambient_pressure_mmhg', sa.Float(), nullable=False),
    sa.Column('relative_viscosity', sa.Float(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['pump_id'], ['pump.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pump_id', 'start_at')
    )
    with op.batch_alter_table('condition_period', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_condition_period_pump_id'), ['pump_id'], unique=False)

    op.create_table('device_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pump_id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('log_index', sa.Integer(), nullable=True),
    sa.Column('entry_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('device_time_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recorded_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['pump_id'], ['pump.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('pump_id', 'log_index')
    )
    with op.batch_alter_table('device_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_log_pump_id'), ['pump_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_log_recorded_at'), ['recorded_at'], unique=False)

    op.create_table('prescription',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pump_id', sa.Integer(), nullable=False),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('rate_ml_per_day', sa.Float(), nullable=True),
    sa.Column('steps', sa.JSON(), nullable=False),
    sa.Column('bolus_volume_ml', sa.Float(), nullable=True),
    sa.Column('bolus_max_per_day', sa.Integer(), nullable=True),
    sa.Column('daily_volume_ml', sa.Float(), nullable=False),
    sa.Column('rx_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('effective_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('superseded_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['pump_id'], ['pump.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('prescription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prescription_pump_id'), ['pump_id'], unique=False)

    op.create_table('refill',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('request_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('pump_id', sa.Integer(), nullable=False),
    sa.Column('performed_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('previous_fill_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('previous_fill_volume_ml', sa.Float(), nullable=True),
    sa.Column('returned_volume_ml', sa.Float(), nullable=False),
    sa.Column('syringe_resolution_ml', sa.Float(), nullable=True),
    sa.Column('fill_volume_ml', sa.Float(), nullable=False),
    sa.Column('body_mass_kg', sa.Float(), nullable=True),
    sa.Column('elapsed_days', sa.Float(), nullable=True),
    sa.Column('expected_residual_ml', sa.Float(), nullable=True),
    sa.Column('expected_rate_ml_per_day', sa.Float(), nullable=True),
    sa.Column('measured_rate_ml_per_day', sa.Float(), nullable=True),
    sa.Column('deviation_pct', sa.Float(), nullable=True),
    sa.Column('volume_delta_ml', sa.Float(), nullable=True),
    sa.Column('flow_class', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('likely_causes', sa.JSON(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('nothing_aspirated', sa.Boolean(), nullable=False),
    sa.Column('planning_rate_ml_per_day', sa.Float(), nullable=False),
    sa.Column('next_due_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_due_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('due_constraints', sa.JSON(), nullable=False),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['pump_id'], ['pump.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('refill', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refill_idempotency_key'), ['idempotency_key'], unique=True)
        batch_op.create_index(batch_op.f('ix_refill_performed_at'), ['performed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_refill_pump_id'), ['pump_id'], unique=False)

    op.create_table('refill_component',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refill_id', sa.Integer(), nullable=False),
    sa.Column('drug_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('volume_ml', sa.Float(), nullable=False),
    sa.Column('amount_mg', sa.Float(), nullable=True),
    sa.Column('amount_usp_u', sa.Float(), nullable=True),
    sa.Column('conc_mg_per_ml', sa.Float(), nullable=True),
    sa.Column('conc_usp_u_per_ml', sa.Float(), nullable=True),
    sa.Column('ndc', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
    sa.Column('lot', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['refill_id'], ['refill.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('refill_component', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refill_component_refill_id'), ['refill_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('refill_component', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refill_component_refill_id'))

    op.drop_table('refill_component')
    with op.batch_alter_table('refill', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refill_pump_id'))
        batch_op.drop_index(batch_op.f('ix_refill_performed_at'))
        batch_op.drop_index(batch_op.f('ix_refill_idempotency_key'))

    op.drop_table('refill')
    with op.batch_alter_table('prescription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prescription_pump_id'))

    op.drop_table('prescription')
    with op.batch_alter_table('device_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_log_recorded_at'))
        batch_op.drop_index(batch_op.f('ix_device_log_pump_id'))

    op.drop_table('device_log')
    with op.batch_alter_table('condition_period', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_condition_period_pump_id'))

    op.drop_table('condition_period')
    with op.batch_alter_table('pump', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pump_serial'))
        batch_op.drop_index(batch_op.f('ix_pump_patient_id'))
        batch_op.drop_index(batch_op.f('ix_pump_next_due_at'))

    op.drop_table('pump')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_patient_ref'))

    op.drop_table('patient')
