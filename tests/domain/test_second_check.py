"""The second-person check of a spinal fill: which fills need one, what a check must match, and no override."""

from datetime import UTC, datetime

import pytest

from pump_service.domain.findings import Finding, FindingCode, Override, Tier, unresolved_hard_stops
from pump_service.domain.refill_inputs import PlannedComponent
from pump_service.domain.second_check import SecondCheck, second_check_findings, second_check_required
from schemas.drug_catalogue import get_drug
from schemas.pump import DeliveryRoute

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _component(drug_id: str, conc: float | None, index: int = 0) -> PlannedComponent:
    return PlannedComponent(index, get_drug(drug_id), 20.0, None, conc, None, None)


def _check(drug_id: str = "baclofen", conc: float = 2.0, volume: float = 20.0) -> SecondCheck:
    return SecondCheck("nurse-2", "nurse", AT, drug_id, conc, volume)


@pytest.mark.parametrize(
    ("route", "components", "required"),
    [
        (DeliveryRoute.INTRATHECAL, [_component("baclofen", 2.0)], True),
        (DeliveryRoute.EPIDURAL, [_component("morphine", 10.0)], True),
        (DeliveryRoute.INTRA_ARTERIAL, [_component("floxuridine", 5.0), _component("saline", None, 1)], False),
        (DeliveryRoute.INTRATHECAL, [_component("saline", None)], False),  # a vehicle alone
    ],
)
def test_which_fills_need_a_second_check(
    route: DeliveryRoute, components: list[PlannedComponent], required: bool
) -> None:
    assert second_check_required(route, components) is required


@pytest.mark.parametrize(
    ("check", "resolution", "matches"),
    [
        pytest.param(_check(), None, True, id="same drug, concentration, volume"),
        pytest.param(_check(volume=20.05), None, True, id="volume within the default graduation"),
        pytest.param(_check(volume=20.5), 0.1, False, id="volume off by more than the syringe graduation"),
        pytest.param(_check(volume=20.5), 1.0, True, id="within a 1 mL graduation"),
        pytest.param(_check(conc=4.0), None, False, id="another concentration"),
        pytest.param(_check(drug_id="morphine"), None, False, id="another drug"),
    ],
)
def test_a_check_matches_drug_concentration_and_volume(
    check: SecondCheck, resolution: float | None, matches: bool
) -> None:
    found = second_check_findings(
        DeliveryRoute.INTRATHECAL,
        [_component("baclofen", 2.0)],
        [check],
        fill_volume_ml=20.0,
        syringe_resolution_ml=resolution,
    )
    assert (found == ()) is matches
    if not matches:
        assert [(f.code, f.tier) for f in found] == [(FindingCode.SECOND_CHECK_MISSING, Tier.HARD_STOP)]


def test_each_active_drug_of_a_mixture_needs_its_own_check() -> None:
    mixture = [_component("baclofen", 2.0), _component("morphine", 10.0, 1)]
    found = second_check_findings(
        DeliveryRoute.INTRATHECAL, mixture, [_check()], fill_volume_ml=20.0, syringe_resolution_ml=None
    )
    assert [f.field for f in found] == ["components.1"]


def test_no_override_clears_a_missing_second_check() -> None:
    missing = Finding(FindingCode.SECOND_CHECK_MISSING, Tier.HARD_STOP, "needs a second check")
    other = Finding(FindingCode.DRUG_EXPIRED, Tier.HARD_STOP, "expired")
    override = Override("dr-1", "physician", "reason given", frozenset({missing.code, other.code}))
    assert unresolved_hard_stops([missing, other], override) == (missing,)
