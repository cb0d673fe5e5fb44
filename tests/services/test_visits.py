"""Refill visits end to end: the real driver and the simulated programmer, virtual time, SQLite."""

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from pump_service.billing import BillingDataError
from pump_service.domain.access import Permission, Role, allows
from pump_service.domain.findings import FindingCode, HardStopError
from pump_service.errors import (
    ConflictError,
    DeviceError,
    DeviceOutcomeUnknownError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    ServiceError,
)
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.cosignature_models import CosignatureKind
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, PrescriptionRow, Pump, Refill
from pump_service.persistence.schedule_models import Appointment
from pump_service.persistence.visit_models import Visit
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.visits.preview import VisitPreview, start_visit
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump
from simulators.clock import ManualClock
from simulators.link_faults import LinkFaultPlan
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import SimulatedProgrammer
from simulators.pump_faults import PocketFill
from simulators.transport import register_programmer
from tests.cosign_support import second_checks_for, store_cosignature
from tests.support import T0

_URLS = itertools.count()


class Station:
    """A registered programmable pump, the same pump simulated behind a programmer, one clock."""

    def __init__(
        self, engine: Engine, settings: Settings, actor: Actor, rx: dict[str, Any] | None = None, **pump: Any
    ) -> None:
        self.engine, self.settings, self.actor = engine, settings, actor
        self._checks: dict[str, tuple[int, ...]] = {}
        self.clock = ManualClock(T0)
        self.pump = SimulatedProgrammablePump(
            get_pump_model("programmable-20"),
            clock=self.clock,
            serial="SM-1",
            accuracy_factor=1.0,
            volume_ml=pump.pop("volume_ml", 4.0),
            prescription=ContinuousPrescription(rate_ml_per_day=0.5),
            drug=DrugInPump(name="baclofen", conc_mg_per_ml=2.0),
            **pump,
        )
        self.programmer = SimulatedProgrammer([self.pump], clock=self.clock)
        self.url = f"sim://visits-{next(_URLS)}"
        register_programmer(self.url, self.programmer)
        body = {
            "serial": "SM-1",
            "model_id": "programmable-20",
            "route": "intrathecal",
            "patient_ref": "P-9",
            "prescription": rx or {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"},
        }
        with transaction(engine) as session:
            register_patient(session, PatientEntry(patient_ref="P-9", body_mass_kg=60.0), actor=actor, now=T0)
            register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)

    def visit(self, body: dict[str, Any], *, second_check: bool = True) -> Any:
        """Complete the visit; a second person checks the spinal fill unless ``second_check`` is False."""
        entry = RefillEntry.model_validate(body)
        if second_check:
            entry = entry.model_copy(update={"cosignatures": (*entry.cosignatures, *self._second_checks(entry))})
        return complete_visit(
            self.engine, "SM-1", entry, settings=self.settings, clock=self.clock, actor=self.actor, device_url=self.url
        )

    def _second_checks(self, entry: RefillEntry) -> tuple[int, ...]:
        """One set of checks per idempotency key, so a retried request is the same request."""
        key = entry.idempotency_key or entry.model_dump_json()
        if key not in self._checks:
            try:
                self._checks[key] = tuple(
                    second_checks_for(
                        self.engine, "SM-1", entry, settings=self.settings, clock=self.clock, actor=self.actor
                    )
                )
            except ServiceError:
                return ()  # the visit itself refuses it the same way
        return self._checks[key]

    def start(self) -> VisitPreview:
        return start_visit(
            self.engine, "SM-1", settings=self.settings, clock=self.clock, actor=self.actor, device_url=self.url
        )

    def count(self, table: type) -> int:
        with transaction(self.engine) as session:
            return int(session.exec(select(func.count()).select_from(table)).one())


