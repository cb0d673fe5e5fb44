from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from pump_service.domain.findings import FindingCode, HardStopError
from pump_service.errors import ConflictError, NotFoundError, PermissionDeniedError, RuleViolationError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import ConditionPeriodRow, DeviceLogRecord, Pump, Refill, RefillComponent
from pump_service.services.actor import Actor
from pump_service.services.contracts import ConditionEntry, PumpRegistration
from pump_service.services.pumps.registry import add_condition_period, register_pump
from tests.services.conftest import PHYSICIAN, Record
from tests.support import T0, fudr_refill

T14 = T0 + timedelta(days=14)


def _counts(engine: Engine) -> tuple[int, int, int, int]:
    with transaction(engine) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Refill, RefillComponent, DeviceLogRecord, ConditionPeriodRow)
        )


def _pump(engine: Engine, serial: str) -> Pump:
    with transaction(engine) as session:
        return session.exec(select(Pump).where(Pump.serial == serial)).one()


def test_first_fill_has_nothing_to_compare_and_books_the_hai_cycle(hai_pump: str, record: Record) -> None:
    result = record(hai_pump, fudr_refill(T0))
    assert result.expected_residual_ml is None
    assert result.flow_class is None
    assert result.next_due_at == T14
    assert result.next_due_reason == "protocol_interval"
    fudr = result.components[0]
    assert (fudr.amount_mg, fudr.conc_mg_per_ml, fudr.volume_ml) == pytest.approx((252.0, 8.4, 2.52))
    assert result.components[1].volume_ml == pytest.approx(27.48)


def test_second_fill_compares_the_return_and_updates_the_pump(engine: Engine, hai_pump: str, record: Record) -> None:
    record(hai_pump, fudr_refill(T0))
    result = record(hai_pump, fudr_refill(T14, returned="19 mL"))
    assert result.expected_residual_ml == pytest.approx(16.0)
    assert result.measured_rate_ml_per_day == pytest.approx(0.786, abs=5e-4)
    assert result.deviation_pct == pytest.approx(-21.4, abs=0.05)
    assert result.flow_class == "alert"
    assert "catheter occlusion or thrombosis" in result.likely_causes
    pump = _pump(engine, hai_pump)
    assert (pump.last_fill_at, pump.reservoir_ml, pump.next_due_at) == (T14, 30.0, T14 + timedelta(days=14))
    assert pump.measured_rate_ml_per_day == pytest.approx(0.786, abs=5e-4)
    assert pump.version == 3
    assert _counts(engine)[:3] == (2, 4, 3)  # refills, components, log (registration + 2 refills)


def test_a_retried_request_is_recorded_once(engine: Engine, hai_pump: str, record: Record) -> None:
    body = fudr_refill(T0, idempotency_key="visit-0001-abc")
    first = record(hai_pump, body)
    again = record(hai_pump, body, now=T0 + timedelta(minutes=3))
    assert again.replayed
    assert again.refill_id == first.refill_id
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    assert _counts(engine)[0] == 1


def test_a_retry_without_a_key_is_recognised_by_its_content(engine: Engine, hai_pump: str, record: Record) -> None:
    record(hai_pump, fudr_refill(T0))
    assert record(hai_pump, fudr_refill(T0)).replayed
    assert _counts(engine)[0] == 1


def test_a_key_reused_for_different_content_is_a_conflict(engine: Engine, hai_pump: str, record: Record) -> None:
    record(hai_pump, fudr_refill(T0, idempotency_key="visit-0001-abc"))
    with pytest.raises(ConflictError):
        record(hai_pump, fudr_refill(T14, returned="16 mL", idempotency_key="visit-0001-abc"))
    assert _counts(engine)[0] == 1


