"""the scheduler's due column: appointment.next_decision_at, indexed with status; pump.battery_state indexed

Revision ID: tick_0013
Revises: cosign_0010
Create Date: 2026-12-02 07:10:00

The tick reads only booked appointments whose ``next_decision_at`` has come, so every booked row
gets its moment here: the earliest reminder of its clinic's list not yet recorded, else the end
of the visit while its overdue escalation is not recorded, else NULL (nothing left to decide).
"Look at it at the next tick" (1970-01-01) where the moment depends on the settings (a clinic
without its own reminder days) or the alarm-before-visit escalation is due and not recorded. The
rule is written out here, not imported: a migration must keep doing what it did when it shipped.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import pump_service.persistence.types


revision: str = "tick_0013"
down_revision: str | None = "cosign_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = pump_service.persistence.types.UTCDateTime(timezone=True)
_NEXT_TICK = datetime(1970, 1, 1, tzinfo=UTC)

_appointment = sa.table(
    "appointment",
    sa.column("id", sa.Integer()),
    sa.column("pump_id", sa.Integer()),
    sa.column("clinic_id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("starts_at", _UTC),
    sa.column("ends_at", _UTC),
    sa.column("next_decision_at", _UTC),
)
_pump = sa.table("pump", sa.column("id", sa.Integer()), sa.column("alarm_at", _UTC))
_clinic = sa.table("clinic", sa.column("id", sa.Integer()), sa.column("reminder_days", sa.JSON()))
_notification = sa.table("notification", sa.column("key", sa.String()), sa.column("appointment_id", sa.Integer()))


def _moment(
    appointment_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reminder_days: list[int],
    alarm_at: datetime | None,
    taken: set[str],
) -> datetime | None:
    if alarm_at is not None and starts_at > alarm_at and f"alarm-before:{appointment_id}" not in taken:
        return _NEXT_TICK
    if not reminder_days:
        return _NEXT_TICK
    pending = [
        starts_at - timedelta(days=days) for days in reminder_days if f"reminder:{appointment_id}:{days}d" not in taken
    ]
    if f"overdue:{appointment_id}" not in taken:
        pending.append(ends_at)  # the grace (a setting) only delays it
    return min(pending, default=None)


def _fill() -> None:
    bind = op.get_bind()
    reminder_days = {row.id: list(row.reminder_days or []) for row in bind.execute(sa.select(_clinic))}
    booked = _appointment.c.status == "booked"
    taken: dict[int, set[str]] = {}
    keys = sa.select(_notification.c.appointment_id, _notification.c.key).join(
        _appointment, _appointment.c.id == _notification.c.appointment_id
    )
    for appointment_id, key in bind.execute(keys.where(booked)):
        taken.setdefault(appointment_id, set()).add(key)
    rows = bind.execute(
        sa.select(
            _appointment.c.id,
            _appointment.c.clinic_id,
            _appointment.c.starts_at,
            _appointment.c.ends_at,
            _pump.c.alarm_at,
        )
        .join(_pump, _pump.c.id == _appointment.c.pump_id)
        .where(booked)
    ).all()
    values = [
        {
            "row_id": row.id,
            "moment": _moment(
                row.id,
                row.starts_at,
                row.ends_at,
                reminder_days.get(row.clinic_id, []),
                row.alarm_at,
                taken.get(row.id, set()),
            ),
        }
        for row in rows
    ]
    if values:
        bind.execute(
            _appointment.update()
            .where(_appointment.c.id == sa.bindparam("row_id"))
            .values(next_decision_at=sa.bindparam("moment")),
            values,
        )


def upgrade() -> None:
    # Plain ADD COLUMN: a batch copy cannot drop a table that others reference (SQLite, FKs on).
    op.add_column("appointment", sa.Column("next_decision_at", _UTC, nullable=True))
    op.create_index("ix_appointment_status_next_decision_at", "appointment", ["status", "next_decision_at"])
    op.create_index(op.f("ix_pump_battery_state"), "pump", ["battery_state"], unique=False)
    _fill()


def downgrade() -> None:
    op.drop_index(op.f("ix_pump_battery_state"), table_name="pump")
    op.drop_index("ix_appointment_status_next_decision_at", table_name="appointment")
    op.drop_column("appointment", "next_decision_at")
