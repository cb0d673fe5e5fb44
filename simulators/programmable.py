"""A simulated programmable (battery, peristaltic) pump: what a handheld programmer talks to.

The pump keeps a reservoir *register*: it subtracts what it was programmed to deliver, and that
is all it knows. The true volume drifts from the register by this unit's accuracy error, and only
aspiration reveals it. Alarms (low reservoir, empty reservoir) follow the register; running dry
follows the truth. The battery reaches its elective replacement indicator (ERI) after the
model's battery life and end of service (EOS) ``eri_to_eos_days`` later, when delivery stops. The
pump's own clock drifts by ``clock_drift_ppm``. Every state change is written to an 8192-entry
event log with the entry types of HPP/1 (docs/protocol.md).

Time is split wherever the programmed rate changes (daily steps, boluses, battery, motor stall)
and each piece is integrated exactly, so alarms fire at the instant the register crosses them.
The pump advances lazily to its clock's time before every operation.
"""

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from drivers.messages import drug_to_wire, format_time, prescription_to_wire
from schemas.clock import Clock
from schemas.device_log import DeviceLogEntry, LogEntryType
from schemas.prescription import ContinuousPrescription, StepsPrescription, StoppedPrescription
from schemas.pump import PumpFamily, PumpModel
from schemas.status import ActiveAlarm, AlarmCode, Battery, BatteryState, DrugInPump, PumpStatus
from schemas.units import format_quantity
from simulators.constant_flow import draw_unit_factor
from simulators.event_log import PumpEventLog
from simulators.needle import Aspiration, aspirate, pocket_share
from simulators.pump_faults import MotorStall, PocketFill, PumpFault

__all__ = ["AnyPrescription", "PumpCommandError", "SimulatedProgrammablePump"]

AnyPrescription = ContinuousPrescription | StepsPrescription | StoppedPrescription
SECONDS_PER_DAY = 86_400.0
DAYS_PER_MONTH = 30.4375
VOLUME_TOLERANCE_ML = 1e-9


