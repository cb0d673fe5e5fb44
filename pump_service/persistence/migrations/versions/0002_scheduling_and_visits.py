"""scheduling and visits

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 03:18:53.674639
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import pump_service.persistence.types


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('clinic',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('timezone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('working_days', sa.JSON(), nullable=False),
    sa.Column('opens_at', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('closes_at', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('slot_minutes', sa.Integer(), nullable=False),
    sa.Column('capacity_per_day', sa.Integer(), nullable=False),
    sa.Column('reminder_days', sa.JSON(), nullable=False),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('updated_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('clinic', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinic_clinic_id'), ['clinic_id'], unique=True)

    op.create_table('clinic_holiday',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('clinic_id', 'day')
    )
    with op.batch_alter_table('clinic_holiday', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinic_holiday_clinic_id'), ['clinic_id'], unique=False)

    op.create_table('appointment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pump_id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('slot_index', sa.Integer(), nullable=False),
    sa.Column('starts_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('target_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('latest_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('due_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('on_time', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('closed_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('refill_id', sa.Integer(), nullable=True),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('updated_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], ),
    sa.ForeignKeyConstraint(['pump_id'], ['pump.id'], ),
    sa.ForeignKeyConstraint(['refill_id'], ['refill.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_local_day'), ['local_day'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_pump_id'), ['pump_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_starts_at'), ['starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_status'), ['status'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('level', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('pump_id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('trigger_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('acknowledged_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], ),
    sa.ForeignKeyConstraint(['pump_id'], ['pump.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_key'), ['key'], unique=True)
        batch_op.create_index(batch_op.f('ix_notification_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_pump_id'), ['pump_id'], unique=False)

    op.create_table('visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('pump_id', sa.Integer(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('request_digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('refill_request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('rx_request_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('log_cursor', sa.Integer(), nullable=True),
    sa.Column('device_written_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refill_id', sa.Integer(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('started_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('updated_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], ),
    sa.ForeignKeyConstraint(['pump_id'], ['pump.id'], ),
    sa.ForeignKeyConstraint(['refill_id'], ['refill.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_pump_id'), ['pump_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_visit_visit_key'), ['visit_key'], unique=True)

    with op.batch_alter_table('pump', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alarm_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('empty_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('clinic_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_pump_clinic_id'), ['clinic_id'], unique=False)
        batch_op.create_foreign_key('fk_pump_clinic_id_clinic', 'clinic', ['clinic_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('pump', schema=None) as batch_op:
        batch_op.drop_constraint('fk_pump_clinic_id_clinic', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_pump_clinic_id'))
        batch_op.drop_column('clinic_id')
        batch_op.drop_column('empty_at')
        batch_op.drop_column('alarm_at')

    with op.batch_alter_table('visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_visit_key'))
        batch_op.drop_index(batch_op.f('ix_visit_pump_id'))

    op.drop_table('visit')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_pump_id'))
        batch_op.drop_index(batch_op.f('ix_notification_kind'))
        batch_op.drop_index(batch_op.f('ix_notification_key'))
        batch_op.drop_index(batch_op.f('ix_notification_created_at'))

    op.drop_table('notification')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_status'))
        batch_op.drop_index(batch_op.f('ix_appointment_starts_at'))
        batch_op.drop_index(batch_op.f('ix_appointment_pump_id'))
        batch_op.drop_index(batch_op.f('ix_appointment_local_day'))
        batch_op.drop_index(batch_op.f('ix_appointment_clinic_id'))

    op.drop_table('appointment')
    with op.batch_alter_table('clinic_holiday', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinic_holiday_clinic_id'))

    op.drop_table('clinic_holiday')
    with op.batch_alter_table('clinic', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinic_clinic_id'))

    op.drop_table('clinic')
