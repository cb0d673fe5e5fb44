"""Stored charge events: one row per :class:`pump_service.billing.ChargeEvent`, and its delivery state.

A row is written once, in the transaction of the refill that earned it (or of the correction that
voids or credits it), and its billing content is never edited afterwards: a correction is a new
row pointing at the original through ``original_event_id``. Only the delivery columns change,
as the scheduler's delivery step records each attempt:

``pending`` -> ``delivered`` | ``rejected`` | ``skipped`` (HL7 v2 has nothing to post for a
not-billable line). A row stays ``pending`` between retries, with ``next_attempt_at`` set.

``event`` is the whole event as ``ChargeEvent.model_dump(mode="json")``; the other billing columns
repeat the parts the service filters on. ``event_id`` is unique, which makes storing a visit's
charges twice impossible.

A correction also sets ``voided_by_event_id`` or ``credited_by_event_id`` on the original, in the
same transaction, so the original is shown ``voided``/``credited`` and links to its correction
(the correction links back through ``original_event_id``). These link columns, like the delivery
columns, are the only ones written after insert; ``event`` never changes.

:class:`ClinicBilling` holds a clinic's billing set-up (payer profiles in the schema of the packaged
``profiles.toml``, place-of-service and profile defaults, jurisdiction), one row per version: a
change adds a version, it never edits one.
"""

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from pump_service.persistence.types import UTCDateTime

__all__ = ["ChargeEventRow", "ClinicBilling", "DeliveryState"]


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    SKIPPED = "skipped"


class ChargeEventRow(SQLModel, table=True):
    __tablename__ = "charge_event"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(index=True, unique=True, max_length=36)
    kind: str = Field(max_length=8)  # charge | void | credit
    original_event_id: str | None = Field(default=None, index=True, max_length=36)
    visit_key: str = Field(index=True, max_length=80)
    refill_id: int | None = Field(default=None, foreign_key="refill.id", index=True)
    patient_ref: str = Field(index=True, max_length=64)
    service_date: date = Field(index=True)
    code: str = Field(max_length=8)
    status: str = Field(max_length=16)  # billable | not-billable | entered-in-error
    event: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)
    delivery_status: str = Field(default=DeliveryState.PENDING.value, index=True, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    voided_by_event_id: str | None = Field(default=None, index=True, max_length=36)
    credited_by_event_id: str | None = Field(default=None, index=True, max_length=36)
    payer_profile: str | None = Field(default=None, index=True, max_length=48)
    # The clinic of the pump when the line was recorded (clinic.id; no FK: SQLite adds the column
    # with a plain ALTER TABLE, and a charge outlives any clinic re-organisation).
    clinic_id: int | None = Field(default=None, index=True)
    # The reference data the line was priced with: the packaged release, plus the clinic set-up
    # version when one applied ("2026.1+main.v2").
    reference_version: str | None = Field(default=None, max_length=64)


class ClinicBilling(SQLModel, table=True):
    """One version of a clinic's billing set-up; the version in effect on a service date applies."""

    __tablename__ = "clinic_billing"
    __table_args__ = (UniqueConstraint("clinic_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    clinic_id: int = Field(foreign_key="clinic.id", index=True)
    version: int
    effective_from: date
    jurisdiction: str | None = Field(default=None, max_length=8)
    place_of_service: str | None = Field(default=None, max_length=2)
    payer_profile: str | None = Field(default=None, max_length=48)
    # {profile_id: {key: value}} with the keys of profiles.toml; dates as ISO strings.
    profiles: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)