def refill_body(days: float = 0.0, returned: float = 4.0, **extra: Any) -> dict[str, Any]:
    return {
        "performed_at": (T0 + timedelta(days=days)).isoformat(),
        "returned_volume_ml": returned,
        "fill_volume_ml": "20 mL",
        "components": [
            {"drug_id": "baclofen", "conc_mg_per_ml": "2000 ug/mL", "lot": "B1", "expires_on": "2027-12-31"}
        ],
        "idempotency_key": f"visit-{days:g}-0001",
        **extra,
    }


@pytest.fixture
def station(engine: Engine, settings: Settings, actor: Actor) -> Station:
    return Station(engine, settings, actor)


def test_a_programmable_refill_is_written_through_the_programmer_and_committed(station: Station) -> None:
    result = station.visit(refill_body())
    assert station.pump.register_ml == pytest.approx(20.0)
    assert [c for c, _ in station.programmer.executed] == ["REFILL"]
    assert result.next_due_reason == "low_reservoir"
    with transaction(station.engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == "SM-1")).one()
        visit = session.exec(select(Visit)).one()
        refilled = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "REFILLED")).one()
    assert (visit.state, visit.refill_id) == ("committed", result.refill_id)
    assert refilled.data["request_id"] == visit.refill_request_id
    assert pump.reservoir_ml == pytest.approx(20.0)
    assert pump.battery_state == "OK"


def test_the_same_request_five_times_records_writes_and_bills_once(station: Station) -> None:
    results = [station.visit(refill_body()) for _ in range(5)]
    assert [r.replayed for r in results] == [False, True, True, True, True]
    assert station.count(Refill) == 1
    with transaction(station.engine) as session:
        codes = sorted(row.code for row in session.exec(select(ChargeEventRow)).all())
    assert codes == ["95990", "A4220", "J0475"]  # one set: refill by staff, kit, baclofen
    assert station.programmer.executed == [("REFILL", station.programmer.executed[0][1])]


@pytest.mark.parametrize("role", [Role.NURSE, Role.BENCH, Role.PHYSICIAN])
def test_only_a_role_that_may_prescribe_changes_the_dose_with_a_refill(
    engine: Engine, settings: Settings, role: Role
) -> None:
    """A nurse may not reprogram (POST /reprogrammings is PRESCRIBE): a refill's prescription is no way round it."""
    station = Station(engine, settings, Actor(user="someone-1", station_id="test-station", role=role))
    body = refill_body(prescription={"mode": "continuous", "rate_ml_per_day": "0.4 mL/d"})
    if not allows(role, Permission.PRESCRIBE):
        with pytest.raises(PermissionDeniedError, match="may not change pump SM-1's prescription"):
            station.visit(body)
        assert station.programmer.executed == []
        assert (station.count(Refill), station.count(Visit)) == (0, 0)
        assert station.visit(refill_body()).fill_volume_ml == pytest.approx(20.0)  # a refill keeping the dose is hers
        return
    station.visit(body)
    assert [c for c, _ in station.programmer.executed] == ["REFILL", "RX_WRITE"]


def test_a_dose_change_is_written_and_the_pump_rx_id_kept(station: Station) -> None:
    station.visit(refill_body(prescription={"mode": "continuous", "rate_ml_per_day": "0.4 mL/d"}))
    assert [c for c, _ in station.programmer.executed] == ["REFILL", "RX_WRITE"]
    with transaction(station.engine) as session:
        current = session.exec(select(PrescriptionRow).where(PrescriptionRow.superseded_at == None)).one()  # noqa: E711
    assert current.rate_ml_per_day == pytest.approx(0.4)
    assert current.rx_id == station.pump.prescription.rx_id
    with transaction(station.engine) as session:
        codes = {row.code for row in session.exec(select(ChargeEventRow)).all()}
    assert "62369" in codes  # refill with reprogramming by clinical staff
    assert "95990" not in codes


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fill_volume_ml": "25 mL"}, "fill_volume_ml"),
        ({"performed_at": (T0 + timedelta(days=3)).isoformat()}, "performed_at"),
        ({"prescription": {"mode": "continuous", "rate_ml_per_day": "30 mL/d"}}, "prescription"),
        ({"components": [{"drug_id": "baclofen", "amount_mg": "100 mg"}]}, "components"),
    ],
)
def test_bad_input_stores_nothing_and_never_touches_the_pump(
    station: Station, change: dict[str, Any], field: str
) -> None:
    with pytest.raises(RuleViolationError) as refused:
        station.visit({**refill_body(), **change})
    assert (refused.value.field or "").startswith(field)
    assert station.programmer.executed == []
    assert (station.count(Refill), station.count(Visit)) == (0, 0)


