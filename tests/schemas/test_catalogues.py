import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.drug import AmountBasis
from schemas.drug_catalogue import DRUGS, UnknownDrugError, get_drug
from schemas.prescription import Prescription, StepsPrescription
from schemas.pump import PumpFamily
from schemas.pump_catalogue import PUMP_MODELS, UnknownPumpModelError, get_pump_model

PRESCRIPTION = TypeAdapter(Prescription)


def test_the_catalogue_has_the_required_pump_models() -> None:
    hai = get_pump_model("hai-30")
    assert (hai.family, hai.capacity_ml, hai.nominal_rate_ml_per_day) == (PumpFamily.CONSTANT_FLOW, 30.0, 1.0)
    assert get_pump_model("cf-50").capacity_ml == 50.0
    for capacity in (20, 40):
        model = get_pump_model(f"programmable-{capacity}")
        assert (model.family, model.capacity_ml, model.low_reservoir_ml) == (PumpFamily.PROGRAMMABLE, capacity, 2.0)
    assert get_pump_model("programmable-20").pocket_fill_threshold_ml == 1.0
    assert get_pump_model("programmable-40").pocket_fill_threshold_ml == 2.0
    for model in PUMP_MODELS.values():
        if model.flow_law is not None:
            assert (model.flow_law.reference_temperature_c, model.flow_law.reference_ambient_mmhg) == (37.0, 760.0)


def test_the_catalogue_has_the_required_drugs_with_billing_codes() -> None:
    required = {
        "floxuridine",
        "heparin",
        "saline",
        "bacteriostatic_water",
        "glycerin",
        "baclofen",
        "morphine",
        "ziconotide",
        "dexamethasone",
    }
    assert required <= set(DRUGS)
    assert (get_drug("floxuridine").hcpcs_code, get_drug("floxuridine").billing_unit_amount) == ("J9200", 500.0)
    assert (get_drug("heparin").hcpcs_code, get_drug("heparin").amount_basis) == ("J1644", AmountBasis.ACTIVITY)
    assert get_drug("ziconotide").billing_unit_amount == pytest.approx(0.001)  # 1 ug in mg
    assert get_drug("morphine").stability_days == 90


def test_unknown_ids_name_the_known_ones() -> None:
    with pytest.raises(UnknownPumpModelError, match="hai-30"):
        get_pump_model("intera-9000")
    with pytest.raises(UnknownDrugError, match="floxuridine"):
        get_drug("aspirin")


def test_step_prescription_averages_over_the_day() -> None:
    rx = PRESCRIPTION.validate_python(
        {
            "mode": "steps",
            "steps": [{"start": "00:00", "rate_ml_per_day": "0.25 mL/d"}, {"start": "06:00", "rate_ml_per_day": 1.0}],
        }
    )
    assert isinstance(rx, StepsPrescription)
    assert rx.mean_rate_ml_per_day() == pytest.approx(0.25 * 6 / 24 + 1.0 * 18 / 24)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"mode": "steps", "steps": [{"start": "01:00", "rate_ml_per_day": 1}]}, id="first not midnight"),
        pytest.param(
            {
                "mode": "steps",
                "steps": [{"start": "00:00", "rate_ml_per_day": 1}, {"start": "00:00", "rate_ml_per_day": 2}],
            },
            id="not increasing",
        ),
        pytest.param({"mode": "steps", "steps": []}, id="no steps"),
        pytest.param({"mode": "continuous", "rate_ml_per_day": 0}, id="zero continuous"),
        pytest.param({"mode": "continuous", "rate_ml_per_day": "1 mg/d"}, id="wrong unit"),
        pytest.param({"mode": "bolus"}, id="unknown mode"),
        pytest.param(
            {
                "mode": "steps",
                "steps": [{"start": f"{h:02d}:00", "rate_ml_per_day": 1} for h in range(24)]
                + [{"start": "23:30", "rate_ml_per_day": 1}],
            },
            id="too many steps",
        ),
    ],
)
def test_malformed_prescriptions_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PRESCRIPTION.validate_python(bad)
