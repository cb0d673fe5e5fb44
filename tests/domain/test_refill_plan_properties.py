"""Properties of the refill plan, for any refill ``plan_refill`` accepts, and of what it refuses.

Every request is drawn at random (model, previous fill, elapsed time, return, fill, body mass,
dose, conditions, programmable prescription); a refused request only counts if its refusal is
justified by the bounds, and an accepted one must satisfy every property below. The expected
figures are recomputed here from the inputs, not read back from the plan.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, reject, settings
from hypothesis import strategies as st

from pump_service.domain.bounds import BODY_MASS_KG, CONSTANT_FLOW_BAND_PCT, DUPLICATE_WINDOW, SHORT_INTERVAL
from pump_service.domain.findings import FindingCode, HardStopError, Override, OverrideRole, Tier
from pump_service.domain.planning_rate import RateSource
from pump_service.domain.refill_plan import (
    FUTURE_TOLERANCE,
    ComponentRequest,
    FillRequest,
    PlanPolicy,
    PumpSnapshot,
    RefillPlan,
    plan_refill,
)
from pump_service.domain.residual import ConditionPeriod, expected_residual_ml
from pump_service.errors import RuleViolationError
from schemas.drug import AmountBasis, DoseBasis, Drug
from schemas.drug_catalogue import get_drug
from schemas.flow_law import FlowConditions, days_until_volume
from schemas.pump import DeliveryRoute, PumpFamily, PumpModel
from schemas.pump_catalogue import get_pump_model

NY = ZoneInfo("America/New_York")
POLICY = PlanPolicy(zone=NY)
PROPERTIES = settings(max_examples=100, deadline=None)

CONSTANT_FLOW_MODELS = ("hai-30", "cf-50")
PROGRAMMABLE_MODELS = ("programmable-20", "programmable-40")
ALL_MODELS = CONSTANT_FLOW_MODELS + PROGRAMMABLE_MODELS

FUDR = get_drug("floxuridine")
HEPARIN = get_drug("heparin")
BACLOFEN = get_drug("baclofen")
MORPHINE = get_drug("morphine")
SALINE = get_drug("saline")
GLYCERIN = get_drug("glycerin")

# Each dosed drug with the basis it is prescribed in and a range reaching below and above its guard.
DOSES: dict[str, tuple[DoseBasis, float, float]] = {
    "floxuridine": (DoseBasis.MG_PER_KG_PER_DAY, 0.02, 1.0),  # guard 0.1-0.6 mg/kg/d
    "heparin": (DoseBasis.USP_U_PER_DAY, 50.0, 15_000.0),  # guard 0-10,000 USP_U/d
    "baclofen": (DoseBasis.MG_PER_DAY, 0.005, 3.0),  # guard 0.012-2 mg/d
    "morphine": (DoseBasis.MG_PER_DAY, 0.05, 30.0),  # guard 0.2-20 mg/d, warning above 10
}
DOSED_FOR_ROUTE: dict[DeliveryRoute, tuple[Drug, ...]] = {
    DeliveryRoute.INTRA_ARTERIAL: (FUDR, HEPARIN),
    DeliveryRoute.INTRAVENOUS: (HEPARIN,),
    DeliveryRoute.INTRATHECAL: (BACLOFEN, MORPHINE),
    DeliveryRoute.EPIDURAL: (BACLOFEN, MORPHINE),
}
ALL_DOSED = (FUDR, HEPARIN, BACLOFEN, MORPHINE)

T_MIN = datetime(2025, 1, 1)  # noqa: DTZ001 - hypothesis takes naive bounds and attaches the zone
T_MAX = datetime(2027, 12, 31)  # noqa: DTZ001
ONE_HOUR = timedelta(hours=1)
SIXTY_DAYS = timedelta(days=60)
TINY = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Case:
    """One drawn refill, with the inputs the expectations are recomputed from."""

    pump: PumpSnapshot
    request: FillRequest
    now: datetime
    since: timedelta | None  # since the previous fill; None for a first fill
    conditions: FlowConditions  # the body and surroundings in force at the refill (before the fill's infusate)

    @property
    def model(self) -> PumpModel:
        return self.pump.model

    @property
    def constant_flow(self) -> bool:
        return self.model.family is PumpFamily.CONSTANT_FLOW

    @property
    def fill_viscosity(self) -> float:
        vehicles = [
            c.drug.relative_viscosity for c in self.request.components if c.drug.amount_basis is AmountBasis.VEHICLE
        ]
        return max(vehicles, default=1.0)

    @property
    def corrected_rate(self) -> float:
        """Constant-flow: the labelled rate under the conditions in force and the fill's viscosity."""
        nominal = self.pump.nominal_rate_ml_per_day or self.model.nominal_rate_ml_per_day
        assert nominal is not None
        conditions = self.conditions.model_copy(update={"relative_viscosity": self.fill_viscosity})
        return nominal * self.model.flow_factor(conditions)

    @property
    def basal(self) -> float:
        """Programmable: the basal in force after the refill."""
        if self.request.new_basal_ml_per_day is not None:
            return self.request.new_basal_ml_per_day
        assert self.pump.basal_ml_per_day is not None
        return self.pump.basal_ml_per_day

    @property
    def allowance(self) -> float:
        """Programmable: the bolus allowance in force after the refill."""
        if self.request.new_basal_ml_per_day is not None and self.request.new_bolus_allowance_ml_per_day is not None:
            return self.request.new_bolus_allowance_ml_per_day
        return self.pump.bolus_allowance_ml_per_day

    @property
    def highest_rate(self) -> float:
        """The fastest planning rate the rules allow for this case."""
        if self.constant_flow:
            return self.corrected_rate * (1 + CONSTANT_FLOW_BAND_PCT / 100)
        return self.basal + self.allowance

    def flow_ratio(self) -> float | None:
        """Constant-flow: measured / expected flow of this return (None: first fill or nothing aspirated)."""
        pump, request = self.pump, self.request
        if pump.last_fill_at is None or pump.last_fill_volume_ml is None or request.returned_volume_ml <= 1e-6:
            return None
        previous = min(pump.last_fill_volume_ml, self.model.capacity_ml)
        nominal = pump.nominal_rate_ml_per_day or self.model.nominal_rate_ml_per_day or 0.0
        residual = expected_residual_ml(
            model=self.model,
            fill_volume_ml=previous,
            rate_ml_per_day=nominal,
            filled_at=pump.last_fill_at,
            now=request.performed_at,
            periods=pump.periods,
        )
        if residual >= previous:
            return None
        return (previous - min(request.returned_volume_ml, previous)) / (previous - residual)