def test_an_unknown_pump_is_not_found(station: Station) -> None:
    with pytest.raises(NotFoundError):
        complete_visit(
            station.engine,
            "NOPE",
            RefillEntry.model_validate(refill_body()),
            settings=station.settings,
            clock=station.clock,
            actor=station.actor,
            device_url=station.url,
        )


def test_a_write_with_an_unknown_outcome_is_reconciled_on_retry_never_written_twice(station: Station) -> None:
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    with pytest.raises(DeviceOutcomeUnknownError):
        station.visit(refill_body())
    assert station.count(Refill) == 0
    with transaction(station.engine) as session:
        assert session.exec(select(Visit)).one().state == "writing"
    station.programmer.faults = LinkFaultPlan()
    result = station.visit(refill_body())
    assert not result.replayed
    assert [c for c, _ in station.programmer.executed] == ["REFILL"]  # reconciled from the pump log
    assert station.count(Refill) == 1


def _pocket_filled_station(engine: Engine, settings: Settings, actor: Actor) -> tuple[Station, float]:
    station = Station(engine, settings, actor, faults=(PocketFill(T0, fraction=0.25),), volume_ml=0.0)
    station.pump.inject(20.0)  # a quarter went into the pocket: the register says 20, the truth is 15
    station.pump.record_refill(volume_removed_ml=0, volume_added_ml=20, reservoir_after_ml=20, drug=None)
    station.clock.advance(timedelta(days=10))
    return station, station.pump.aspirate().measured_ml


def _refilled_entries(station: Station) -> int:
    entries, _, _ = station.pump.log.read(station.pump.log.first, 8192)
    return sum(1 for e in entries if e.type.value == "REFILLED")


def test_a_suspected_pocket_fill_on_an_intrathecal_pump_is_a_hard_stop_that_writes_nothing(
    engine: Engine, settings: Settings, actor: Actor
) -> None:
    """Observation 3: far less came back than the register held; the new prescription must not be written."""
    station, returned = _pocket_filled_station(engine, settings, actor)
    logged = _refilled_entries(station)
    body = refill_body(days=10, returned=returned, prescription={"mode": "continuous", "rate_ml_per_day": "0.4 mL/d"})
    with pytest.raises(HardStopError) as stopped:
        station.visit(body)
    assert [f.code for f in stopped.value.unresolved] == [FindingCode.POCKET_FILL_SUSPECTED]
    figures = stopped.value.unresolved[0].figures
    assert float(figures["register_ml"] or 0) - float(figures["returned_ml"] or 0) > 4.0  # a quarter of 20 mL
    assert station.programmer.executed == []  # no REFILL, no RX_WRITE
    assert _refilled_entries(station) == logged
    assert (station.count(Refill), station.count(Visit)) == (0, 0)

    def cosigned(*codes: str) -> int:  # a physician co-signs the override at the nurse's station
        payload = {"codes": list(codes), "reason": "ultrasound: catheter fine, fill confirmed"}
        kind = CosignatureKind.HARD_STOP_OVERRIDE
        return store_cosignature(
            engine, "SM-1", kind, payload, now=station.clock.now(), signer="dr-7", role="physician"
        )

    with pytest.raises(HardStopError):  # an override of another hard stop does not cover this one
        station.visit({**body, "cosignatures": [cosigned("drug_expired")]})
    assert station.programmer.executed == []
    allowed = {**body, "cosignatures": [cosigned("pocket_fill_suspected")]}
    result = station.visit(allowed)
    again = station.visit(allowed)
    assert again.replayed
    assert again.refill_id == result.refill_id
    assert [c for c, _ in station.programmer.executed] == ["REFILL", "RX_WRITE"]
    assert _refilled_entries(station) == logged + 1
    assert station.count(Refill) == 1
    assert result.override is not None
    assert (result.override.clinician_id, result.override.role) == ("dr-7", "physician")
    assert result.override.cosignature_id == allowed["cosignatures"][0]
    assert {c.kind for c in result.cosignatures} == {"hard_stop_override", "second_check"}
    assert "pocket_fill_suspected" in {f.code.value for f in result.findings}


