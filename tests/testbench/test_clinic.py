"""A small clinic through the real service on SQLite and PostgreSQL: the issue's invariants hold on its tables."""

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import func, make_url
from sqlmodel import select

from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import make_engine, read_transaction
from pump_service.persistence.models import Refill
from pump_service.persistence.visit_models import Visit
from testbench.clinic import run_clinic
from testbench.clinic_config import ClinicConfig, ClinicRates
from testbench.score import ClinicScore, IncidentKind
from tests.backends import DatabaseBackend, PostgresDatabases

# Everyone comes on time; occlusions are frequent (they slow the flow, so they cannot dry a pump).
PUNCTUAL = ClinicRates(
    no_show=0.0,
    late_arrival=0.0,
    occlusion_per_year=3.0,
    leak_per_year=0.0,
    pocket_fill_per_year=0.0,
    precipitate_per_year=0.0,
)


BACKENDS = [
    pytest.param(DatabaseBackend.SQLITE, id="sqlite"),
    pytest.param(DatabaseBackend.POSTGRESQL, id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="module", params=BACKENDS)
def clinic(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ClinicScore, str]]:
    """The clinic on SQLite (the default) and on PostgreSQL (the bench's ``--database-url``), each once per module."""
    with ExitStack() as stack:
        if request.param is DatabaseBackend.POSTGRESQL:
            databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
            url = stack.enter_context(databases.database(migrated=False))  # the bench migrates it itself
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('clinic') / 'clinic.db'}"
        config = ClinicConfig(
            days=90, programmable=10, constant_flow=10, seed=3, rates=PUNCTUAL, traced_pumps=20, database_url=url
        )
        score = run_clinic(config)
        assert score.facts.database == make_url(url).get_backend_name()
        yield score, url


def test_no_visit_is_recorded_twice(clinic: tuple[ClinicScore, str]) -> None:
    score, url = clinic
    engine = make_engine(url)
    with read_transaction(engine) as session:
        refills = session.exec(select(Refill.pump_id, Refill.performed_at)).all()
        visit_refills = session.exec(select(Visit.refill_id).where(Visit.refill_id.is_not(None))).all()  # type: ignore[union-attr]
    engine.dispose()
    assert score.visits > 20  # every pump came back at least once within the 90 days
    assert len(set(refills)) == len(refills)
    assert len(set(visit_refills)) == len(visit_refills)


def test_charges_are_one_set_per_visit(clinic: tuple[ClinicScore, str]) -> None:
    score, url = clinic
    assert score.charge_sets == score.visits
    assert (score.visits_without_charges, score.visits_with_duplicate_charges) == (0, 0)
    engine = make_engine(url)
    with read_transaction(engine) as session:
        orphans = session.exec(
            select(func.count()).select_from(ChargeEventRow).where(ChargeEventRow.refill_id.is_(None))  # type: ignore[union-attr]
        ).one()
    engine.dispose()
    assert orphans == 0


def test_every_injected_occlusion_is_flagged_at_the_next_refill(clinic: tuple[ClinicScore, str]) -> None:
    score, _ = clinic
    occlusions = [f for f in score.faults if f.kind == "occlusion"]
    assert occlusions, "the rates inject occlusions"
    refills = {t.serial: t.refills_days for t in score.samples}
    for fault in occlusions:
        following = [d for d in refills[fault.serial] if d > fault.injected_day]
        assert fault.detected_day == pytest.approx(following[0], abs=1e-3), fault
        assert fault.finding_codes
    assert score.detection_rate == 1.0


def test_no_pump_runs_dry_when_nobody_missed_an_appointment(clinic: tuple[ClinicScore, str]) -> None:
    score, _ = clinic
    assert score.no_shows == 0
    assert score.dry_pumps == 0
    assert not [i for i in score.incidents if i.kind is IncidentKind.DRY]


def test_every_incident_is_explained_and_the_figures_add_up(clinic: tuple[ClinicScore, str]) -> None:
    score, _ = clinic
    assert all(i.detail for i in score.incidents)
    assert score.alarms_before_refill == sum(1 for i in score.incidents if i.kind is IncidentKind.ALARM_BEFORE_REFILL)
    assert score.capacity_violations == sum(1 for d in score.capacity_per_day if d.booked > d.capacity)
    assert all(x > 0 for x in score.safe_interval_fractions)
    assert len(score.samples) == 20


def _without_timing(score: ClinicScore) -> ClinicScore:
    return dataclasses.replace(score, wall_s=0.0, simulated_pump_days_per_s=0.0)


def test_the_same_seed_gives_the_same_report() -> None:
    rates = ClinicRates(no_show=0.25, late_arrival=0.15)  # the front desk's no-show path runs too
    config = ClinicConfig(days=30, programmable=2, constant_flow=2, seed=11, rates=rates)
    first, second = run_clinic(config), run_clinic(config)
    assert _without_timing(first) == _without_timing(second)
    assert first.no_shows > 0
    assert first.no_show_escalations == first.no_shows  # each missed visit escalated once as overdue
    other = run_clinic(dataclasses.replace(config, seed=12))
    assert _without_timing(other) != _without_timing(first)


def test_a_scenario_file_names_the_patients(tmp_path: Path) -> None:
    scenario = tmp_path / "clinic.json"
    scenario.write_text(
        '{"days": 40, "seed": 2, "patients": ['
        '{"serial": "CF-SC-1", "family": "constant_flow", "last_fill_days_before_start": 5,'
        ' "faults": [{"kind": "occlusion", "day": 3, "remaining_flow": 0.2}],'
        ' "no_show_visits": [], "late_visits": [1]},'
        '{"serial": "PP-SC-1", "family": "programmable", "rate_ml_per_day": 0.6, "no_show_visits": [1]}]}',
        encoding="utf-8",
    )
    score = run_clinic(ClinicConfig(scenario=scenario, traced_pumps=2))
    assert (score.facts.days, score.facts.programmable, score.facts.constant_flow) == (40, 1, 1)
    assert score.facts.scenario == str(scenario)
    assert score.no_shows == 1
    assert [f.kind for f in score.faults] == ["occlusion"]
