"""Refill safety: each observation of the refill-safety issue as a regression test.

1 impossible flow drives nothing; 2 wrong-dimension and out-of-range quantities are refused;
4 the bolus allowance survives the read-back; 5 the dose shown is the dose prescribed; 7 concurrent
identical posts are told the truth about replays. (3 and 6 are in test_visits.py, 8 in
test_continuity.py, 9 in tests/cli/test_data_location.py.)
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, func
from sqlmodel import select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.domain.findings import FindingCode, HardStopError
from pump_service.errors import DeviceOutcomeUnknownError
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Pump, Refill, RefillComponent
from pump_service.persistence.schedule_models import Appointment, Notification
from pump_service.services.actor import Actor
from pump_service.services.contracts import RefillEntry
from pump_service.services.pumps.due_list import list_due
from pump_service.services.visits.refill_visit import complete_visit
from pump_service.settings import Settings
from schemas.prescription import ContinuousPrescription
from simulators.link_faults import LinkFaultPlan
from tests.auth_support import login_client
from tests.services.conftest import PHYSICIAN, Record
from tests.services.test_visits import Station, refill_body
from tests.support import T0, FixedClock, fudr_refill


def _pump(engine: Engine, serial: str) -> Pump:
    with transaction(engine) as session:
        return session.exec(select(Pump).where(Pump.serial == serial)).one()


def _count(engine: Engine, table: type) -> int:
    with transaction(engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


# ---- 1: a refill 2.5 h after the fill ---------------------------------------------------------


def test_a_refill_hours_after_the_fill_is_a_hard_stop_and_drives_nothing(
    engine: Engine, hai_pump: str, record: Record
) -> None:
    """Seen: 278 mL/day measured, +27,740 %, planning rate 278 mL/day, due three days before the refill."""
    record(hai_pump, fudr_refill(T0))
    pump_before = _pump(engine, hai_pump)
    counts = (_count(engine, Refill), _count(engine, Appointment), _count(engine, Notification))
    at = T0 + timedelta(hours=2, minutes=30)
    with pytest.raises(HardStopError) as stopped:
        record(hai_pump, fudr_refill(at, returned="1 mL"), now=at)
    codes = {f.code for f in stopped.value.unresolved}
    assert codes == {FindingCode.REFILL_INTERVAL_SHORT, FindingCode.IMPLAUSIBLE_FLOW}
    flow = next(f for f in stopped.value.findings if f.code is FindingCode.IMPLAUSIBLE_FLOW)
    assert float(flow.figures["measured_rate_ml_per_day"] or 0) == pytest.approx(278.4, abs=0.1)
    after = _pump(engine, hai_pump)
    assert (after.version, after.planning_rate_ml_per_day, after.next_due_at) == (
        pump_before.version,
        pump_before.planning_rate_ml_per_day,
        pump_before.next_due_at,
    )
    assert (_count(engine, Refill), _count(engine, Appointment), _count(engine, Notification)) == counts


def test_an_overridden_implausible_flow_still_plans_at_the_model_rate(
    engine: Engine, hai_pump: str, record: Record
) -> None:
    record(hai_pump, fudr_refill(T0))
    at = T0 + timedelta(hours=2, minutes=30)
    override = {
        "reason": "pump emptied for an angiogram and refilled",
        "codes": ["refill_interval_short", "implausible_flow"],
    }
    result = record(hai_pump, fudr_refill(at, returned="1 mL", override=override), now=at, as_actor=PHYSICIAN)
    assert result.planning_rate_ml_per_day == pytest.approx(1.0)
    assert result.planning_rate_source == "model"
    assert result.components[0].daily_dose == "8.4 mg/d"  # 0.12 mg/kg/d x 70 kg, not 2338.56 mg/d
    assert result.next_due_at > at
    assert result.alarm_at is not None
    assert result.next_due_at <= result.alarm_at
    assert _pump(engine, hai_pump).next_due_at == result.next_due_at
    with transaction(engine) as session:
        assert list_due(session, now=at, within_days=0) == []  # not overdue the moment it is filled


# ---- 2: wrong-dimension and out-of-range quantities --------------------------------------------


def _component(**fields: Any) -> dict[str, Any]:
    return {"drug_id": "floxuridine", "dose": {"mg_per_kg_per_day": "0.12 mg/kg/d"}, **fields}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        pytest.param({"body_mass_kg": "70 mg"}, "body_mass_kg", ("7e-05 kg", "2 to 350 kg"), id="body mass in mg"),
        pytest.param({"body_mass_kg": "70 mL"}, "body_mass_kg", ("[mass]",), id="body mass as a volume"),
        pytest.param({"fill_volume_ml": 1e-320}, "fill_volume_ml", ("1 to 100 mL",), id="fill 1e-320 mL"),
        pytest.param({"fill_volume_ml": "30 μL"}, "fill_volume_ml", ("0.03 mL", "1 to 100 mL"), id="fill 30 uL"),
        pytest.param({"returned_volume_ml": "-1 mL"}, "returned_volume_ml", ("negative",), id="negative return"),
        pytest.param(
            {"components": [_component(stock_concentration=1e308), {"drug_id": "saline"}]},
            "components.0",
            ("stock_concentration 1e+308", "100 mg/mL"),
            id="stock 1e308",
        ),
        pytest.param(
            {"components": [_component(stock_concentration=50.0), {"drug_id": "saline"}]},
            "components.0",
            ("not a strength of floxuridine",),
            id="stock not a catalogue strength",
        ),
        pytest.param(
            {"components": [{"drug_id": "floxuridine", "dose": {"mg_per_kg_per_day": "12 mg/kg/d"}}]},
            "components.0.dose.mg_per_kg_per_day",
            ("0 to 10 mg/kg/d",),
            id="absurd dose",
        ),
    ],
)
def test_impossible_quantities_are_refused_naming_the_field_value_and_range(
    change: dict[str, Any], field: str, words: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as refused:
        RefillEntry.model_validate({**fudr_refill(T0), **change})
    error = refused.value.errors()[0]
    assert ".".join(str(p) for p in error["loc"]).startswith(field)
    for word in words:
        assert word in error["msg"]


@pytest.mark.parametrize(
    "change",
    [{"body_mass_kg": "70 mg"}, {"fill_volume_ml": "30 μL"}, {"fill_volume_ml": 1e-320}],
)
def test_the_api_refuses_them_with_422_and_stores_nothing(
    settings: Settings, engine: Engine, clock: FixedClock, change: dict[str, Any]
) -> None:
    with login_client(create_app(settings, clock=clock, engine=engine), Role.NURSE) as client:
        client.post("/pumps", json={"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial"})
        response = client.post("/pumps/HAI-1/refills", json={**fudr_refill(T0), **change})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"][:2] == ["body", next(iter(change))]
    assert (_count(engine, Refill), _count(engine, RefillComponent)) == (0, 0)


def test_a_hard_stop_over_http_is_a_problem_document_with_the_findings(
    settings: Settings, engine: Engine, clock: FixedClock
) -> None:
    with login_client(create_app(settings, clock=clock, engine=engine), Role.NURSE) as client:
        client.post("/patients", json={"patient_ref": "P-1", "body_mass_kg": "70 kg"})
        body = {"serial": "HAI-1", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-1"}
        client.post("/pumps", json=body)
        assert client.post("/pumps/HAI-1/refills", json=fudr_refill(T0)).status_code == 201
        at = T0 + timedelta(hours=2, minutes=30)
        clock.set(at)
        refill = fudr_refill(at, returned="1 mL")
        plan = client.post("/pumps/HAI-1/refills/plan", json=refill)
        assert plan.status_code == 200
        assert plan.json()["committable"] is False
        assert set(plan.json()["unresolved"]) == {"refill_interval_short", "implausible_flow"}
        response = client.post("/pumps/HAI-1/refills", json=refill)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("hard-stop")
    assert set(problem["unresolved"]) == {"refill_interval_short", "implausible_flow"}
    assert {f["tier"] for f in problem["findings"]} >= {"hard_stop"}
    assert _count(engine, Refill) == 1


# ---- 4: the bolus allowance survives the read-back ----------------------------------------------


def test_the_registered_bolus_allowance_stays_in_every_plan_after_the_read_back(
    engine: Engine, settings: Settings, actor: Actor
) -> None:
    rx = {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d", "bolus": {"volume_ml": "0.1 mL", "max_per_day": 4}}
    station = Station(engine, settings, actor, rx=rx)
    result = station.visit(refill_body())
    assert result.planning_rate_ml_per_day == pytest.approx(0.9)  # basal 0.5 + 4 x 0.1 mL
    assert result.dosing_rate_ml_per_day == pytest.approx(0.5)
    pump = _pump(engine, "SM-1")
    assert pump.planning_rate_ml_per_day == pytest.approx(0.9)
    # Stored after the read-back (a second later), not weeks later at the basal rate alone.
    assert pump.alarm_at is not None
    assert result.alarm_at is not None
    assert pump.next_due_at is not None
    assert abs(pump.alarm_at - result.alarm_at) < timedelta(minutes=1)
    assert abs(pump.next_due_at - result.next_due_at) < timedelta(minutes=1)
    with transaction(engine) as session:
        due = list_due(session, now=T0, within_days=60)
    assert [d.serial for d in due] == ["SM-1"]
    station.clock.advance(timedelta(days=1).total_seconds())
    later = station.start()  # an interrogation replans with the same rate
    assert later.pump.planning_rate_ml_per_day == pytest.approx(0.9)
    assert later.pump.next_due_at is not None
    # From the register after a day without boluses: hours later, not the two weeks the basal alone gives.
    assert abs(later.pump.next_due_at - result.next_due_at) < timedelta(days=1)


# ---- 5: the dose shown is the dose prescribed ---------------------------------------------------


def test_the_dose_is_computed_and_shown_at_the_planning_rate(hai_pump: str, record: Record) -> None:
    """Seen: 0.12 mg/kg/d x 70 kg = 8.4 mg/d prescribed, 8.64 mg/d shown (computed at one rate, shown at another)."""
    record(hai_pump, fudr_refill(T0))
    t14 = T0 + timedelta(days=14)
    result = record(hai_pump, fudr_refill(t14, returned="15.6 mL"))  # the unit ran about 3 % fast
    assert result.planning_rate_source == "measured"
    assert result.planning_rate_ml_per_day == pytest.approx(14.4 / 14, rel=1e-3)
    fudr = result.components[0]
    assert fudr.daily_dose == "8.4 mg/d"
    assert fudr.conc_mg_per_ml == pytest.approx(8.4 / result.planning_rate_ml_per_day)


# ---- 7: concurrent identical posts ------------------------------------------------------------


def test_twenty_concurrent_identical_refills_are_one_created_and_nineteen_replays(
    engine: Engine, settings: Settings, actor: Actor, hai_pump: str
) -> None:
    clock = FixedClock(T0 + timedelta(minutes=5))
    entry = RefillEntry.model_validate(fudr_refill(T0, idempotency_key="visit-concurrent-1"))

    def post(_: int) -> bool:
        return complete_visit(engine, hai_pump, entry, settings=settings, clock=clock, actor=actor).replayed

    with ThreadPoolExecutor(max_workers=20) as pool:
        replayed = list(pool.map(post, range(20)))
    assert replayed.count(False) == 1
    assert replayed.count(True) == 19
    assert _count(engine, Refill) == 1


# ---- found in review ------------------------------------------------------------------------------


def test_the_read_back_keeps_the_plans_due_date_a_naive_pumps_first_ziconotide_fill(
    engine: Engine, settings: Settings, actor: Actor
) -> None:
    """The read-back once replanned with the drug's generic 40-day stability over the label's 14 days."""
    station = Station(engine, settings, actor)
    body = refill_body(
        components=[
            {"drug_id": "ziconotide", "conc_mg_per_ml": "10 ug/mL", "lot": "Z1", "expires_on": "2027-12-31"},
            {"drug_id": "saline"},
        ]
    )
    result = station.visit(body)
    assert result.next_due_reason == "drug_stability"
    assert result.next_due_at == T0 + timedelta(days=14)
    pump = _pump(engine, "SM-1")
    assert (pump.next_due_at, pump.next_due_reason) == (result.next_due_at, "drug_stability")
    station.clock.advance(timedelta(days=2).total_seconds())
    later = station.start()  # an interrogation keeps the fill's stability date
    assert later.pump.next_due_at == result.next_due_at


def test_nothing_aspirated_from_a_pump_expected_empty_is_a_warning_not_a_hard_stop(
    hai_pump: str, record: Record
) -> None:
    record(hai_pump, fudr_refill(T0))
    day_45 = T0 + timedelta(days=45)  # 30 mL at 1 mL/day: empty since day 30
    result = record(hai_pump, fudr_refill(day_45, returned="0 mL"))
    codes = {f.code: f.tier for f in result.findings}
    assert codes[FindingCode.NOTHING_ASPIRATED] == "warning"
    assert FindingCode.NEEDLE_PLACEMENT_UNCONFIRMED not in codes
    assert codes[FindingCode.REFILL_INTERVAL_LONG] == "warning"


def test_a_patient_who_takes_boluses_gets_no_flow_alarm_when_the_register_agrees(
    engine: Engine, settings: Settings, actor: Actor
) -> None:
    rx = {"mode": "continuous", "rate_ml_per_day": "0.5 mL/d", "bolus": {"volume_ml": "0.1 mL", "max_per_day": 4}}
    station = Station(engine, settings, actor, rx=rx)
    station.visit(refill_body())
    station.clock.advance(timedelta(days=20).total_seconds())
    station.pump.sync()
    station.pump.register_ml -= 8.0  # 4 boluses of 0.1 mL a day for 20 days, counted by the pump
    result = station.visit(refill_body(days=20, returned=round(station.pump.register_ml, 2)))
    assert [f.code for f in result.findings if f.tier != "info"] == [FindingCode.BILLING]  # documentation only


def test_a_retried_dose_change_stays_a_reprogramming_after_an_interrogation_in_between(
    engine: Engine, settings: Settings, actor: Actor
) -> None:
    """The retry once saw the new prescription in force (stored by the interrogation) and billed a plain refill."""
    station = Station(engine, settings, actor)
    station.visit(refill_body())
    station.clock.advance(timedelta(days=30).total_seconds())
    station.pump.sync()
    new_rx = {"mode": "continuous", "rate_ml_per_day": "0.4 mL/d"}
    body = refill_body(days=30, returned=round(station.pump.register_ml, 1), prescription=new_rx)
    station.programmer.faults = LinkFaultPlan(seed=1, restart_rate=1.0)
    with pytest.raises(DeviceOutcomeUnknownError):
        station.visit(body)
    station.programmer.faults = LinkFaultPlan()
    # As if RX_WRITE had landed before the link dropped, and the nurse then interrogated the pump.
    expect = station.pump.prescription.rx_id if station.pump.prescription is not None else ""
    station.pump.write_prescription(ContinuousPrescription(rate_ml_per_day=0.4), expect=expect or "")
    station.start()
    result = station.visit(body)
    assert "62369" in {c.code for c in result.charges}  # refill with reprogramming