def test_a_retry_after_the_link_dropped_judges_the_return_against_the_register_before_the_write(
    station: Station,
) -> None:
    """Observation 6: the retry reads the pump after the refill landed; no false pocket-fill finding."""
    station.visit(refill_body())
    station.clock.advance(timedelta(days=30))
    station.pump.sync()
    body = refill_body(days=30, returned=round(station.pump.register_ml, 1))
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    with pytest.raises(DeviceOutcomeUnknownError):
        station.visit(body)
    station.programmer.faults = LinkFaultPlan()
    result = station.visit(body)
    assert not result.replayed
    codes = {f.code for f in result.findings}
    assert FindingCode.POCKET_FILL_SUSPECTED not in codes
    assert FindingCode.POCKET_FILL_WARNING not in codes
    assert not any("pocket" in w for w in result.warnings)


def test_starting_a_visit_interrogates_and_shows_the_expected_residual(station: Station) -> None:
    station.visit(refill_body())
    station.clock.advance(timedelta(days=10))
    preview = start_visit(
        station.engine,
        "SM-1",
        settings=station.settings,
        clock=station.clock,
        actor=station.actor,
        device_url=station.url,
    )
    assert preview.interrogated
    assert preview.expected_residual_ml == pytest.approx(15.0, abs=1e-3)
    assert preview.days_since_fill == pytest.approx(10.0, abs=1e-3)  # plus the seconds of telemetry
    assert preview.appointment is not None
    assert preview.new_log_entries == 0  # the refill's entries were stored with the visit


def test_a_visit_the_billing_tables_do_not_serve_is_refused_before_the_pump_is_written(
    engine: Engine, settings: Settings, actor: Actor
) -> None:
    station = Station(engine, settings, actor)
    station.clock = ManualClock(T0.replace(year=2025))
    with pytest.raises(BillingDataError, match="do not serve 2025-11-02"):
        station.visit({**refill_body(), "performed_at": T0.replace(year=2025).isoformat()})
    assert station.programmer.executed == []
    assert (station.count(Refill), station.count(Visit)) == (0, 0)


# ---- regressions found in review ---------------------------------------------------------------


def test_a_retry_long_after_the_pump_was_written_is_still_recorded(station: Station) -> None:
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    with pytest.raises(DeviceOutcomeUnknownError):
        station.visit(refill_body())
    station.programmer.faults = LinkFaultPlan()
    station.clock.advance(timedelta(hours=6))  # the pump has delivered since the refill landed
    result = station.visit(refill_body())
    assert not result.replayed
    assert [c for c, _ in station.programmer.executed] == ["REFILL"]


def test_a_prescription_the_protocol_cannot_carry_is_refused_before_any_write(station: Station) -> None:
    rx = {"mode": "continuous", "rate_ml_per_day": "0.4 mL/d", "bolus": {"volume_ml": "0.1 mL", "max_per_day": 2}}
    with pytest.raises(RuleViolationError) as refused:
        station.visit(refill_body(prescription=rx))
    assert refused.value.field == "prescription"
    assert station.programmer.executed == []


