"""A visit: the unit of work that ends in one committed refill, analysis, reprogramming or flush.

A visit may also be abandoned with a reason; whatever its kind, it writes the pump at most once.

The visit row is committed *before* anything is written to a programmable pump, with the
``request_id`` the write will carry. If the process dies between the pump write and the refill
commit, the next attempt finds the visit in ``writing`` and asks the pump's log whether that
``request_id`` landed, instead of guessing.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from pump_service.persistence.types import UTCDateTime

__all__ = ["Visit", "VisitKind", "VisitState"]


class VisitState(StrEnum):
    OPEN = "open"
    WRITING = "writing"  # the pump may have been written; the refill is not committed
    COMMITTED = "committed"
    ABORTED = "aborted"  # its write never reached the pump and another visit superseded it
    ABANDONED = "abandoned"  # started and given up by the nurse, with a reason


class VisitKind(StrEnum):
    """What a visit does; a refill (with or without a dose change) is one kind among several."""

    REFILL = "refill"
    ANALYSIS = "analysis"  # interrogation only
    REPROGRAMMING = "reprogramming"  # a new prescription, no refill
    FLUSH = "flush"  # port or catheter flush only: no pump write


class Visit(SQLModel, table=True):
    __tablename__ = "visit"

    id: int | None = Field(default=None, primary_key=True)
    visit_key: str = Field(index=True, unique=True, max_length=80)
    pump_id: int = Field(foreign_key="pump.id", index=True)
    kind: str = Field(default=VisitKind.REFILL.value, max_length=16)  # a VisitKind
    state: str = Field(max_length=16)  # a VisitState
    performed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Non-refill kinds: the result returned to the caller, replayed on a retry (charges re-read).
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    abandon_reason: str | None = Field(default=None, max_length=500)
    simulated: bool = Field(default=False)  # the programmer was the simulator (a test bench)
    request_digest: str | None = Field(default=None, max_length=64)
    refill_request_id: str | None = Field(default=None, max_length=64)
    rx_request_id: str | None = Field(default=None, max_length=64)
    log_cursor: int | None = None  # the pump log's next index before the write
    # The pump's register before anything was written: a retry judges the return against this,
    # never against a reading taken after the refill landed.
    register_ml: float | None = None
    register_read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    device_written_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    refill_id: int | None = Field(default=None, foreign_key="refill.id")
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id")
    facts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(sa_type=UTCDateTime)
    started_by: str = Field(max_length=64)
    station_id: str = Field(max_length=64)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    updated_by: str = Field(max_length=64)