# Mostly inside the bounds, one draw in ten anywhere (hypothesis favours the ends of a range, which are outside).
def _body_mass(draw: st.DrawFn) -> float:
    anywhere = draw(st.integers(0, 9)) == 0
    return draw(st.floats(1.0, 400.0) if anywhere else st.floats(2.0, 350.0))


def _any_fill(model: PumpModel) -> st.SearchStrategy[float]:
    return st.integers(0, 9).flatmap(
        lambda n: (
            st.floats(0.5, model.capacity_ml + 5.0) if n == 0 else st.floats(model.capacity_ml / 2, model.capacity_ml)
        )
    )


def _valid_fill(model: PumpModel) -> st.SearchStrategy[float]:
    return st.floats(1.0, model.capacity_ml)


_ELAPSED = st.timedeltas(ONE_HOUR, SIXTY_DAYS)
_CONDITIONS = st.builds(
    FlowConditions.at_altitude,
    st.floats(0.0, 3000.0),
    body_temperature_c=st.floats(35.0, 41.0),
)


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    model_ids: tuple[str, ...] = ALL_MODELS,
    elapsed: st.SearchStrategy[timedelta] = _ELAPSED,
    fill: Callable[[PumpModel], st.SearchStrategy[float]] = _any_fill,
    body_mass: Callable[[st.DrawFn], float] = _body_mass,
    first_fills: bool = True,
    flow: st.SearchStrategy[float] | None = None,
) -> Case:
    model = get_pump_model(draw(st.sampled_from(model_ids)))
    constant = model.family is PumpFamily.CONSTANT_FLOW
    route = draw(st.sampled_from(model.routes))
    first = first_fills and draw(st.integers(0, 9)) == 0

    last_fill_at = draw(st.datetimes(T_MIN, T_MAX, timezones=st.just(UTC)))
    since = None if first else draw(elapsed)
    performed_at = last_fill_at + (draw(st.timedeltas(ONE_HOUR, SIXTY_DAYS)) if since is None else since)
    if draw(st.booleans()):
        performed_at = performed_at.astimezone(NY)  # the nurse's station sends local time with its offset
    now = performed_at + draw(st.timedeltas(timedelta(0), timedelta(days=2)))
    implanted_at = (
        None if draw(st.booleans()) else last_fill_at - draw(st.timedeltas(timedelta(0), timedelta(days=900)))
    )

    # Conditions: none recorded (reference), one in force since before the fill, or a change in between.
    shape = draw(st.sampled_from(("none", "one", "change")))
    conditions = FlowConditions() if shape == "none" else draw(_CONDITIONS)
    periods: tuple[ConditionPeriod, ...] = ()
    if shape == "one":
        periods = (ConditionPeriod(last_fill_at - timedelta(days=1), conditions),)
    elif shape == "change":
        first_conditions = draw(_CONDITIONS)
        change_at = last_fill_at + (performed_at - last_fill_at) * draw(st.floats(0.01, 0.99))
        periods = (
            ConditionPeriod(last_fill_at - timedelta(days=1), first_conditions),
            ConditionPeriod(change_at, conditions),
        )

    nominal = draw(st.none() | st.floats(model.min_rate_ml_per_day, model.max_rate_ml_per_day)) if constant else None
    stored_ratio = draw(st.none() | st.floats(0.5, 1.5)) if constant else None
    basal = None if constant else draw(st.floats(0.05, 5.0))
    allowance = 0.0 if constant else draw(st.floats(0.0, 2.0))
    new_basal = None if constant else draw(st.none() | st.floats(0.05, 5.0))
    new_allowance = None if new_basal is None else draw(st.none() | st.floats(0.0, 2.0))

    previous = None if first else draw(st.floats(1.0, model.capacity_ml))
    returned = 0.0
    if previous is not None:
        assert since is not None
        if since <= timedelta(0) or (flow is None and draw(st.booleans())):
            returned = draw(st.floats(0.0, previous))
        else:  # what a pump running at `flow` times its expected rate leaves
            if constant:
                expected = expected_residual_ml(
                    model=model,
                    fill_volume_ml=previous,
                    rate_ml_per_day=nominal or model.nominal_rate_ml_per_day or 0.0,
                    filled_at=last_fill_at,
                    now=performed_at,
                    periods=periods,
                )
            else:
                assert basal is not None
                expected = previous - (basal + allowance * draw(st.floats(0.0, 1.0))) * since.total_seconds() / 86_400
            delivered = (previous - expected) * draw(st.floats(0.3, 2.0) if flow is None else flow)
            returned = min(previous, max(0.0 if flow is None else 0.01, previous - delivered))

    local_day = performed_at.astimezone(NY).date()
    matching = DOSED_FOR_ROUTE.get(route, ALL_DOSED)
    drug = draw(st.sampled_from(matching) if draw(st.integers(0, 9)) else st.sampled_from(ALL_DOSED))
    basis, low, high = DOSES[drug.drug_id]
    expiry = st.none() | st.dates(local_day - timedelta(days=10), local_day + timedelta(days=400))
    components = [ComponentRequest(drug, dose=(basis, draw(st.floats(low, high))), expires_on=draw(expiry), lot="L1")]
    if drug is FUDR and draw(st.booleans()):
        components.append(ComponentRequest(HEPARIN, concentration=draw(st.floats(10.0, 2000.0))))
    vehicle = draw(st.sampled_from((SALINE, SALINE, GLYCERIN))) if constant else SALINE
    components.append(ComponentRequest(vehicle))

    pump = PumpSnapshot(
        serial="P-1",
        model=model,
        route=route,
        version=1,
        nominal_rate_ml_per_day=nominal,
        implanted_at=implanted_at,
        last_fill_at=None if first else last_fill_at,
        last_fill_volume_ml=previous,
        flow_ratio=stored_ratio,
        basal_ml_per_day=basal,
        bolus_allowance_ml_per_day=allowance,
        periods=periods,
        drugs_in_pump=frozenset(draw(st.sampled_from(((), (drug.drug_id,))))),
    )
    request = FillRequest(
        performed_at=performed_at,
        returned_volume_ml=returned,
        fill_volume_ml=draw(fill(model)),
        components=tuple(components),
        body_mass_kg=body_mass(draw),
        new_basal_ml_per_day=new_basal,
        new_bolus_allowance_ml_per_day=new_allowance,
    )
    return Case(pump=pump, request=request, now=now, since=since, conditions=conditions)


