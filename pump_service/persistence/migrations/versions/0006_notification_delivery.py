"""notification delivery log: one row per notification and channel, with attempts and backoff

Revision ID: notify_0006
Revises: 0005
Create Date: 2026-12-01 23:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pump_service.persistence.types


revision: str = 'notify_0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = pump_service.persistence.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'notification_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=40), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('next_attempt_at', _UTC, nullable=True),
        sa.Column('last_attempt_at', _UTC, nullable=True),
        sa.Column('delivered_at', _UTC, nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['notification_id'], ['notification.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('notification_id', 'channel', name='uq_notification_delivery_channel'),
    )
    op.create_index('ix_notification_delivery_key', 'notification_delivery', ['key'], unique=True)
    op.create_index('ix_notification_delivery_notification_id', 'notification_delivery', ['notification_id'])
    op.create_index('ix_notification_delivery_state', 'notification_delivery', ['state'])
    op.create_index('ix_notification_delivery_next_attempt_at', 'notification_delivery', ['next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_notification_delivery_next_attempt_at', table_name='notification_delivery')
    op.drop_index('ix_notification_delivery_state', table_name='notification_delivery')
    op.drop_index('ix_notification_delivery_notification_id', table_name='notification_delivery')
    op.drop_index('ix_notification_delivery_key', table_name='notification_delivery')
    op.drop_table('notification_delivery')
