"""Every kind of visit beside the refill: analysis, reprogramming, flush, abandoned (issue 10, observation 7).

The real driver and the simulated programmer in virtual time (the refill tests' ``Station``): each
kind is recorded exactly once, a retry is replayed with the same charges, a reused key with other
content is a conflict, and the codes are the ones the billing rules give each kind.
"""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pump_service.domain.access import Role
from pump_service.domain.findings import FindingCode, HardStopError
from pump_service.errors import ConflictError, DeviceOutcomeUnknownError, RuleViolationError
from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import transaction
from pump_service.persistence.models import DeviceLogRecord, PrescriptionRow, Pump, Refill
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Notification
from pump_service.persistence.visit_models import Visit
from pump_service.services.actor import Actor
from pump_service.services.charges.recording import list_charges, void_charge
from pump_service.services.contracts import PatientEntry, PumpRegistration, RefillEntry
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.services.scheduling.notifications import process_due
from pump_service.services.visits.contracts import AbandonEntry, AnalysisEntry, FlushEntry, ReprogrammingEntry
from pump_service.services.visits.other_kinds import (
    abandon_visit,
    record_analysis,
    record_flush,
    record_reprogramming,
)
from pump_service.services.visits.refill_record import record_refill
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from simulators.link_faults import LinkFaultPlan
from tests.services.test_visits import Station, refill_body
from tests.support import T0, FixedClock, fudr_refill

# The physician who reprograms overrides in their own name (see reprogram()).
MD = Actor(user="MD-1", station_id="test-station", role=Role.PHYSICIAN)
BACLOFEN_OVERRIDE = {
    "reason": "titrating up under supervision after a trial",
    "codes": ["dose_above_label_max"],
}


def _at(days: float = 0.0) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def analyse(station: Station, **body: Any) -> Any:
    entry = AnalysisEntry.model_validate({"performed_at": _at(), **body})
    return record_analysis(
        station.engine,
        "SM-1",
        entry,
        settings=station.settings,
        clock=station.clock,
        actor=station.actor,
        device_url=station.url,
    )


def reprogram(station: Station, rate: str = "0.6 mL/d", **body: Any) -> Any:
    entry = ReprogrammingEntry.model_validate(
        {"performed_at": _at(), "prescription": {"mode": "continuous", "rate_ml_per_day": rate}, **body}
    )
    return record_reprogramming(
        station.engine,
        "SM-1",
        entry,
        settings=station.settings,
        clock=station.clock,
        actor=MD if "override" in body else station.actor,
        device_url=station.url,
    )


def flush(engine: Engine, settings: Settings, actor: Actor, serial: str, **body: Any) -> Any:
    entry = FlushEntry.model_validate(
        {
            "performed_at": _at(),
            "injected": [{"drug_id": "heparin", "volume_ml": "5 mL", "conc_usp_u_per_ml": 100, "lot": "H-1"}],
            **body,
        }
    )
    with transaction(engine) as session:
        return record_flush(session, serial, entry, settings=settings, actor=actor, now=T0)


def abandon(engine: Engine, settings: Settings, actor: Actor, key: str, **body: Any) -> Any:
    entry = AbandonEntry.model_validate(
        {"pump_serial": "SM-1", "performed_at": _at(), "reason": "patient unwell, visit rescheduled", **body}
    )
    with transaction(engine) as session:
        return abandon_visit(session, key, entry, settings=settings, actor=actor, now=T0)


def charge_codes(engine: Engine, visit_key: str) -> list[str]:
    with transaction(engine) as session:
        rows = session.exec(select(ChargeEventRow).where(ChargeEventRow.visit_key == visit_key)).all()
        return sorted(r.code for r in rows)


@pytest.fixture
def station(engine: Engine, settings: Settings, actor: Actor) -> Station:
    return Station(engine, settings, actor)


@pytest.fixture
def hai(engine: Engine, settings: Settings, actor: Actor) -> str:
    """A constant-flow intra-arterial pump with a patient."""
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-3"), actor=actor, now=T0)
        body = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-3"}
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
    return "HAI-1"


# --- analysis -------------------------------------------------------------------------------------


def test_an_analysis_interrogates_stores_the_log_and_bills_62367_once(station: Station) -> None:
    first = analyse(station)
    assert (first.kind, first.state, first.replayed) == ("analysis", "committed", False)
    assert [line.code for line in first.charges] == ["62367"]
    assert station.programmer.executed == []  # nothing written
    assert first.reservoir_ml == pytest.approx(4.0)
    assert first.next_due_at is not None
    again = analyse(station)
    assert again.replayed
    assert again.charges == first.charges
    assert charge_codes(station.engine, first.visit_key) == ["62367"]
    assert station.count(Visit) == 1
    with transaction(station.engine) as session:
        types = [r.entry_type for r in session.exec(select(DeviceLogRecord)).all()]
        pump = session.exec(select(Pump).where(Pump.serial == "SM-1")).one()
    assert "ANALYSIS_RECORDED" in types
    assert "INTERROGATED" in types
    assert pump.next_due_at == first.next_due_at  # replanned from the reading


