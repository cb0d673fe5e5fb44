from datetime import UTC, datetime, timedelta

import pytest

from pump_service.domain import (
    DoseWarning,
    DueReason,
    daily_volume_ml,
    forecast_reservoir,
    next_refill_due,
    plan_dose,
)
from pump_service.errors import RuleViolationError
from schemas.drug import DoseBasis
from schemas.drug_catalogue import get_drug
from schemas.prescription import BolusAllowance, ContinuousPrescription, StepsPrescription, StoppedPrescription

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FUDR = get_drug("floxuridine")


def test_floxuridine_for_a_70_kg_patient_is_252_mg_at_8_4_mg_per_ml() -> None:
    plan = plan_dose(
        drug=FUDR,
        dose=0.12,
        dose_basis=DoseBasis.MG_PER_KG_PER_DAY,
        rate_ml_per_day=1.0,
        fill_volume_ml=30.0,
        body_mass_kg=70.0,
    )
    assert plan.amount == pytest.approx(252.0)
    assert plan.concentration == pytest.approx(8.4)
    assert plan.stock_volume_ml == pytest.approx(2.52)  # of the 100 mg/mL reconstituted vial
    assert plan.warnings == ()


def test_ziconotide_in_micrograms_per_day() -> None:
    plan = plan_dose(
        drug=get_drug("ziconotide"),
        dose=0.0024,
        dose_basis=DoseBasis.MG_PER_DAY,
        rate_ml_per_day=0.5,
        fill_volume_ml=20.0,
    )
    assert plan.concentration == pytest.approx(0.0048)  # 4.8 ug/mL
    assert plan.stock_concentration == pytest.approx(0.025)
    assert plan.warnings == ()


def test_dose_outside_the_guard_is_flagged() -> None:
    high = plan_dose(
        drug=FUDR,
        dose=0.8,
        dose_basis=DoseBasis.MG_PER_KG_PER_DAY,
        rate_ml_per_day=1.0,
        fill_volume_ml=30.0,
        body_mass_kg=70.0,
    )
    assert DoseWarning.ABOVE_GUARD in high.warnings
    low = plan_dose(
        drug=FUDR,
        dose=1.0,
        dose_basis=DoseBasis.MG_PER_DAY,
        rate_ml_per_day=1.0,
        fill_volume_ml=30.0,
        body_mass_kg=70.0,
    )
    assert DoseWarning.BELOW_GUARD in low.warnings  # 1 mg/day = 0.014 mg/kg/day


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"drug": get_drug("saline")}, "vehicle", id="vehicle"),
        pytest.param({"dose_basis": DoseBasis.USP_U_PER_DAY}, "not dosed", id="wrong basis"),
        pytest.param({"body_mass_kg": None}, "body mass", id="no body mass"),
        pytest.param({"rate_ml_per_day": 0.0}, "flow", id="no flow"),
        pytest.param({"dose": -0.1}, "negative", id="negative dose"),
        pytest.param({"dose": 50.0}, "does not fit", id="more than the stock can hold"),
    ],
)
def test_impossible_doses_are_rule_violations(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "drug": FUDR,
        "dose": 0.12,
        "dose_basis": DoseBasis.MG_PER_KG_PER_DAY,
        "rate_ml_per_day": 1.0,
        "fill_volume_ml": 30.0,
        "body_mass_kg": 70.0,
        **kwargs,
    }
    with pytest.raises(RuleViolationError, match=message):
        plan_dose(**arguments)  # type: ignore[arg-type]


def test_programmable_20_ml_at_half_a_ml_per_day_alarms_on_day_36_and_empties_on_day_40() -> None:
    daily = daily_volume_ml(ContinuousPrescription(rate_ml_per_day=0.5))
    forecast = forecast_reservoir(volume_ml=20.0, at=T0, daily_volume_ml=daily, low_reservoir_ml=2.0)
    assert forecast.low_reservoir_at == T0 + timedelta(days=36)
    assert forecast.empty_at == T0 + timedelta(days=40)


def test_worst_case_daily_volume_counts_every_allowed_bolus() -> None:
    rx = StepsPrescription.model_validate(
        {
            "steps": [{"start": "00:00", "rate_ml_per_day": 0.2}, {"start": "12:00", "rate_ml_per_day": 0.4}],
            "bolus": {"volume_ml": 0.05, "max_per_day": 4},
        }
    )
    assert daily_volume_ml(rx) == pytest.approx(0.3 + 0.2)
    assert daily_volume_ml(rx, worst_case_boluses=False) == pytest.approx(0.3)
    assert daily_volume_ml(StoppedPrescription()) == 0.0
    assert BolusAllowance(volume_ml=0.1, max_per_day=0).max_per_day == 0


def test_a_stopped_pump_never_alarms() -> None:
    forecast = forecast_reservoir(volume_ml=20.0, at=T0, daily_volume_ml=0.0, low_reservoir_ml=2.0)
    assert forecast.low_reservoir_at is None
    assert forecast.empty_at is None


def test_due_date_is_the_earliest_constraint_and_says_which() -> None:
    forecast = forecast_reservoir(volume_ml=20.0, at=T0, daily_volume_ml=0.5, low_reservoir_ml=2.0)
    due = next_refill_due(
        filled_at=T0, forecast=forecast, safety_margin_days=3, stability_days=[90.0], max_interval_days=180
    )
    assert (due.due_at, due.reason) == (T0 + timedelta(days=33), DueReason.LOW_RESERVOIR)
    assert [c.reason for c in due.constraints] == [
        DueReason.LOW_RESERVOIR,
        DueReason.EMPTY,
        DueReason.DRUG_STABILITY,
        DueReason.MAX_INTERVAL,
    ]


def test_hai_cycle_and_drug_stability_cap_the_interval() -> None:
    forecast = forecast_reservoir(volume_ml=30.0, at=T0, daily_volume_ml=1.0, low_reservoir_ml=2.0, near_empty_ml=1.0)
    due = next_refill_due(filled_at=T0, forecast=forecast, protocol_interval_days=14, stability_days=[14.0, None])
    assert (due.due_at, due.reason) == (T0 + timedelta(days=14), DueReason.PROTOCOL_INTERVAL)
    slow_drug = next_refill_due(filled_at=T0, forecast=forecast, stability_days=[10.0], protocol_interval_days=14)
    assert slow_drug.reason is DueReason.DRUG_STABILITY


def test_a_pump_with_nothing_bounding_its_refill_is_refused() -> None:
    forecast = forecast_reservoir(volume_ml=20.0, at=T0, daily_volume_ml=0.0, low_reservoir_ml=2.0)
    with pytest.raises(RuleViolationError):
        next_refill_due(filled_at=T0, forecast=forecast)