def _plan(case: Case, request: FillRequest | None = None) -> RefillPlan:
    return plan_refill(case.pump, request or case.request, policy=POLICY, now=case.now)


def _check_refusal(case: Case, error: RuleViolationError) -> None:
    """A refusal names a field and that field's value really is out of bounds (or cannot be planned)."""
    request, model = case.request, case.model
    if error.field == "performed_at":
        assert (case.since is not None and case.since < DUPLICATE_WINDOW) or request.performed_at > (
            case.now + FUTURE_TOLERANCE
        ), error
    elif error.field == "body_mass_kg":
        assert request.body_mass_kg is None or not BODY_MASS_KG.contains(request.body_mass_kg), error
    elif error.field == "fill_volume_ml":
        if 1.0 <= request.fill_volume_ml <= model.capacity_ml:
            # Only a fill that reaches the alarm within the safety margin, even at the fastest allowed rate.
            days = days_until_volume(
                request.fill_volume_ml, model.low_reservoir_ml, case.highest_rate, model.near_empty_ml
            )
            assert days <= POLICY.safety_margin_days + 1e-6, error
    else:
        assert error.field is not None, error
        assert error.field.startswith("components"), error


def _accepted(case: Case) -> RefillPlan:
    """The plan, or the example rejected after checking the refusal was justified."""
    try:
        plan = _plan(case)
    except RuleViolationError as error:
        _check_refusal(case, error)
        reject()
    request = case.request
    # Accepting is justified too: every bound held.
    assert request.body_mass_kg is not None
    assert BODY_MASS_KG.contains(request.body_mass_kg)
    assert 1.0 <= request.fill_volume_ml <= case.model.capacity_ml + 1e-6
    assert case.since is None or case.since >= DUPLICATE_WINDOW
    return plan


