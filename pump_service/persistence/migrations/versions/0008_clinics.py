"""clinics in the database: jurisdiction, history of clinic changes

Revision ID: clinics_0006
Revises: billing_0006
Create Date: 2026-12-01 22:55:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import pump_service.persistence.types


revision: str = 'clinics_0006'
down_revision: str | None = 'billing_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ADD COLUMN and CREATE TABLE: a batch copy of `clinic` cannot drop a table that pumps and
# appointments reference while foreign keys are enforced.


def upgrade() -> None:
    op.add_column('clinic', sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
    op.create_table('clinic_change',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('changed_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_clinic_change_clinic_id', 'clinic_change', ['clinic_id'], unique=False)
    op.create_index('ix_clinic_change_changed_at', 'clinic_change', ['changed_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_clinic_change_changed_at', table_name='clinic_change')
    op.drop_index('ix_clinic_change_clinic_id', table_name='clinic_change')
    op.drop_table('clinic_change')
    op.drop_column('clinic', 'jurisdiction')