class PumpCommandError(Exception):
    """The pump refuses a command; ``code`` is the HPP/1 error code the programmer reports."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class _Bolus:
    start_at: datetime
    end_at: datetime
    rate_ml_per_day: float


class SimulatedProgrammablePump:
    """One implanted programmable pump on a clock."""

    def __init__(
        self,
        model: PumpModel,
        *,
        clock: Clock,
        serial: str = "PP-SIM",
        seed: int = 0,
        accuracy_factor: float | None = None,
        volume_ml: float = 0.0,
        prescription: AnyPrescription | None = None,
        drug: DrugInPump | None = None,
        implanted_at: datetime | None = None,
        eri_at: datetime | None = None,
        clock_offset_s: float = 0.0,
        clock_drift_ppm: float = 0.0,
        faults: tuple[PumpFault, ...] = (),
    ) -> None:
        if model.family is not PumpFamily.PROGRAMMABLE:
            raise ValueError(f"{model.model_id} is not a programmable pump")
        if model.battery_life_days is None or model.eri_to_eos_days is None:  # PumpModel requires both
            raise ValueError(f"{model.model_id} has no battery life or ERI-to-EOS figure")
        if not 0.0 <= volume_ml <= model.capacity_ml:
            raise ValueError(f"volume must be within 0..{model.capacity_ml} mL")
        self.model = model
        self.serial = serial
        self._clock = clock
        self._rng = random.Random(seed)
        self.accuracy_factor = draw_unit_factor(model, self._rng) if accuracy_factor is None else accuracy_factor
        self.at = clock.now()
        self.register_ml = volume_ml
        self.true_ml = volume_ml
        self.drug = drug
        self.faults = faults
        self.eri_at = eri_at or (implanted_at or self.at) + timedelta(days=model.battery_life_days)
        self.eos_at = self.eri_at + timedelta(days=model.eri_to_eos_days)
        self.stall_at = min((f.start_at for f in faults if isinstance(f, MotorStall)), default=None)
        self._clock_offset_s = clock_offset_s
        self._clock_ref_at = self.at
        self.clock_drift_ppm = clock_drift_ppm
        self.log = PumpEventLog()
        self.alarms: dict[AlarmCode, datetime] = {}
        self._disarmed: set[AlarmCode] = set()  # raised once; re-armed by a refill
        self._boluses: list[_Bolus] = []
        self._used_pocket_fills: set[PocketFill] = set()
        self.delivered_ml = 0.0
        self.dry_at: datetime | None = None
        self.prescription: AnyPrescription = StoppedPrescription(rx_id=self._new_rx_id())
        if prescription is not None:
            self.prescription = prescription.model_copy(update={"rx_id": self._new_rx_id()})

    # ---- clocks ----------------------------------------------------------------------------

    def pump_time(self, moment: datetime) -> datetime:
        """The pump's own clock at true time ``moment`` (offset plus drift since it was last set)."""
        elapsed = (moment - self._clock_ref_at).total_seconds()
        return moment + timedelta(seconds=self._clock_offset_s + self.clock_drift_ppm * 1e-6 * elapsed)

    def _new_rx_id(self) -> str:
        return f"{self._rng.getrandbits(64):016x}"

    # ---- delivery ----------------------------------------------------------------------------

    def _delivering(self, moment: datetime) -> bool:
        if moment >= self.eos_at:
            return False
        return self.stall_at is None or moment < self.stall_at

    def programmed_rate_at(self, moment: datetime) -> float:
        """mL/day the pump is driving at ``moment``: basal step in force plus active boluses."""
        if not self._delivering(moment):
            return 0.0
        basal = self.prescription.rate_at(self.pump_time(moment).time())
        return basal + sum(b.rate_ml_per_day for b in self._boluses if b.start_at <= moment < b.end_at)

    def _breakpoints(self, start: datetime, end: datetime) -> list[datetime]:
        points = {t for t in (self.eri_at, self.eos_at, self.stall_at) if t is not None and start < t < end}
        points.update(t for b in self._boluses for t in (b.start_at, b.end_at) if start < t < end)
        if isinstance(self.prescription, StepsPrescription) and len(self.prescription.steps) > 1:
            points.update(self._step_changes(start, end))
        return sorted(points)

    def _step_changes(self, start: datetime, end: datetime) -> Iterator[datetime]:
        if not isinstance(self.prescription, StepsPrescription):  # only a steps prescription changes rate by time
            return
        offset = self.pump_time(start) - start  # drift within one span is seconds a year: held fixed
        day = datetime.combine(self.pump_time(start).date(), time(), tzinfo=UTC)
        while day - offset < end:
            for step in self.prescription.steps:
                moment = day + timedelta(minutes=step.start_minute) - offset
                if start < moment < end:
                    yield moment
            day += timedelta(days=1)

    def sync(self) -> None:
        """Advance the pump to its clock's time."""
        self.advance_to(self._clock.now())

    def advance_to(self, moment: datetime) -> None:
        """Deliver from the last update to ``moment``, raising alarms exactly when they occur.

        Raises:
            ValueError: ``moment`` is before the pump's time.
        """
        if moment < self.at:
            raise ValueError("a pump cannot run backwards in time")
        edges = [self.at, *self._breakpoints(self.at, moment), moment]
        for start, end in pairwise(edges):
            self._battery_and_motor_events(start)
            self._integrate(start, end)
        self._battery_and_motor_events(moment)
        self._boluses = [b for b in self._boluses if b.end_at > moment]
        self.at = moment

    def _battery_and_motor_events(self, moment: datetime) -> None:
        if moment >= self.eri_at and AlarmCode.ERI not in self._disarmed:
            self._log(self.eri_at, LogEntryType.BATTERY_STATE, {"state": BatteryState.ERI.value})
            self._raise(AlarmCode.ERI, self.eri_at)
        if moment >= self.eos_at and AlarmCode.EOS not in self._disarmed:
            self._log(self.eos_at, LogEntryType.BATTERY_STATE, {"state": BatteryState.EOS.value})
            self._raise(AlarmCode.EOS, self.eos_at)
        if self.stall_at is not None and moment >= self.stall_at and AlarmCode.MOTOR_STALL not in self._disarmed:
            self._log(self.stall_at, LogEntryType.MOTOR_STALL, {})
            self._raise(AlarmCode.MOTOR_STALL, self.stall_at)

    def _integrate(self, start: datetime, end: datetime) -> None:
        days = (end - start).total_seconds() / SECONDS_PER_DAY
        rate = self.programmed_rate_at(start)
        if days <= 0 or rate <= 0:
            return
        crossings: list[tuple[float, AlarmCode]] = []
        before = self.register_ml
        after = max(0.0, before - rate * days)
        for threshold, code in (
            (self.model.low_reservoir_ml, AlarmCode.LOW_RESERVOIR),
            (0.0, AlarmCode.EMPTY_RESERVOIR),
        ):
            if before > threshold >= after:
                crossings.append(((before - threshold) / rate, code))
        self.register_ml = after
        true_rate = rate * self.accuracy_factor
        if self.true_ml > 0:
            delivered = min(self.true_ml, true_rate * days)
            if delivered >= self.true_ml - VOLUME_TOLERANCE_ML and self.dry_at is None:
                self.dry_at = start + timedelta(days=self.true_ml / true_rate)
            self.true_ml -= delivered
            self.delivered_ml += delivered
        for offset, code in sorted(crossings):
            self._raise(code, start + timedelta(days=offset))

    def _thresholds(self) -> tuple[tuple[float, AlarmCode], ...]:
        return ((self.model.low_reservoir_ml, AlarmCode.LOW_RESERVOIR), (0.0, AlarmCode.EMPTY_RESERVOIR))

    def _raise(self, code: AlarmCode, at: datetime) -> None:
        if code in self._disarmed:
            return
        self._disarmed.add(code)
        self.alarms[code] = at
        self._log(at, LogEntryType.ALARM_RAISED, {"code": code.value})

    def _log(self, at: datetime, entry_type: LogEntryType, data: dict[str, Any]) -> None:
        self.log.append(self.pump_time(at), entry_type, data)

    # ---- telemetry commands (what the programmer asks) ---------------------------------------

    def status(self) -> PumpStatus:
        self.sync()
        state = BatteryState.OK
        if self.at >= self.eos_at:
            state = BatteryState.EOS
        elif self.at >= self.eri_at:
            state = BatteryState.ERI
        months = None
        if state is BatteryState.OK:
            months = math.floor((self.eri_at - self.at).total_seconds() / SECONDS_PER_DAY / DAYS_PER_MONTH)
        return PumpStatus(
            serial=self.serial,
            model_id=self.model.model_id,
            family=self.model.family,
            clock_at=self.pump_time(self.at),
            reservoir_ml=self.register_ml,
            capacity_ml=self.model.capacity_ml,
            low_reservoir_alarm_ml=self.model.low_reservoir_ml,
            drug=self.drug,
            prescription=self.prescription,
            battery=Battery(state=state, months_to_eri=months),
            alarms=tuple(ActiveAlarm(code=c, since_at=self.pump_time(t)) for c, t in self.alarms.items()),
            log=self.log.cursor,
        )

    def read_log(self, from_index: int, max_entries: int) -> tuple[list[DeviceLogEntry], int, bool]:
        """``LOG_READ``: entries from ``from_index`` (see :meth:`PumpEventLog.read`), after catching up."""
        self.sync()
        return self.log.read(from_index, max_entries)

    def low_reservoir_date(self) -> datetime | None:
        """When the register will reach the alarm volume at the programmed mean rate (pump time)."""
        daily = self.prescription.mean_rate_ml_per_day()
        if daily <= 0 or not self._delivering(self.at):
            return None
        days = max(0.0, self.register_ml - self.model.low_reservoir_ml) / daily
        return self.pump_time(self.at) + timedelta(days=days)

    def record_refill(
        self,
        *,
        volume_removed_ml: float,
        volume_added_ml: float,
        reservoir_after_ml: float,
        drug: DrugInPump | None,
        request_id: str | None = None,
    ) -> float:
        """``REFILL``: set the register to what the clinician says is now in the reservoir.

        Raises:
            PumpCommandError: OUT_OF_RANGE for volumes outside the reservoir's limits.
        """
        self.sync()
        capacity = self.model.capacity_ml
        for name, value in (("volume_removed", volume_removed_ml), ("reservoir_after", reservoir_after_ml)):
            if not 0.0 <= value <= capacity + VOLUME_TOLERANCE_ML:
                raise PumpCommandError("OUT_OF_RANGE", f"{name} must be within 0..{capacity:g} mL")
        remains = max(0.0, self.register_ml - volume_removed_ml)
        if not 0.0 <= volume_added_ml <= capacity - remains + VOLUME_TOLERANCE_ML:
            raise PumpCommandError("OUT_OF_RANGE", f"volume_added must be within 0..{capacity - remains:g} mL")
        self.register_ml = min(capacity, reservoir_after_ml)
        self.drug = drug
        data: dict[str, Any] = {
            "volume_removed": format_quantity(volume_removed_ml, "volume"),
            "volume_added": format_quantity(volume_added_ml, "volume"),
            "reservoir": format_quantity(self.register_ml, "volume"),
        }
        if drug is not None:
            data["drug"] = drug_to_wire(drug)
        if request_id is not None:
            data["request_id"] = request_id
        self._log(self.at, LogEntryType.REFILLED, data)
        for code, threshold in (
            (AlarmCode.LOW_RESERVOIR, self.model.low_reservoir_ml),
            (AlarmCode.EMPTY_RESERVOIR, 0.0),
        ):
            if self.register_ml > threshold:
                self._disarmed.discard(code)
                if self.alarms.pop(code, None) is not None:
                    self._log(self.at, LogEntryType.ALARM_CLEARED, {"code": code.value})
        return self.register_ml

    def write_prescription(self, prescription: AnyPrescription, *, expect: str, request_id: str | None = None) -> str:
        """``RX_WRITE``: replace the prescription if ``expect`` is the current ``rx_id``; returns the new id.

        Raises:
            PumpCommandError: CONFLICT for a stale ``expect``; OUT_OF_RANGE for rates outside the model's.
        """
        self.sync()
        if expect != self.prescription.rx_id:
            raise PumpCommandError("CONFLICT", "the prescription changed since it was read")
        low, high = self.model.min_rate_ml_per_day, self.model.max_rate_ml_per_day
        rates = [prescription.rate_ml_per_day] if isinstance(prescription, ContinuousPrescription) else []
        if isinstance(prescription, StepsPrescription):
            rates = [s.rate_ml_per_day for s in prescription.steps if s.rate_ml_per_day > 0]
        if any(not low <= r <= high for r in rates):
            raise PumpCommandError("OUT_OF_RANGE", f"rates must be within {low:g}..{high:g} mL/d")
        previous = self.prescription.rx_id
        rx_id = self._new_rx_id()
        self.prescription = prescription.model_copy(update={"rx_id": rx_id})
        data: dict[str, Any] = {"rx_id": rx_id, "previous_rx_id": previous}
        data["prescription"] = {**prescription_to_wire(self.prescription), "rx_id": self.prescription.rx_id}
        if request_id is not None:
            data["request_id"] = request_id
        self._log(self.at, LogEntryType.RX_CHANGED, data)
        return rx_id

    def bolus(self, *, kind: str, volume_ml: float, duration_s: float, request_id: str | None = None) -> datetime:
        """``BOLUS``: deliver ``volume_ml`` over ``duration_s`` on top of the basal rate; returns the start.

        Raises:
            PumpCommandError: BAD_REQUEST for an unknown kind, OUT_OF_RANGE for a volume the register
                does not hold or a non-positive duration, PUMP_FAULT when the pump cannot deliver.
        """
        self.sync()
        if kind not in {"bridge", "priming"}:
            raise PumpCommandError("BAD_REQUEST", f"unknown bolus kind {kind!r}")
        if not 0.0 < volume_ml <= self.register_ml + VOLUME_TOLERANCE_ML or duration_s <= 0:
            raise PumpCommandError("OUT_OF_RANGE", "bolus volume must be positive and held; duration positive")
        if not self._delivering(self.at):
            raise PumpCommandError("PUMP_FAULT", "the pump is not delivering (motor stall or end of service)")
        end = self.at + timedelta(seconds=duration_s)
        self._boluses.append(_Bolus(self.at, end, volume_ml / (duration_s / SECONDS_PER_DAY)))
        data: dict[str, Any] = {
            "kind": kind,
            "volume": format_quantity(volume_ml, "volume"),
            "duration": format_quantity(duration_s / 60.0 / 1440.0, "duration", "min"),
        }
        if request_id is not None:
            data["request_id"] = request_id
        self._log(self.at, LogEntryType.BOLUS, data)
        return self.pump_time(self.at)

    def set_clock(self, moment: datetime, *, request_id: str | None = None) -> tuple[datetime, datetime]:
        """``CLOCK_SET``: the pump's clock reads ``moment`` from now on; returns (previous, new)."""
        self.sync()
        previous = self.pump_time(self.at)
        self._clock_offset_s = (moment - self.at).total_seconds()
        self._clock_ref_at = self.at
        data: dict[str, Any] = {"previous": format_time(previous), "time": format_time(moment)}
        if request_id is not None:
            data["request_id"] = request_id
        self._log(self.at, LogEntryType.CLOCK_SET, data)
        return previous, moment

    def acknowledge_alarm(self, code: AlarmCode) -> None:
        """``ALARM_ACK``: silence an active alarm; it is not raised again until a refill re-arms it.

        Raises:
            PumpCommandError: NOT_FOUND when the alarm is not active.
        """
        self.sync()
        if self.alarms.pop(code, None) is None:
            raise PumpCommandError("NOT_FOUND", f"alarm {code.value} is not active")
        self._log(self.at, LogEntryType.ALARM_CLEARED, {"code": code.value, "acknowledged": True})

    def critical_reset(self) -> None:
        """A low-battery reset: the pump logs RESET, raises CRITICAL_RESET and falls to its minimum rate."""
        self.sync()
        self._log(self.at, LogEntryType.RESET, {"reason": "low_battery_reset"})
        self._disarmed.discard(AlarmCode.CRITICAL_RESET)
        self._raise(AlarmCode.CRITICAL_RESET, self.at)
        minimum = ContinuousPrescription(rate_ml_per_day=self.model.min_rate_ml_per_day)
        self.prescription = minimum.model_copy(update={"rx_id": self._new_rx_id()})

    # ---- what a nurse does at the needle -------------------------------------------------------

    def aspirate(self, *, resolution_ml: float = 0.1, completeness: float = 1.0) -> Aspiration:
        """Withdraw the true residual (the register does not notice until a ``REFILL``)."""
        self.sync()
        result = aspirate(self.true_ml, resolution_ml=resolution_ml, completeness=completeness)
        self.true_ml = result.left_in_pump_ml
        return result

    def inject(self, volume_ml: float) -> float:
        """Push ``volume_ml`` through the septum; returns the true volume now in the reservoir.

        Raises:
            ValueError: a non-positive volume or more than the reservoir holds.
        """
        if volume_ml <= 0:
            raise ValueError("fill volume must be positive")
        self.sync()
        into_reservoir = volume_ml - pocket_share(self.faults, self._used_pocket_fills, self.at, volume_ml)
        if self.true_ml + into_reservoir > self.model.capacity_ml + VOLUME_TOLERANCE_ML:
            raise ValueError(f"{into_reservoir:g} mL does not fit in the {self.model.capacity_ml:g} mL reservoir")
        self.true_ml = min(self.model.capacity_ml, self.true_ml + into_reservoir)
        if self.true_ml > 0:
            self.dry_at = None
        return self.true_ml