def test_an_analysis_key_reused_for_other_content_is_a_conflict(station: Station) -> None:
    analyse(station, idempotency_key="analysis-0001")
    with pytest.raises(ConflictError):
        analyse(station, idempotency_key="analysis-0001", performed_at=_at(-1))
    with pytest.raises(ConflictError):
        reprogram(station, idempotency_key="analysis-0001")
    assert station.programmer.executed == []


def test_a_constant_flow_pump_has_nothing_to_analyse(station: Station, hai: str) -> None:
    entry = AnalysisEntry.model_validate({"performed_at": _at()})
    with pytest.raises(RuleViolationError):
        record_analysis(
            station.engine,
            hai,
            entry,
            settings=station.settings,
            clock=station.clock,
            actor=station.actor,
            device_url=station.url,
        )


# --- reprogramming --------------------------------------------------------------------------------


def test_a_reprogramming_writes_once_replans_and_bills_62368(station: Station) -> None:
    with transaction(station.engine) as session:
        due_before = session.exec(select(Pump).where(Pump.serial == "SM-1")).one().next_due_at
    first = reprogram(station)
    assert (first.kind, first.replayed) == ("reprogramming", False)
    assert [c for c, _ in station.programmer.executed] == ["RX_WRITE"]
    assert station.pump.prescription.mean_rate_ml_per_day() == pytest.approx(0.6)
    assert [line.code for line in first.charges] == ["62368"]
    assert first.planning_rate_ml_per_day == pytest.approx(0.6)
    again = reprogram(station)
    assert again.replayed
    assert again.charges == first.charges
    assert [c for c, _ in station.programmer.executed] == ["RX_WRITE"]
    with transaction(station.engine) as session:
        pump = session.exec(select(Pump).where(Pump.serial == "SM-1")).one()
        rows = session.exec(select(PrescriptionRow).where(PrescriptionRow.superseded_at == None)).all()  # noqa: E711
        changed = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "RX_CHANGED")).one()
    assert [r.rate_ml_per_day for r in rows] == [pytest.approx(0.6)]
    assert pump.planning_rate_ml_per_day == pytest.approx(0.6)
    assert pump.next_due_at == first.next_due_at != due_before  # replanned at the new rate
    assert changed.data["request_id"].endswith("-rx")
    assert charge_codes(station.engine, first.visit_key) == ["62368"]


def test_the_same_prescription_is_no_reprogramming(station: Station) -> None:
    with pytest.raises(RuleViolationError) as caught:
        reprogram(station, rate="0.5 mL/d")
    assert caught.value.field == "prescription"
    assert station.programmer.executed == []


def test_a_dose_above_the_label_maximum_is_a_hard_stop_until_overridden(station: Station) -> None:
    # baclofen 2 mg/mL (what the pump holds) x 1.5 mL/d = 3 mg/d, above the 2 mg/d maximum
    with pytest.raises(HardStopError) as caught:
        reprogram(station, rate="1.5 mL/d")
    assert [f.code for f in caught.value.unresolved] == [FindingCode.DOSE_ABOVE_LABEL_MAX]
    assert caught.value.unresolved[0].field == "prescription"
    assert station.programmer.executed == []
    assert station.count(Visit) == 0
    result = reprogram(station, rate="1.5 mL/d", override=BACLOFEN_OVERRIDE)
    assert result.override is not None
    assert result.override.clinician_id == "MD-1"
    assert FindingCode.DOSE_ABOVE_LABEL_MAX in {f.code for f in result.findings}
    assert [c for c, _ in station.programmer.executed] == ["RX_WRITE"]
    assert reprogram(station, rate="1.5 mL/d", override=BACLOFEN_OVERRIDE).replayed


def test_a_reprogramming_with_an_unknown_outcome_is_reconciled_from_the_pump_log(station: Station) -> None:
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    with pytest.raises(DeviceOutcomeUnknownError):
        reprogram(station)
    with transaction(station.engine) as session:
        assert session.exec(select(Visit)).one().state == "writing"
    with transaction(station.engine) as session:
        assert session.exec(select(ChargeEventRow)).all() == []
    station.programmer.faults = LinkFaultPlan()
    result = reprogram(station)
    assert not result.replayed
    assert [c for c, _ in station.programmer.executed] == ["RX_WRITE"]  # written once, found in the log
    assert [line.code for line in result.charges] == ["62368"]
    with transaction(station.engine) as session:
        assert session.exec(select(Visit)).one().state == "committed"


