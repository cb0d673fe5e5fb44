"""Billing set up per clinic (issue 10, item 4; observation 8): stored, validated, versioned, applied."""

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pump_service.errors import NotFoundError, RuleViolationError
from pump_service.persistence.charge_models import ChargeEventRow, ClinicBilling
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor
from pump_service.services.charges import clinic_billing_history, set_clinic_billing
from pump_service.services.charges.contracts import ClinicBillingEntry
from pump_service.services.scheduling.clinic_admin import change_clinic
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.services.scheduling.contracts import ClinicChanges
from pump_service.settings import Settings
from tests.charge_support import GIST_BILLING, bill_refill, billed_body, packaged_profile, palmetto_setup, register_hai
from tests.support import T0


@pytest.fixture
def clinic(engine: Engine, settings: Settings, actor: Actor) -> str:
    register_hai(engine, actor)
    with transaction(engine) as session:
        return default_clinic(session, settings, now=T0, actor=actor).clinic_id


def _set(engine: Engine, actor: Actor, clinic: str, body: dict[str, Any]) -> None:
    with transaction(engine) as session:
        set_clinic_billing(session, clinic, ClinicBillingEntry.model_validate(body), actor=actor, now=T0)


def _second(**billing: Any) -> dict[str, Any]:
    """The next refill of the same pump, two weeks later."""
    return billed_body(T0 + timedelta(days=14), **billing) | {"returned_volume_ml": "16 mL"}


def _codes(charges: Any) -> list[str]:
    return [w.code for w in charges.warnings]


def test_observation_8_a_palmetto_clinic_configures_the_regional_list_without_editing_package_data(
    engine: Engine, settings: Settings, actor: Actor, clinic: str
) -> None:
    body = billed_body(**GIST_BILLING)
    packaged = bill_refill(engine, settings, actor, body, visit_key="before-setup")
    [warning] = [w for w in packaged.warnings if w.code == "dx_not_supporting"]
    # The warning names the rule and the profile it came from.
    assert (warning.rule, warning.profile, warning.profile_source) == ("R17", "medicare", "profiles.toml")
    assert warning.message.startswith("R17 (medicare, profiles.toml): ")

    _set(engine, actor, clinic, palmetto_setup())
    configured = bill_refill(engine, settings, actor, _second(**GIST_BILLING))
    assert "dx_not_supporting" not in _codes(configured)
    with transaction(engine) as session:
        rows = session.exec(select(ChargeEventRow).where(ChargeEventRow.visit_key != "before-setup")).all()
        assert {r.payer_profile for r in rows} == {"medicare_palmetto"}  # the clinic's default profile
        assert {r.reference_version for r in rows} == {"2026.1+main.v1"}
        assert {r.event["place_of_service"] for r in rows} == {"11"}


def test_a_visit_still_selects_its_own_profile_and_pos(
    engine: Engine, settings: Settings, actor: Actor, clinic: str
) -> None:
    _set(engine, actor, clinic, palmetto_setup(place_of_service="22"))
    charges = bill_refill(
        engine, settings, actor, billed_body(payer_profile="commercial_example", place_of_service="11")
    )
    assert {(r.payer_profile, r.event["place_of_service"]) for r in charges.rows} == {("commercial_example", "11")}
    clinic_default = bill_refill(engine, settings, actor, _second())
    assert {(r.payer_profile, r.event["place_of_service"]) for r in clinic_default.rows} == {
        ("medicare_palmetto", "22")
    }


def test_versions_are_kept_and_the_one_in_effect_on_the_service_date_applies(
    engine: Engine, settings: Settings, actor: Actor, clinic: str
) -> None:
    _set(engine, actor, clinic, palmetto_setup())
    _set(engine, actor, clinic, palmetto_setup(effective_from="2026-11-10", payer_profile="commercial_example"))
    with transaction(engine) as session:
        history = clinic_billing_history(session, clinic)
    assert [(v.version, v.effective_from, v.payer_profile) for v in history] == [
        (1, date(2026, 1, 1), "medicare_palmetto"),
        (2, date(2026, 11, 10), "commercial_example"),
    ]
    assert {(v.created_by, v.station_id) for v in history} == {("nurse-7", "test-station")}
    first = bill_refill(engine, settings, actor, billed_body())  # 2 Nov: version 1
    later = bill_refill(engine, settings, actor, _second())  # 16 Nov: version 2
    assert {r.payer_profile for r in first.rows} == {"medicare_palmetto"}
    assert {r.payer_profile for r in later.rows} == {"commercial_example"}
    assert {r.reference_version for r in later.rows} == {"2026.1+main.v2"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"jurisdiction": "JX"}, "jurisdiction", id="unknown-jurisdiction"),
        pytest.param({"effective_from": "2020-01-01"}, "effective_from", id="before-the-packaged-tables"),
        pytest.param({"payer_profile": "no_such_payer"}, "payer_profile", id="unknown-default-profile"),
        pytest.param(
            {"jurisdiction": "J5"}, "profiles.medicare_palmetto.regional_dx", id="regional-list-outside-j-and-m"
        ),
        pytest.param(
            {"profiles": {"medicare": packaged_profile()}, "payer_profile": None}, "profiles.medicare", id="packaged-id"
        ),
        pytest.param(
            {"profiles": {"medicare_palmetto": packaged_profile(fee_shedule="mpfs")}},
            "profiles.medicare_palmetto",
            id="misspelt-key",
        ),
        pytest.param(
            {"profiles": {"medicare_palmetto": packaged_profile(covered_uses=["hai_chemo"])}},
            "profiles.medicare_palmetto",
            id="unknown-use",
        ),
    ],
)
def test_a_bad_setup_names_the_field_and_stores_nothing(
    engine: Engine, actor: Actor, clinic: str, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(RuleViolationError) as caught:
        _set(engine, actor, clinic, palmetto_setup(**changes))
    assert caught.value.field == field
    with transaction(engine) as session:
        assert session.exec(select(ClinicBilling)).all() == []


def test_an_unknown_clinic_is_not_found(engine: Engine, actor: Actor) -> None:
    with pytest.raises(NotFoundError):
        _set(engine, actor, "nowhere", palmetto_setup())
    with transaction(engine) as session, pytest.raises(NotFoundError):
        clinic_billing_history(session, "nowhere")


def test_the_billing_set_up_takes_the_clinics_jurisdiction_and_refuses_another(
    engine: Engine, settings: Settings, actor: Actor, clinic: str
) -> None:
    """One jurisdiction per clinic: the calendar's, which the billing set-up inherits."""
    with transaction(engine) as session:
        change_clinic(session, clinic, ClinicChanges(jurisdiction="JM"), actor=actor, now=T0)
    with pytest.raises(RuleViolationError) as refused:
        _set(engine, actor, clinic, palmetto_setup(jurisdiction="J5"))
    assert refused.value.field == "jurisdiction"
    inherited = {k: v for k, v in palmetto_setup().items() if k != "jurisdiction"}
    _set(engine, actor, clinic, inherited)  # regional_dx is allowed: the clinic is in JM
    configured = bill_refill(engine, settings, actor, billed_body(**GIST_BILLING))
    assert "dx_not_supporting" not in _codes(configured)
