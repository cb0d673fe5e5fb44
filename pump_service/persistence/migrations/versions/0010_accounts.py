"""accounts: user accounts, login sessions, API tokens and registered stations

Revision ID: accounts_0010
Revises: kinds_0006
Create Date: 2026-12-02 00:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import pump_service.persistence.types


revision: str = 'accounts_0010'
down_revision: str | None = 'kinds_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = pump_service.persistence.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'user_account',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('display_name', sa.String(length=100), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('disabled_at', _UTC, nullable=True),
        sa.Column('failed_attempts', sa.Integer(), nullable=False),
        sa.Column('locked_until', _UTC, nullable=True),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_user_account_username'), 'user_account', ['username'], unique=True)
    op.create_table(
        'login_session',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.String(length=64), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('expires_at', _UTC, nullable=False),
        sa.Column('last_seen_at', _UTC, nullable=False),
        sa.Column('closed_at', _UTC, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_login_session_user_id'), 'login_session', ['user_id'], unique=False)
    op.create_table(
        'api_token',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('station_id', sa.String(length=64), nullable=False),
        sa.Column('label', sa.String(length=100), nullable=False),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('expires_at', _UTC, nullable=True),
        sa.Column('revoked_at', _UTC, nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_api_token_user_id'), 'api_token', ['user_id'], unique=False)
    op.create_table(
        'station',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('clinic_id', sa.String(length=32), nullable=False),
        sa.Column('programmer_url', sa.String(length=255), nullable=False),
        sa.Column('is_test_bench', sa.Boolean(), nullable=False),
        sa.Column('label', sa.String(length=100), nullable=False),
        sa.Column('disabled_at', _UTC, nullable=True),
        sa.Column('created_at', _UTC, nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['clinic_id'], ['clinic.clinic_id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_station_clinic_id'), 'station', ['clinic_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_station_clinic_id'), table_name='station')
    op.drop_table('station')
    op.drop_index(op.f('ix_api_token_user_id'), table_name='api_token')
    op.drop_table('api_token')
    op.drop_index(op.f('ix_login_session_user_id'), table_name='login_session')
    op.drop_table('login_session')
    op.drop_index(op.f('ix_user_account_username'), table_name='user_account')
    op.drop_table('user_account')
