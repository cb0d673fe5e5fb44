"""The slow, obvious way to run a fleet: one single-pump simulator per patient, stepped by the hour.

It exists to check :class:`simulators.fleet.FleetRunner`: both must report the same alarms and
dry runs at the same instants. It shares no code with the fleet's vectorised stepping.
"""

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from schemas.device_log import LogEntryType
from schemas.prescription import ContinuousPrescription
from schemas.pump import PumpFamily
from simulators.clock import ManualClock
from simulators.constant_flow import PumpEventKind, SimulatedConstantFlowPump
from simulators.fleet import FleetEventKind
from simulators.patients import FleetMember
from simulators.programmable import SimulatedProgrammablePump

__all__ = ["reference_events"]

_CF_KINDS = {PumpEventKind.RESIDUAL_FLOOR: FleetEventKind.ALARM, PumpEventKind.DRY: FleetEventKind.DRY}
_ALARM_KINDS = {"LOW_RESERVOIR": FleetEventKind.ALARM, "EMPTY_RESERVOIR": FleetEventKind.EMPTY_ALARM}


def _days(moment: datetime, start: datetime) -> float:
    return (moment - start).total_seconds() / 86_400.0


def reference_events(
    members: Sequence[FleetMember],
    *,
    start: datetime,
    days: float,
    refill_days: Sequence[Sequence[float]],
    step: timedelta = timedelta(hours=1),
) -> list[tuple[int, FleetEventKind, float]]:
    """Every (pump index, kind, day) event of the fleet, each pump simulated on its own clock."""
    events: list[tuple[int, FleetEventKind, float]] = []
    end = start + timedelta(days=days)
    for index, member in enumerate(members):
        refills = [start + timedelta(days=d) for d in sorted(refill_days[index]) if d <= days]
        run = _constant_flow if member.model.family is PumpFamily.CONSTANT_FLOW else _programmable
        events.extend((index, kind, _days(at, start)) for kind, at in run(member, start, end, refills, step))
    return sorted(events, key=lambda e: (e[2], e[0], e[1]))


def _constant_flow(
    member: FleetMember, start: datetime, end: datetime, refills: list[datetime], step: timedelta
) -> list[tuple[FleetEventKind, datetime]]:
    clock = ManualClock(start)
    capacity = member.model.capacity_ml
    pump = SimulatedConstantFlowPump(
        member.model,
        clock=clock,
        unit_factor=member.unit_factor,
        rate_ml_per_day=member.rate_ml_per_day,
        timeline=member.timeline,
        volume_ml=capacity,
    )

    def refill() -> None:
        pump.aspirate()
        pump.fill(capacity)

    _step_until(clock, end, refills, step, pump.sync, refill)
    return [(_CF_KINDS[e.kind], e.at) for e in pump.events]


def _programmable(
    member: FleetMember, start: datetime, end: datetime, refills: list[datetime], step: timedelta
) -> list[tuple[FleetEventKind, datetime]]:
    clock = ManualClock(start)
    capacity = member.model.capacity_ml
    pump = SimulatedProgrammablePump(
        member.model,
        clock=clock,
        accuracy_factor=member.unit_factor,
        volume_ml=capacity,
        prescription=ContinuousPrescription(rate_ml_per_day=member.rate_ml_per_day),
    )
    events: list[tuple[FleetEventKind, datetime]] = []

    def refill() -> None:
        pump.sync()
        if pump.dry_at is not None:
            events.append((FleetEventKind.DRY, pump.dry_at))
        removed = pump.aspirate(resolution_ml=1e-9).removed_ml
        pump.inject(capacity)
        # The programmer takes at most capacity minus what its register says remains.
        added = capacity - max(0.0, pump.register_ml - removed)
        pump.record_refill(volume_removed_ml=removed, volume_added_ml=added, reservoir_after_ml=capacity, drug=None)

    _step_until(clock, end, refills, step, pump.sync, refill)
    if pump.dry_at is not None:
        events.append((FleetEventKind.DRY, pump.dry_at))
    cursor, more = 0, True
    while more:
        page, cursor, more = pump.read_log(cursor, 64)
        events.extend(
            (_ALARM_KINDS[e.data["code"]], e.device_time_at)
            for e in page
            if e.type is LogEntryType.ALARM_RAISED and e.data["code"] in _ALARM_KINDS
        )
    return events


def _step_until(
    clock: ManualClock,
    end: datetime,
    refills: list[datetime],
    step: timedelta,
    sync: Callable[[], object],
    refill: Callable[[], object],
) -> None:
    pending = list(refills)
    while clock.now() < end:
        target = min(clock.now() + step, end)
        if pending and pending[0] <= target:
            clock.set(pending.pop(0))
            refill()
            continue
        clock.set(target)
        sync()