def test_a_reprogramming_that_may_have_landed_is_neither_abandoned_nor_overtaken(
    station: Station, engine: Engine, settings: Settings, actor: Actor
) -> None:
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    with pytest.raises(DeviceOutcomeUnknownError):
        reprogram(station, idempotency_key="reprogram-0001")
    with pytest.raises(ConflictError):
        abandon(engine, settings, actor, "reprogram-0001", kind="reprogramming")
    station.programmer.faults = LinkFaultPlan()
    # another visit of the pump finds that write in the log: that request must be retried first
    with pytest.raises(ConflictError):
        reprogram(station, rate="0.7 mL/d")
    with pytest.raises(ConflictError, match="retry that request"):
        station.visit(refill_body())  # a refill does not overtake it either
    assert reprogram(station, idempotency_key="reprogram-0001").state == "committed"


# --- flush ----------------------------------------------------------------------------------------


def test_a_flush_records_what_was_injected_and_bills_96523_once(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    first = flush(engine, settings, actor, hai)
    assert (first.kind, first.replayed) == ("flush", False)
    assert [(i.drug_id, i.volume_ml, i.amount_usp_u) for i in first.injected] == [("heparin", 5.0, 500.0)]
    assert [(c.code, c.status) for c in first.charges] == [("96523", "billable"), ("J1644", "not-billable")]
    again = flush(engine, settings, actor, hai)
    assert again.replayed
    assert again.charges == first.charges
    assert charge_codes(engine, first.visit_key) == ["96523", "J1644"]
    with transaction(engine) as session:
        logged = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "FLUSH_RECORDED")).one()
    assert logged.data["injected"][0]["amount_usp_u"] == 500.0
    flush(engine, settings, actor, hai, idempotency_key="flush-key-1")
    with pytest.raises(ConflictError):
        flush(engine, settings, actor, hai, idempotency_key="flush-key-1", site="venous_port")


def test_heparin_into_an_intrathecal_catheter_is_a_hard_stop(station: Station) -> None:
    with pytest.raises(HardStopError) as caught:
        flush(station.engine, station.settings, station.actor, "SM-1")
    assert [f.code for f in caught.value.unresolved] == [FindingCode.DRUG_ROUTE]
    saline = flush(
        station.engine, station.settings, station.actor, "SM-1", injected=[{"drug_id": "saline", "volume_ml": 3}]
    )
    assert saline.kind == "flush"
    assert saline.findings == ()


def test_a_drug_is_not_a_flush_agent(engine: Engine, settings: Settings, actor: Actor, hai: str) -> None:
    with pytest.raises(RuleViolationError) as caught:
        flush(engine, settings, actor, hai, injected=[{"drug_id": "floxuridine", "volume_ml": 5}])
    assert caught.value.field == "injected.0.drug_id"


# --- abandoned ------------------------------------------------------------------------------------


def test_an_abandoned_visit_is_recorded_once_with_its_reason_and_bills_nothing(
    station: Station, engine: Engine, settings: Settings, actor: Actor
) -> None:
    first = abandon(engine, settings, actor, "visit-abandoned-1")
    assert (first.state, first.abandon_reason, first.charges, first.replayed) == (
        "abandoned",
        "patient unwell, visit rescheduled",
        (),
        False,
    )
    assert abandon(engine, settings, actor, "visit-abandoned-1").replayed
    with pytest.raises(ConflictError):
        abandon(engine, settings, actor, "visit-abandoned-1", reason="something else entirely")
    with transaction(engine) as session:
        visit = session.exec(select(Visit)).one()
        logged = session.exec(select(DeviceLogRecord).where(DeviceLogRecord.entry_type == "VISIT_ABANDONED")).one()
    assert (visit.state, visit.abandon_reason, visit.started_by, visit.station_id) == (
        "abandoned",
        "patient unwell, visit rescheduled",
        "nurse-7",
        "test-station",
    )
    assert logged.data["reason"] == "patient unwell, visit rescheduled"
    assert charge_codes(engine, "visit-abandoned-1") == []


def test_a_committed_visit_cannot_be_abandoned(
    station: Station, engine: Engine, settings: Settings, actor: Actor
) -> None:
    done = analyse(station, idempotency_key="analysis-0002")
    with pytest.raises(ConflictError):
        abandon(engine, settings, actor, done.visit_key, kind="analysis")


