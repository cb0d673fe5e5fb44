"""The truth ledger: alarms and dry pumps predicted from the simulated pump, and explained by what came before."""

from datetime import timedelta

import pytest

from schemas.pump import PumpFamily
from schemas.pump_catalogue import get_pump_model
from simulators.clock import ManualClock
from simulators.constant_flow import SimulatedConstantFlowPump
from simulators.pump_faults import Leak
from testbench.clinic_config import START_AT
from testbench.clinic_population import PatientPlan
from testbench.clinic_truth import NoteKind, PumpTruth
from testbench.score import IncidentCause, IncidentKind


def _truth(*faults: Leak) -> PumpTruth:
    clock = ManualClock(START_AT)
    plan = PatientPlan(
        serial="CF-T-1",
        patient_ref="PT-T-1",
        family=PumpFamily.CONSTANT_FLOW,
        model_id="hai-30",
        body_mass_kg=70.0,
        rate_ml_per_day=1.0,
        unit_factor=1.0,
        last_fill_days_before_start=0.0,
        faults=faults,
    )
    pump = SimulatedConstantFlowPump(
        get_pump_model("hai-30"), clock=clock, serial=plan.serial, unit_factor=1.0, faults=faults, volume_ml=30.0
    )
    truth = PumpTruth(plan, pump, START_AT)
    truth.filled(START_AT, scored=True)
    return truth


def test_the_alarm_is_predicted_from_the_pump_itself() -> None:
    truth = _truth()
    assert truth.alarm_at is not None
    assert truth.dry_at is not None
    assert (truth.alarm_at - START_AT) / timedelta(days=1) == pytest.approx(28.0, abs=0.5)  # 30 mL at 1 mL/d to 2 mL
    assert truth.dry_at > truth.alarm_at


def test_a_no_show_before_the_alarm_explains_it_and_one_after_does_not() -> None:
    missed = _truth()
    assert missed.alarm_at is not None
    missed.note(NoteKind.NO_SHOW, missed.alarm_at - timedelta(days=1))
    missed.finish(missed.alarm_at + timedelta(days=1))
    assert [(i.kind, i.cause) for i in missed.incidents] == [(IncidentKind.ALARM_BEFORE_REFILL, IncidentCause.NO_SHOW)]
    later = _truth()
    assert later.alarm_at is not None
    later.note(NoteKind.NO_SHOW, later.alarm_at + timedelta(hours=1))
    later.finish(later.alarm_at + timedelta(days=1))
    assert [i.cause for i in later.incidents] == [IncidentCause.FORECAST]


def test_a_leak_brings_the_alarm_forward_and_is_the_cause() -> None:
    truth = _truth(Leak(START_AT + timedelta(days=5), rate_ml_per_day=0.5))
    assert truth.alarm_at is not None
    assert (truth.alarm_at - START_AT) / timedelta(days=1) < 26.0
    truth.finish(truth.alarm_at + timedelta(hours=1))
    assert [(i.kind, i.cause) for i in truth.incidents] == [(IncidentKind.ALARM_BEFORE_REFILL, IncidentCause.FAULT)]
    assert "leak" in truth.incidents[0].detail