def _hard_stops(plan: RefillPlan) -> tuple[FindingCode, ...]:
    return tuple(f.code for f in plan.findings if f.tier is Tier.HARD_STOP)


# ---- 1. the planning rate -------------------------------------------------------------------


@PROPERTIES
@given(case=cases(model_ids=CONSTANT_FLOW_MODELS))
def test_constant_flow_planning_rate_stays_inside_the_models_band(case: Case) -> None:
    plan = _accepted(case)
    corrected = case.corrected_rate
    assert corrected * (1 - 1e-9) <= plan.rate.rate_ml_per_day <= corrected * 1.5 * (1 + 1e-9)
    assert plan.rate.dosing_rate_ml_per_day == plan.rate.rate_ml_per_day
    ratio = case.flow_ratio()
    if ratio is not None and 1 + 1e-9 < ratio < 1 + CONSTANT_FLOW_BAND_PCT / 100 - 1e-6:
        # A unit measured running fast, inside the band, is planned at what it ran.
        assert FindingCode.IMPLAUSIBLE_FLOW not in _hard_stops(plan)
        assert plan.rate.source is RateSource.MEASURED
        assert plan.rate.rate_ml_per_day == pytest.approx(corrected * ratio)
        assert plan.flow_ratio == pytest.approx(ratio)


@PROPERTIES
@given(
    case=cases(
        model_ids=CONSTANT_FLOW_MODELS,
        first_fills=False,
        flow=st.floats(0.0, 0.45) | st.floats(1.55, 3.0),  # measured / expected, outside the band
    )
)
def test_a_measured_flow_outside_the_band_is_a_hard_stop_and_never_plans(case: Case) -> None:
    plan = _accepted(case)
    ratio = case.flow_ratio()
    if ratio is not None and abs(ratio - 1) * 100 < CONSTANT_FLOW_BAND_PCT - 1e-6:
        assert FindingCode.IMPLAUSIBLE_FLOW not in _hard_stops(plan)
    assume(ratio is not None and abs(ratio - 1) * 100 > CONSTANT_FLOW_BAND_PCT + 1e-6)
    assert FindingCode.IMPLAUSIBLE_FLOW in _hard_stops(plan)
    # "the plan stays on the pump's model rate", says the finding.
    assert plan.rate.source is not RateSource.MEASURED
    assert plan.rate.rate_ml_per_day == pytest.approx(case.corrected_rate)


@PROPERTIES
@given(case=cases(model_ids=PROGRAMMABLE_MODELS))
def test_programmable_planning_rate_is_basal_plus_bolus_allowance(case: Case) -> None:
    plan = _accepted(case)
    assert plan.rate.rate_ml_per_day == case.basal + case.allowance
    assert plan.rate.dosing_rate_ml_per_day == case.basal
    assert plan.rate.source is RateSource.PRESCRIPTION
    assert FindingCode.IMPLAUSIBLE_FLOW not in _hard_stops(plan)


