"""device continuity: log epochs, pump lifecycle (explanted, replaced by), attributable hardware changes

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 21:52:33.975006

``device_log`` gets ``log_epoch`` and its unique key becomes ``(pump_id, log_epoch, log_index)``:
a pump whose log restarts at 0 (a reset, a replacement board, a restarted simulator) stores its
new entries in a new epoch instead of colliding with the old ones. ``pump`` gets its current
epoch, its lifecycle state and the links between an explanted pump and its replacement.

The ``pump`` columns are added and dropped with plain ``ALTER TABLE`` (SQLite 3.35+ drops columns
natively): a batch copy of ``pump`` would drop a table that every other table references, which
SQLite refuses while foreign keys are enforced. ``device_log`` is referenced by nothing, so its
constraint change goes through a batch copy on SQLite.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import pump_service.persistence.types


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0001 created the key unnamed: PostgreSQL named it so; on SQLite the batch copy's naming
# convention gives the reflected (unnamed) constraint the same name, so one drop works on both.
_OLD_KEY = 'device_log_pump_id_log_index_key'
_NEW_KEY = 'uq_device_log_pump_epoch_index'
_NAMING = {'uq': '%(table_name)s_%(column_0_N_name)s_key'}


def upgrade() -> None:
    op.add_column('pump', sa.Column('state', sa.String(length=16), nullable=False, server_default='active'))
    op.add_column('pump', sa.Column('explanted_at', pump_service.persistence.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column('pump', sa.Column('explant_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    for link in ('replaces_id', 'replaced_by_id'):
        if op.get_bind().dialect.name == 'sqlite':
            # Alembic only adds a foreign key on SQLite by copying the table; SQLite's own ADD COLUMN can.
            op.execute(f'ALTER TABLE pump ADD COLUMN {link} INTEGER REFERENCES pump (id)')
        else:
            op.add_column('pump', sa.Column(link, sa.Integer(), sa.ForeignKey('pump.id'), nullable=True))
    op.add_column('pump', sa.Column('log_epoch', sa.Integer(), nullable=False, server_default='0'))
    op.create_index(op.f('ix_pump_state'), 'pump', ['state'], unique=False)

    with op.batch_alter_table('device_log', schema=None, naming_convention=_NAMING) as batch_op:
        batch_op.add_column(sa.Column('log_epoch', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_constraint(_OLD_KEY, type_='unique')
        batch_op.create_unique_constraint(_NEW_KEY, ['pump_id', 'log_epoch', 'log_index'])


def downgrade() -> None:
    """Back to one log per pump: only the current epoch keeps its indices.

    Entries of earlier epochs stay as history, without ``log_index``: the old key allows one entry
    per index, and the old code's cursor (the highest stored index) must be the current log's.
    """
    device_log = sa.table('device_log', sa.column('pump_id', sa.Integer()), sa.column('log_epoch', sa.Integer()), sa.column('log_index', sa.Integer()))
    pump = sa.table('pump', sa.column('id', sa.Integer()), sa.column('log_epoch', sa.Integer()))
    current = sa.select(pump.c.log_epoch).where(pump.c.id == device_log.c.pump_id).scalar_subquery()
    op.execute(device_log.update().where(device_log.c.log_epoch != current).values(log_index=None))

    with op.batch_alter_table('device_log', schema=None) as batch_op:
        batch_op.drop_constraint(_NEW_KEY, type_='unique')
        batch_op.create_unique_constraint(_OLD_KEY, ['pump_id', 'log_index'])
        batch_op.drop_column('log_epoch')

    op.drop_index(op.f('ix_pump_state'), table_name='pump')
    for column in ('log_epoch', 'replaced_by_id', 'replaces_id', 'explant_reason', 'explanted_at', 'state'):
        op.drop_column('pump', column)
