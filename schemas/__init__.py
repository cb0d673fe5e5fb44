"""Shared contracts of pump-service: units, clock, pump and drug catalogues, device data.

Imported by the service, the drivers and the simulators alike; it imports only the standard
library, pydantic and pint, and does no I/O.
"""

from schemas.clock import Clock, SystemClock, UtcDatetime, as_utc
from schemas.device_log import DeviceLogEntry, LogEntryType
from schemas.drug import AmountBasis, DoseBasis, DoseGuard, Drug
from schemas.drug_catalogue import DRUGS, UnknownDrugError, get_drug
from schemas.flow_law import (
    REFERENCE_CONDITIONS,
    FlowConditions,
    PropellantFlowLaw,
    advance_volume,
    ambient_pressure_mmhg,
    days_until_volume,
)
from schemas.prescription import (
    BolusAllowance,
    ContinuousPrescription,
    Prescription,
    RateStep,
    StepsPrescription,
    StoppedPrescription,
)
from schemas.programmer import (
    REQUEST_ID_PATTERN,
    BolusKind,
    BolusStarted,
    ClockSetResult,
    LinkedPump,
    LogRead,
    PendingWrite,
    ProgrammerEvent,
    ProgrammerInfo,
    Reconciliation,
    RefillConfirmation,
    WrittenPrescription,
)
from schemas.pump import DeliveryRoute, PumpFamily, PumpModel
from schemas.pump_catalogue import PUMP_MODELS, UnknownPumpModelError, get_pump_model
from schemas.refill import FillComponent, FlowClass, RefillRecord
from schemas.status import ActiveAlarm, AlarmCode, Battery, BatteryState, DrugInPump, LogCursor, PumpStatus
from schemas.units import UnitError, format_quantity, parse_quantity, to_canonical, ureg

__all__ = [
    "DRUGS",
    "PUMP_MODELS",
    "REFERENCE_CONDITIONS",
    "REQUEST_ID_PATTERN",
    "ActiveAlarm",
    "AlarmCode",
    "AmountBasis",
    "Battery",
    "BatteryState",
    "BolusAllowance",
    "BolusKind",
    "BolusStarted",
    "Clock",
    "ClockSetResult",
    "ContinuousPrescription",
    "DeliveryRoute",
    "DeviceLogEntry",
    "DoseBasis",
    "DoseGuard",
    "Drug",
    "DrugInPump",
    "FillComponent",
    "FlowClass",
    "FlowConditions",
    "LinkedPump",
    "LogCursor",
    "LogEntryType",
    "LogRead",
    "PendingWrite",
    "Prescription",
    "ProgrammerEvent",
    "ProgrammerInfo",
    "PropellantFlowLaw",
    "PumpFamily",
    "PumpModel",
    "PumpStatus",
    "RateStep",
    "Reconciliation",
    "RefillConfirmation",
    "RefillRecord",
    "StepsPrescription",
    "StoppedPrescription",
    "SystemClock",
    "UnitError",
    "UnknownDrugError",
    "UnknownPumpModelError",
    "UtcDatetime",
    "WrittenPrescription",
    "advance_volume",
    "ambient_pressure_mmhg",
    "as_utc",
    "days_until_volume",
    "format_quantity",
    "get_drug",
    "get_pump_model",
    "parse_quantity",
    "to_canonical",
    "ureg",
]