# ---- 2. the due date ------------------------------------------------------------------------


@PROPERTIES
@given(case=cases())
def test_due_date_falls_after_the_refill_and_before_the_alarm(case: Case) -> None:
    plan = _accepted(case)
    assert case.request.performed_at < plan.due.due_at
    assert plan.due.due_at <= case.request.performed_at + timedelta(days=case.model.max_interval_days)
    if plan.forecast.low_reservoir_at is not None:
        assert plan.due.due_at <= plan.forecast.low_reservoir_at
    if plan.forecast.empty_at is not None:
        assert plan.due.due_at <= plan.forecast.empty_at


# ---- 3. the dose shown is the dose delivered ------------------------------------------------


@PROPERTIES
@given(case=cases())
def test_dose_shown_is_the_dose_delivered_at_the_planning_rate(case: Case) -> None:
    plan = _accepted(case)
    rate = plan.rate
    assert [c.index for c in plan.components] == list(range(len(case.request.components)))
    for planned, requested in zip(plan.components, case.request.components, strict=True):
        assert planned.drug == requested.drug
        if planned.drug.amount_basis is AmountBasis.VEHICLE:
            continue
        assert planned.concentration is not None
        assert planned.max_daily_amount == pytest.approx(planned.concentration * rate.rate_ml_per_day)
        assert planned.daily_amount == pytest.approx(planned.concentration * rate.dosing_rate_ml_per_day)
        if requested.concentration is not None:
            assert planned.concentration == pytest.approx(requested.concentration)
        if requested.dose is None:
            continue
        basis, dose = requested.dose
        assert case.request.body_mass_kg is not None
        prescribed = dose * case.request.body_mass_kg if basis is DoseBasis.MG_PER_KG_PER_DAY else dose
        assert planned.daily_amount == pytest.approx(prescribed)
        # The guard judges the worst case, at the planning rate.
        guard = planned.drug.dose_guard
        assert guard is not None
        assert guard.basis is basis
        most = dose * rate.rate_ml_per_day / rate.dosing_rate_ml_per_day
        above = [
            f
            for f in plan.findings
            if f.code is FindingCode.DOSE_ABOVE_LABEL_MAX and f.field == f"components.{planned.index}"
        ]
        if most > guard.maximum * (1 + 1e-6):
            assert above
            assert above[0].tier is Tier.HARD_STOP
        elif most < guard.maximum * (1 - 1e-6):
            assert not above


# ---- 4. hard stops and overrides ------------------------------------------------------------


@PROPERTIES
@given(case=cases(), named=st.frozensets(st.sampled_from(FindingCode)))
def test_a_hard_stop_is_never_committable_without_an_override_naming_it(
    case: Case, named: frozenset[FindingCode]
) -> None:
    plan = _accepted(case)
    hard = tuple(f for f in plan.findings if f.tier is Tier.HARD_STOP)
    assert plan.unresolved == hard
    if hard:
        with pytest.raises(HardStopError) as raised:
            plan.require_committable()
        assert raised.value.unresolved == hard
    else:
        plan.require_committable()

    def overridden(codes: frozenset[FindingCode]) -> RefillPlan:
        override = Override("dr-1", OverrideRole.PHYSICIAN, "clinical reason", codes)
        again = _plan(case, replace(case.request, override=override))
        assert again.findings == plan.findings  # an override waves findings through, it does not change them
        return again

    exact = overridden(frozenset(f.code for f in hard))
    assert exact.unresolved == ()
    exact.require_committable()

    others = overridden(named - {f.code for f in hard})
    assert others.unresolved == hard

    some = overridden(named)
    left = tuple(f for f in hard if f.code not in named)
    assert some.unresolved == left
    if left:
        with pytest.raises(HardStopError):
            some.require_committable()


# ---- 5. bounds ------------------------------------------------------------------------------


def _mass_outside(draw: st.DrawFn) -> float:
    return draw(st.floats(1.0, 2.0, exclude_max=True) | st.floats(350.0, 400.0, exclude_min=True))


def _fill_outside(model: PumpModel) -> st.SearchStrategy[float]:
    return st.floats(0.5, 1.0, exclude_max=True) | st.floats(model.capacity_ml + 1e-3, model.capacity_ml + 5.0)


