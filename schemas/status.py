"""What an interrogation tells about a programmable pump (the HPP/1 ``STATUS`` result, canonical)."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.clock import UtcDatetime
from schemas.prescription import Prescription
from schemas.pump import PumpFamily

__all__ = ["ActiveAlarm", "AlarmCode", "Battery", "BatteryState", "DrugInPump", "LogCursor", "PumpStatus"]


class AlarmCode(StrEnum):
    LOW_RESERVOIR = "LOW_RESERVOIR"
    EMPTY_RESERVOIR = "EMPTY_RESERVOIR"
    ERI = "ERI"
    EOS = "EOS"
    MOTOR_STALL = "MOTOR_STALL"
    CRITICAL_RESET = "CRITICAL_RESET"


class BatteryState(StrEnum):
    OK = "OK"
    ERI = "ERI"  # elective replacement: still runs, stops 90 days later
    EOS = "EOS"  # end of service: stopped


class ActiveAlarm(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: AlarmCode
    since_at: UtcDatetime


class Battery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state: BatteryState
    months_to_eri: int | None = Field(None, ge=0)


class DrugInPump(BaseModel):
    """The drug the pump believes it holds; exactly one concentration field is set (none for vehicles)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    conc_mg_per_ml: float | None = Field(None, ge=0)
    conc_usp_u_per_ml: float | None = Field(None, ge=0)


class LogCursor(BaseModel):
    """The pump log's window: oldest index still held and the index the next entry will get."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first: int = Field(ge=0)
    next: int = Field(ge=0)


class PumpStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    serial: str = Field(min_length=1, max_length=64)
    model_id: str
    family: PumpFamily
    clock_at: UtcDatetime = Field(description="the pump's own clock, for drift")
    reservoir_ml: float = Field(ge=0)
    capacity_ml: float = Field(gt=0)
    low_reservoir_alarm_ml: float = Field(ge=0)
    drug: DrugInPump | None = None
    prescription: Prescription | None = None
    battery: Battery
    alarms: tuple[ActiveAlarm, ...] = ()
    log: LogCursor