def _bad(**changes: Any) -> dict[str, Any]:
    return {**fudr_refill(T14, returned="16 mL"), **changes}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(_bad(fill_volume_ml="31 mL"), "fill_volume_ml", id="fill above capacity"),
        pytest.param(_bad(returned_volume_ml="31 mL"), "returned_volume_ml", id="returned above filled"),
        pytest.param(_bad(performed_at=T0.isoformat()), "performed_at", id="same time as previous fill"),
        pytest.param(_bad(performed_at=(T0 - timedelta(days=1)).isoformat()), "performed_at", id="before previous"),
        pytest.param(
            _bad(components=[{"drug_id": "floxuridine", "amount_mg": "252 mg"}]), "components", id="no diluent"
        ),
    ],
)
def test_rule_violations_name_the_field_and_store_nothing(
    engine: Engine, hai_pump: str, record: Record, body: dict[str, Any], field: str
) -> None:
    record(hai_pump, fudr_refill(T0))
    before = _counts(engine)
    pump_before = _pump(engine, hai_pump)
    with pytest.raises(RuleViolationError) as info:
        record(hai_pump, body, now=T14 + timedelta(days=1))
    assert info.value.field == field
    assert _counts(engine) == before
    assert _pump(engine, hai_pump).version == pump_before.version


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        pytest.param(
            _bad(
                components=[
                    {
                        "drug_id": "floxuridine",
                        "dose": {"mg_per_kg_per_day": "0.12 mg/kg/d"},
                        "expires_on": "2026-11-15",
                    },
                    {"drug_id": "saline"},
                ]
            ),
            FindingCode.DRUG_EXPIRED,
            "components.0.expires_on",
            id="expired drug",
        ),
        pytest.param(
            _bad(
                components=[
                    {"drug_id": "floxuridine", "dose": {"mg_per_kg_per_day": "0.9 mg/kg/d"}},
                    {"drug_id": "saline"},
                ]
            ),
            FindingCode.DOSE_ABOVE_LABEL_MAX,
            "components.0",
            id="dose above the label maximum",
        ),
        pytest.param(
            _bad(components=[{"drug_id": "baclofen", "conc_mg_per_ml": "2 mg/mL"}]),
            FindingCode.DRUG_ROUTE,
            "components.0.drug_id",
            id="intrathecal drug in an arterial pump",
        ),
        pytest.param(
            _bad(returned_volume_ml="0 mL"),
            FindingCode.NEEDLE_PLACEMENT_UNCONFIRMED,
            "returned_volume_ml",
            id="nothing aspirated",
        ),
    ],
)
def test_hard_stops_name_the_finding_and_store_nothing_until_overridden(
    engine: Engine, hai_pump: str, record: Record, body: dict[str, Any], code: FindingCode, field: str
) -> None:
    record(hai_pump, fudr_refill(T0))
    before = _counts(engine)
    with pytest.raises(HardStopError) as stopped:
        record(hai_pump, body, now=T14 + timedelta(days=1))
    assert [(f.code, f.field) for f in stopped.value.unresolved] == [(code, field)]
    assert _counts(engine) == before
    override = {"reason": "reviewed with the patient and the pharmacy"}
    overridden = {**body, "override": {**override, "codes": [code.value]}}
    with pytest.raises(PermissionDeniedError):  # the nurse's own override is refused: a physician decides
        record(hai_pump, overridden, now=T14 + timedelta(days=1))
    assert _counts(engine) == before
    result = record(hai_pump, overridden, now=T14 + timedelta(days=1), as_actor=PHYSICIAN)
    assert result.override is not None
    assert result.override.codes == (code,)
    assert (result.override.clinician_id, result.override.role) == ("dr-1", "physician")
    assert code in {f.code for f in result.findings}
    assert _counts(engine)[0] == before[0] + 1


def test_a_refill_in_the_future_is_refused(hai_pump: str, record: Record) -> None:
    with pytest.raises(RuleViolationError, match="future"):
        record(hai_pump, fudr_refill(T0 + timedelta(hours=1)), now=T0)


def test_a_clinician_can_override_the_dose_guard_and_it_is_recorded(
    engine: Engine, hai_pump: str, record: Record
) -> None:
    override = {"reason": "protocol dose escalation, see chart"}
    body = fudr_refill(T0, override={**override, "codes": ["dose_above_label_max"]})
    body["components"][0]["dose"] = {"mg_per_kg_per_day": "0.7 mg/kg/d"}
    result = record(hai_pump, body, as_actor=PHYSICIAN)
    assert [f.code for f in result.findings if f.tier == "hard_stop"] == [FindingCode.DOSE_ABOVE_LABEL_MAX]
    assert result.warnings[0].startswith("dose_above_label_max: Floxuridine (FUDR): 0.7 mg/kg/d")
    with transaction(engine) as session:
        stored = session.exec(select(Refill)).one()
    assert stored.override == {
        "clinician_id": "dr-1",  # the signed-in physician, not a name typed in the body
        "role": "physician",
        **override,
        "codes": ["dose_above_label_max"],
        "cosignature_id": None,
        "signed_at": T0.isoformat(),
    }