@PROPERTIES
@given(case=cases(fill=_valid_fill, body_mass=_mass_outside))
def test_body_mass_outside_2_to_350_kg_is_refused(case: Case) -> None:
    with pytest.raises(RuleViolationError) as raised:
        _plan(case)
    assert raised.value.field == "body_mass_kg"


@PROPERTIES
@given(case=cases(fill=_fill_outside))
def test_a_fill_below_1_ml_or_above_capacity_is_refused(case: Case) -> None:
    with pytest.raises(RuleViolationError) as raised:
        _plan(case)
    assert raised.value.field == "fill_volume_ml"


@PROPERTIES
@given(case=cases(elapsed=st.timedeltas(timedelta(0), DUPLICATE_WINDOW - TINY), first_fills=False))
def test_a_refill_within_an_hour_of_the_previous_one_is_refused(case: Case) -> None:
    with pytest.raises(RuleViolationError) as raised:
        _plan(case)
    assert raised.value.field == "performed_at"


@PROPERTIES
@given(case=cases(elapsed=st.timedeltas(DUPLICATE_WINDOW, SHORT_INTERVAL - TINY), first_fills=False))
def test_a_refill_within_a_day_of_the_previous_one_is_a_hard_stop(case: Case) -> None:
    plan = _accepted(case)
    short = [f for f in plan.findings if f.code is FindingCode.REFILL_INTERVAL_SHORT]
    assert len(short) == 1
    assert short[0].tier is Tier.HARD_STOP
    assert short[0].field == "performed_at"
    assert short[0] in plan.unresolved


@PROPERTIES
@given(case=cases(elapsed=st.timedeltas(SHORT_INTERVAL, SIXTY_DAYS)))
def test_a_refill_a_day_or_more_after_the_previous_one_is_not_short(case: Case) -> None:
    plan = _accepted(case)
    assert FindingCode.REFILL_INTERVAL_SHORT not in {f.code for f in plan.findings}


# ---- 6. the observed bug --------------------------------------------------------------------


def test_hai_refill_two_and_a_half_hours_after_a_fill_is_planned_at_the_model_rate() -> None:
    """Filled 30 mL at 09:00, "refilled" at 11:30 with 1 mL back: 278 mL/day measured, 8.64 mg/d shown."""
    filled_at = datetime(2026, 11, 2, 9, 0, tzinfo=NY)
    performed_at = datetime(2026, 11, 2, 11, 30, tzinfo=NY)
    pump = PumpSnapshot(
        serial="HAI-1",
        model=get_pump_model("hai-30"),
        route=DeliveryRoute.INTRA_ARTERIAL,
        version=3,
        last_fill_at=filled_at,
        last_fill_volume_ml=30.0,
        patient_body_mass_kg=70.0,
    )
    request = FillRequest(
        performed_at=performed_at,
        returned_volume_ml=1.0,
        fill_volume_ml=30.0,
        components=(
            ComponentRequest(FUDR, dose=(DoseBasis.MG_PER_KG_PER_DAY, 0.12), lot="FU1", expires_on=date(2027, 12, 31)),
            ComponentRequest(SALINE),
        ),
        body_mass_kg=70.0,
    )
    plan = plan_refill(pump, request, policy=POLICY, now=performed_at)

    assert plan.assessment is not None
    assert plan.assessment.measured_rate_ml_per_day == pytest.approx(278.4)
    hard = _hard_stops(plan)
    assert FindingCode.REFILL_INTERVAL_SHORT in hard
    assert FindingCode.IMPLAUSIBLE_FLOW in hard
    assert {f.code for f in plan.unresolved} >= {FindingCode.REFILL_INTERVAL_SHORT, FindingCode.IMPLAUSIBLE_FLOW}
    with pytest.raises(HardStopError):
        plan.require_committable()

    assert plan.rate.rate_ml_per_day == pytest.approx(1.0)
    assert plan.rate.source is RateSource.MODEL
    assert plan.flow_ratio is None  # the impossible ratio is not stored for the next plan
    fudr = plan.components[0]
    assert fudr.drug == FUDR
    assert fudr.daily_amount == pytest.approx(8.4)  # 0.12 mg/kg/d x 70 kg, never 8.64
    assert fudr.max_daily_amount == pytest.approx(8.4)
    assert fudr.concentration == pytest.approx(8.4)
    assert plan.due.due_at > performed_at