def test_a_visit_in_the_future_is_refused(engine: Engine, settings: Settings, actor: Actor, hai: str) -> None:
    with pytest.raises(RuleViolationError) as caught:
        flush(engine, settings, actor, hai, performed_at=_at(1))
    assert caught.value.field == "performed_at"


def test_observation_7_analysis_reprogramming_and_flush_only_visits_are_recorded_and_billed(
    station: Station, hai: str
) -> None:
    """Issue 10, observation 7: these visits could only be computed inside the billing engine."""
    analysis = analyse(station)
    reprogramming = reprogram(station)
    flushed = flush(station.engine, station.settings, station.actor, hai)
    assert [c.code for c in analysis.charges] == ["62367"]
    assert [c.code for c in reprogramming.charges] == ["62368"]
    assert [c.code for c in flushed.charges] == ["96523", "J1644"]
    with transaction(station.engine) as session:
        kinds = sorted((v.kind, v.state) for v in session.exec(select(Visit)).all())
    assert kinds == [("analysis", "committed"), ("flush", "committed"), ("reprogramming", "committed")]


def test_a_refill_cannot_reuse_the_key_of_another_kind_of_visit(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    flush(engine, settings, actor, hai, idempotency_key="shared-key-0001")
    entry = RefillEntry.model_validate(fudr_refill(T0, idempotency_key="shared-key-0001"))
    with pytest.raises(ConflictError):
        complete_visit(engine, hai, entry, settings=settings, clock=FixedClock(), actor=actor)
    with transaction(engine) as session:
        assert session.exec(select(Refill)).all() == []
        assert session.exec(select(Visit)).one().kind == "flush"


def test_a_flush_on_a_refill_day_is_not_billed_as_the_sole_service(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    entry = RefillEntry.model_validate(fudr_refill(T0 - timedelta(hours=1)))
    complete_visit(engine, hai, entry, settings=settings, clock=FixedClock(), actor=actor)
    flushed = flush(engine, settings, actor, hai)
    assert (flushed.charges[0].code, flushed.charges[0].status) == ("96523", "not-billable")  # R3: sole service only


# --- found when the four parts of issue 10 met ----------------------------------------------------


def test_a_flush_is_filed_under_the_clinic_whose_set_up_priced_it(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    """A flush books nothing, so the pump had no clinic and its charges were missing from clinic views."""
    with transaction(engine) as session:
        clinic = default_clinic(session, settings, now=T0, actor=actor)
    result = flush(engine, settings, actor, hai)
    with transaction(engine) as session:
        rows = list_charges(session, clinic=clinic.clinic_id)
    assert sorted(r.event_id for r in rows) == sorted(c.event_id for c in result.charges)


def test_a_replayed_visit_shows_a_voided_charge_as_voided(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    first = flush(engine, settings, actor, hai)
    code_96523 = next(c for c in first.charges if c.code == "96523")
    with transaction(engine) as session:
        void_charge(session, code_96523.event_id, reason="entered on the wrong patient", actor=actor, now=T0)
    again = flush(engine, settings, actor, hai)
    assert again.replayed
    assert next(c.status for c in again.charges if c.code == "96523") == "voided"


def test_a_flush_in_the_refill_appointment_ends_it_and_books_the_refill_again_without_an_overdue_alarm(
    engine: Engine, settings: Settings, actor: Actor, hai: str
) -> None:
    """The patient came, only a flush was done: the appointment once passed 'without a refill' and escalated."""
    with transaction(engine) as session:
        record_refill(session, hai, RefillEntry.model_validate(fudr_refill(T0)), actor=actor, settings=settings, now=T0)
        booked = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED)).one()
    at = booked.starts_at + timedelta(minutes=10)
    entry = FlushEntry.model_validate(
        {
            "performed_at": at.isoformat(),
            "injected": [{"drug_id": "heparin", "volume_ml": "5 mL", "conc_usp_u_per_ml": 100, "lot": "H-1"}],
        }
    )
    with transaction(engine) as session:
        record_flush(session, hai, entry, settings=settings, actor=actor, now=at)
    with transaction(engine) as session:
        old = session.get(Appointment, booked.id)
        again = session.exec(select(Appointment).where(Appointment.status == AppointmentStatus.BOOKED)).one()
        assert old is not None
        assert old.status == AppointmentStatus.SUPERSEDED
        assert again.id != booked.id
        process_due(session, settings=settings, now=booked.ends_at + timedelta(hours=6))
        kinds = {n.kind for n in session.exec(select(Notification).where(Notification.appointment_id == booked.id))}
    assert "overdue" not in kinds
