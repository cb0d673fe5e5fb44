"""charges a biller can work with (correction links, payer and clinic columns), clinic billing set-up

Revision ID: billing_0006
Revises: notify_0006
Create Date: 2026-12-01 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import pump_service.persistence.types

revision: str = 'billing_0006'
down_revision: str | None = 'notify_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Plain ADD COLUMN / CREATE TABLE: a batch copy cannot drop tables that others reference while
# foreign keys are enforced.
_UTC = pump_service.persistence.types.UTCDateTime(timezone=True)
_COLUMNS = (
    ('voided_by_event_id', sqlmodel.sql.sqltypes.AutoString(length=36)),
    ('credited_by_event_id', sqlmodel.sql.sqltypes.AutoString(length=36)),
    ('payer_profile', sqlmodel.sql.sqltypes.AutoString(length=48)),
    ('clinic_id', sa.Integer()),
)


def upgrade() -> None:
    for name, kind in _COLUMNS:
        op.add_column('charge_event', sa.Column(name, kind, nullable=True))
        op.create_index(op.f(f'ix_charge_event_{name}'), 'charge_event', [name], unique=False)
    op.add_column(
        'charge_event', sa.Column('reference_version', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )
    _backfill()
    op.create_table(
        'clinic_billing',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('clinic_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('effective_from', sa.Date(), nullable=False),
        sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column('place_of_service', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column('payer_profile', sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
        sa.Column('profiles', sa.JSON(), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('station_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinic.id'], name='fk_clinic_billing_clinic_id_clinic'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('clinic_id', 'version'),
    )
    op.create_index(op.f('ix_clinic_billing_clinic_id'), 'clinic_billing', ['clinic_id'], unique=False)


def _backfill() -> None:
    """Existing rows: the profile from the stored event, the clinic from the refill's pump, the links."""
    bind = op.get_bind()
    charge = sa.table(
        'charge_event',
        sa.column('id', sa.Integer()),
        sa.column('event_id', sa.String()),
        sa.column('kind', sa.String()),
        sa.column('original_event_id', sa.String()),
        sa.column('refill_id', sa.Integer()),
        sa.column('event', sa.JSON()),
        sa.column('voided_by_event_id', sa.String()),
        sa.column('credited_by_event_id', sa.String()),
        sa.column('payer_profile', sa.String()),
        sa.column('clinic_id', sa.Integer()),
    )
    refill = sa.table('refill', sa.column('id', sa.Integer()), sa.column('pump_id', sa.Integer()))
    pump = sa.table('pump', sa.column('id', sa.Integer()), sa.column('clinic_id', sa.Integer()))
    clinics = dict(
        bind.execute(sa.select(refill.c.id, pump.c.clinic_id).join(pump, pump.c.id == refill.c.pump_id)).all()
    )
    rows = bind.execute(
        sa.select(charge.c.id, charge.c.event_id, charge.c.kind, charge.c.original_event_id, charge.c.refill_id,
                  charge.c.event)
    ).all()
    for row in rows:
        event = row.event or {}
        values = {'payer_profile': event.get('payer_profile'), 'clinic_id': clinics.get(row.refill_id)}
        bind.execute(sa.update(charge).where(charge.c.id == row.id).values(**values))
        if row.original_event_id is not None:
            link = 'voided_by_event_id' if row.kind == 'void' else 'credited_by_event_id'
            bind.execute(
                sa.update(charge).where(charge.c.event_id == row.original_event_id).values({link: row.event_id})
            )


def downgrade() -> None:
    op.drop_index(op.f('ix_clinic_billing_clinic_id'), table_name='clinic_billing')
    op.drop_table('clinic_billing')
    op.drop_column('charge_event', 'reference_version')
    for name, _ in reversed(_COLUMNS):
        op.drop_index(op.f(f'ix_charge_event_{name}'), table_name='charge_event')
        op.drop_column('charge_event', name)
