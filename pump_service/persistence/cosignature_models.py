"""Co-signatures: a second person's signed decision at the station, used once by one refill.

A physician's override of named hard stops, or a second clinician's check of a spinal fill's
drug, concentration and volume. Each is signed with the signer's own password on the station,
is bound to one pump, expires after a few minutes and is spent by the refill that uses it
(``used_by_refill_id``), so one signature never covers two fills.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from pump_service.persistence.types import UTCDateTime

__all__ = ["Cosignature", "CosignatureKind"]


class CosignatureKind(StrEnum):
    HARD_STOP_OVERRIDE = "hard_stop_override"
    SECOND_CHECK = "second_check"


class Cosignature(SQLModel, table=True):
    __tablename__ = "cosignature"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # a CosignatureKind
    pump_id: int = Field(foreign_key="pump.id", index=True)
    signer: str = Field(max_length=64)  # the signer's username
    signer_role: str = Field(max_length=16)
    station_id: str = Field(max_length=64)
    requested_by: str = Field(max_length=64)  # the signed-in user at the station
    # override: {"codes": [...], "reason": ...}; second check: {"drug_id", "concentration", "fill_volume_ml"}
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_by_refill_id: int | None = Field(default=None, foreign_key="refill.id")
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