def test_a_retry_under_a_new_key_never_writes_the_pump_twice(station: Station) -> None:
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    with pytest.raises(DeviceOutcomeUnknownError):
        station.visit(refill_body())
    station.programmer.faults = LinkFaultPlan()
    with pytest.raises(ConflictError, match="retry that request"):
        station.visit({**refill_body(), "idempotency_key": "another-key-0001"})
    assert [c for c, _ in station.programmer.executed] == ["REFILL"]
    station.visit(refill_body())  # the original request settles it
    assert station.count(Refill) == 1


def test_an_unfinished_visit_that_never_reached_the_pump_is_aborted(station: Station) -> None:
    station.programmer.faults = LinkFaultPlan(seed=1, unplug_after_frames=3)  # dies before REFILL goes out
    with pytest.raises(DeviceError):
        station.visit(refill_body())
    assert station.programmer.executed == []
    station.programmer.unplugged = False
    station.programmer.faults = LinkFaultPlan()
    station.visit({**refill_body(), "idempotency_key": "another-key-0002"})
    with transaction(station.engine) as session:
        states = sorted(v.state for v in session.exec(select(Visit)).all())
    assert states in (["committed"], ["aborted", "committed"])
    assert [c for c, _ in station.programmer.executed] == ["REFILL"]


def test_a_dosed_component_tells_the_pump_its_concentration(station: Station) -> None:
    dosed = [{"drug_id": "baclofen", "dose": {"mg_per_day": "0.5 mg/d"}, "stock_concentration": 2.0}]
    station.visit(refill_body(components=[*dosed, {"drug_id": "saline"}]))
    assert station.pump.drug is not None
    assert station.pump.drug.conc_mg_per_ml == pytest.approx(1.0)  # 0.5 mg/d at 0.5 mL/d


def test_log_entries_logged_before_the_visit_are_stored_too(station: Station) -> None:
    station.clock.advance(timedelta(days=6))  # 4 mL at 0.5 mL/d: LOW_RESERVOIR logged on day 4
    station.visit(refill_body(days=6, returned=1.0))
    with transaction(station.engine) as session:
        stored = sorted(
            (r.log_index, r.entry_type) for r in session.exec(select(DeviceLogRecord)).all() if r.log_index is not None
        )
    assert stored[0] == (0, "ALARM_RAISED")
    assert [i for i, _ in stored] == list(range(len(stored)))


def test_a_dose_change_judges_the_ending_interval_at_the_old_rate(station: Station) -> None:
    station.pump.aspirate()
    station.pump.inject(20.0)  # what the nurse does at the needle; the visit tells the pump
    station.visit(refill_body())
    station.clock.advance(timedelta(days=10))
    returned = station.pump.aspirate().measured_ml  # 15 mL after 10 days at 0.5 mL/d
    result = station.visit(
        refill_body(days=10, returned=returned, prescription={"mode": "continuous", "rate_ml_per_day": "1 mL/d"})
    )
    assert result.flow_class == "ok"
    assert result.expected_residual_ml == pytest.approx(15.0, abs=0.01)
    assert result.planning_rate_ml_per_day == pytest.approx(1.0)


def test_starting_a_visit_during_its_appointment_keeps_that_appointment(station: Station) -> None:
    station.visit(refill_body())
    with transaction(station.engine) as session:
        booked = session.exec(select(Appointment).where(Appointment.status == "booked")).one()
    station.clock.set(booked.starts_at + timedelta(minutes=10))  # the patient is in the chair
    start_visit(
        station.engine,
        "SM-1",
        settings=station.settings,
        clock=station.clock,
        actor=station.actor,
        device_url=station.url,
    )
    with transaction(station.engine) as session:
        still = session.exec(select(Appointment).where(Appointment.id == booked.id)).one()
    assert still.status == "booked"


def test_resending_the_prescription_in_force_is_not_a_reprogramming(station: Station) -> None:
    station.visit(refill_body(prescription={"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"}))
    assert [c for c, _ in station.programmer.executed] == ["REFILL"]  # nothing to write
    with transaction(station.engine) as session:
        codes = {row.code for row in session.exec(select(ChargeEventRow)).all()}
    assert "95990" in codes
    assert "62369" not in codes
