"""Schemathesis against the whole API, in process, with a valid bench token.

For every operation in the OpenAPI document, generated requests (valid and invalid) must never
get a 5xx, every 4xx must be ``application/problem+json``, and every response must match what the
document declares (status, content type, headers, schema). Each generated case is sent twice: as
generated, and with its path ids replaced by ids that exist (a seeded clinic, pump, appointment and
notification), so the routes behind real ids are reached too. One fresh database per run.

The bounded run (fuzzing, 25 examples per operation) is part of ``make test``;
``PUMP_SCHEMATHESIS_EXAMPLES`` changes its size. The ``slow`` run (``PUMP_SCHEMATHESIS_FULL=1``) adds
schemathesis' coverage phase (every boundary value of every field) and 300 fuzzed examples per operation.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlmodel import select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.schedule_models import Appointment
from pump_service.services.actor import Actor
from pump_service.services.contracts import PatientEntry, PumpRegistration
from pump_service.services.pumps.registry import register_patient, register_pump
from pump_service.settings import Settings
from tests.auth_support import ensure_bench_station, make_user, token_for
from tests.support import T0, FixedClock

EXAMPLES = int(os.environ.get("PUMP_SCHEMATHESIS_EXAMPLES", "25"))
PROBLEM = "application/problem+json"
# A schema-valid request may still break a domain rule (a volume above the reservoir, a cursor this
# service never issued): its 422 problem is the right answer, not a failure.
_NOT_CHECKED: list[Any] = [positive_data_acceptance]


def _seeded_app(tmp: Path) -> tuple[FastAPI, str, dict[str, Any]]:
    """A fresh, migrated database: the default clinic (with the bench station), a patient and a pump."""
    app_settings = Settings(
        database_url=f"sqlite:///{tmp}/schemathesis.db", station_id="test-station", clinic_tz="America/New_York"
    )
    engine = make_engine(app_settings.database_url)
    upgrade(engine)
    clock = FixedClock()
    app = create_app(app_settings, clock=clock, engine=engine)
    station = ensure_bench_station(engine, app_settings)
    username, _ = make_user(engine, Role.BENCH)
    token = token_for(engine, username, station)

    actor = Actor(user="seed", station_id=station)
    with transaction(engine) as session:
        register_patient(session, PatientEntry(patient_ref="P-SEED", body_mass_kg=70.0), actor=actor, now=T0)
        register_pump(
            session,
            PumpRegistration(serial="HAI-SEED", model_id="hai-30", route="intra_arterial", patient_ref="P-SEED"),
            actor=actor,
            now=T0,
        )
        appointment = session.exec(select(Appointment)).first()
    ids: dict[str, Any] = {"serial": "HAI-SEED", "clinic_id": "main", "day": "2026-12-24"}
    if appointment is not None:
        ids["appointment_id"] = appointment.id
    return app, token, ids


# The schema is read from the app when the module is imported, so the app (and its fresh database)
# exist from then on; the fixture below removes the database when the module's tests are done.
_TMP = Path(tempfile.mkdtemp(prefix="pump-schemathesis-"))
_APP, _TOKEN, _IDS = _seeded_app(_TMP)


def _schema(*, coverage: bool) -> OpenApiSchema:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", _APP)
    # The coverage phase sends every boundary value of every field (thousands of requests for the
    # refill body) whatever max_examples says: the slow run has it, the bounded run fuzzes only.
    loaded.config.phases.coverage.enabled = coverage
    return loaded


schema = _schema(coverage=False)
full_schema = _schema(coverage=True)


@pytest.fixture(scope="module", autouse=True)
def _fresh_database_removed() -> Iterator[None]:
    yield
    _APP.state.engine.dispose()
    shutil.rmtree(_TMP, ignore_errors=True)


def _check(case: Case[Any], token: str) -> None:
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, excluded_checks=_NOT_CHECKED)
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith(PROBLEM), (response.status_code, response.text)
        body = response.json()
        assert {"type", "title", "status", "detail"} <= set(body)
        assert body["status"] == response.status_code


def _with_real_ids(case: Case[Any], ids: dict[str, Any]) -> bool:
    """Replace the case's path parameters with existing ids; False if it has none to replace."""
    params = case.path_parameters or {}
    known = {name: ids[name] for name in params if name in ids}
    if not known:
        return False
    case.path_parameters = {**params, **known}
    return True


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_gets_a_5xx_and_every_4xx_is_a_problem(case: Case[Any]) -> None:
    _check(case, _TOKEN)
    if _with_real_ids(case, _IDS):
        _check(case, _TOKEN)


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("PUMP_SCHEMATHESIS_FULL") != "1", reason="the full schemathesis run: set PUMP_SCHEMATHESIS_FULL=1"
)
@full_schema.parametrize()
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_the_full_run_with_every_boundary_value(case: Case[Any]) -> None:
    _check(case, _TOKEN)
    if _with_real_ids(case, _IDS):
        _check(case, _TOKEN)
