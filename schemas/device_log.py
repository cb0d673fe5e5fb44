"""Entries of a programmable pump's own event log (HPP/1 ``LOG_READ``), identified by their index."""

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.clock import UtcDatetime

__all__ = ["DeviceLogEntry", "LogEntryType"]


class LogEntryType(StrEnum):
    RX_CHANGED = "RX_CHANGED"
    REFILLED = "REFILLED"
    BOLUS = "BOLUS"
    ALARM_RAISED = "ALARM_RAISED"
    ALARM_CLEARED = "ALARM_CLEARED"
    CLOCK_SET = "CLOCK_SET"
    BATTERY_STATE = "BATTERY_STATE"
    MOTOR_STALL = "MOTOR_STALL"
    RESET = "RESET"


class DeviceLogEntry(BaseModel):
    """One pump log entry. ``(pump serial, index)`` is its identity: reading twice stores it once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0)
    device_time_at: UtcDatetime = Field(description="the pump's clock when it wrote the entry")
    type: LogEntryType
    data: dict[str, Any] = Field(default_factory=dict)