def test_unknown_pump_is_not_found(record: Record) -> None:
    with pytest.raises(NotFoundError):
        record("NO-SUCH", fudr_refill(T0))


def test_a_fever_recorded_between_refills_is_in_the_expected_residual(
    engine: Engine, hai_pump: str, record: Record, actor: Actor
) -> None:
    record(hai_pump, fudr_refill(T0))
    with transaction(engine) as session:
        add_condition_period(
            session,
            hai_pump,
            ConditionEntry.model_validate({"start_at": T0 + timedelta(days=2), "body_temperature_c": "39 degC"}),
            actor=actor,
            now=T14,
        )
        add_condition_period(
            session,
            hai_pump,
            ConditionEntry.model_validate({"start_at": T0 + timedelta(days=5), "body_temperature_c": "37 degC"}),
            actor=actor,
            now=T14,
        )
    result = record(hai_pump, fudr_refill(T14, returned="15.2 mL"))
    assert result.expected_residual_ml == pytest.approx(16.0 - 3 * 0.2646, abs=0.01)
    assert result.flow_class == "ok"


def test_a_glycerin_fill_slows_the_pump_and_stretches_the_due_date(
    engine: Engine, hai_pump: str, record: Record
) -> None:
    result = record(
        hai_pump,
        {
            "performed_at": T0.isoformat(),
            "returned_volume_ml": 0,
            "fill_volume_ml": 30,
            "components": [{"drug_id": "glycerin"}],
        },
    )
    assert result.planning_rate_ml_per_day == pytest.approx(0.25)
    assert result.next_due_reason == "protocol_interval"
    follow_up = record(hai_pump, fudr_refill(T14, returned="26.5 mL"))
    assert follow_up.expected_residual_ml == pytest.approx(30 - 14 * 0.25)
    assert follow_up.flow_class == "ok"
    assert _counts(engine)[3] == 2  # glycerin period, then back to saline viscosity


def test_programmable_pump_uses_its_prescription(engine: Engine, record: Record, actor: Actor) -> None:
    with transaction(engine) as session:
        register_pump(
            session,
            PumpRegistration.model_validate(
                {
                    "serial": "SM-1",
                    "model_id": "programmable-20",
                    "route": "intrathecal",
                    "prescription": {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d"},
                }
            ),
            actor=actor,
            now=T0,
        )
    body = {
        "performed_at": T0.isoformat(),
        "returned_volume_ml": 0,
        "fill_volume_ml": "20 mL",
        "components": [{"drug_id": "baclofen", "conc_mg_per_ml": "2000 ug/mL", "lot": "B1"}],
    }
    first = record("SM-1", body)
    assert first.next_due_at == T0 + timedelta(days=33)  # alarm at day 36 minus the 3-day margin
    assert first.next_due_reason == "low_reservoir"
    assert first.components[0].daily_dose == "1 mg/d"
    later = record("SM-1", {**body, "performed_at": (T0 + timedelta(days=30)).isoformat(), "returned_volume_ml": 5.0})
    assert later.expected_residual_ml == pytest.approx(5.0)
    assert later.flow_class == "ok"


def test_a_weight_based_guard_without_a_body_mass_needs_a_clinician(
    engine: Engine, actor: Actor, record: Record
) -> None:
    with transaction(engine) as session:
        body = {"serial": "HAI-2", "model_id": "hai-30", "route": "intra_arterial"}
        register_pump(session, PumpRegistration.model_validate(body), actor=actor, now=T0)
    fill = fudr_refill(T0)
    del fill["body_mass_kg"]
    fill["components"][0] = {"drug_id": "floxuridine", "amount_mg": "3000 mg", "lot": "FU1"}
    with pytest.raises(HardStopError, match="dose_unjudgeable"):
        record("HAI-2", fill)
    override = {"reason": "weight taken on the ward: 70 kg"}
    result = record("HAI-2", {**fill, "override": {**override, "codes": ["dose_unjudgeable"]}}, as_actor=PHYSICIAN)
    assert [f.code for f in result.findings if f.tier == "hard_stop"] == [FindingCode.DOSE_UNJUDGEABLE]


def test_a_second_refill_within_the_hour_is_refused_as_a_duplicate(hai_pump: str, record: Record) -> None:
    record(hai_pump, fudr_refill(T0))
    with pytest.raises(RuleViolationError, match="entered twice"):
        record(hai_pump, fudr_refill(T0 + timedelta(minutes=20)))
