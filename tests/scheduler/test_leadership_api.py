"""What an operator sees of the scheduler: ``/health`` names the leader, ``/metrics`` counts its work."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.scheduler import RefillScheduler
from pump_service.settings import Settings
from simulators.clock import ManualClock
from tests.auth_support import login_client
from tests.scheduler.rows import BASE
from tests.support import T0, FixedClock, fudr_refill


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with login_client(create_app(settings, clock=clock, engine=engine), Role.NURSE) as client:
        yield client


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_health_without_a_scheduler_in_this_process_names_no_leader(client: TestClient) -> None:
    body = client.get("/health").json()
    assert (body["instance"], body["leader"], body["leader_instance"]) == (None, False, None)


def test_health_names_the_leader_on_the_leader_and_on_a_follower(
    settings: Settings, engine: Engine, clock: FixedClock
) -> None:
    leader = RefillScheduler(engine, settings, ManualClock(BASE), interval_s=3600, instance_id="station-a:1")
    follower = RefillScheduler(engine, settings, ManualClock(BASE), interval_s=3600, instance_id="station-b:2")
    assert leader.start()
    try:
        assert not follower.start()
        seen = {}
        for scheduler in (leader, follower):
            app = create_app(settings, clock=clock, engine=engine)
            app.state.leadership = scheduler.election
            with TestClient(app) as client:
                seen[scheduler.instance_id] = client.get("/health").json()
    finally:
        follower.shutdown()
        leader.shutdown()
    assert seen["station-a:1"]["leader"] is True
    assert seen["station-b:2"]["leader"] is False
    assert {body["leader_instance"] for body in seen.values()} == {"station-a:1"}
    assert {body["status"] for body in seen.values()} == {"ok"}  # a follower is healthy


def test_metrics_count_ticks_decisions_and_committed_refills_without_patient_data(
    client: TestClient, settings: Settings, engine: Engine, clock: FixedClock
) -> None:
    before = _samples(client)
    assert client.post("/patients", json={"patient_ref": "P-77", "body_mass_kg": "70 kg"}).status_code == 201
    pump = {"serial": "HAI-77", "model_id": "hai-30", "route": "intra_arterial", "patient_ref": "P-77"}
    assert client.post("/pumps", json=pump).status_code == 201
    refill = fudr_refill(T0)
    assert client.post("/pumps/HAI-77/refills", json=refill).status_code == 201
    assert client.post("/pumps/HAI-77/refills", json=refill).status_code == 200  # a replay stores nothing
    day_before = ManualClock(T0 + timedelta(days=13, hours=12))  # the next visit is in 14 days
    assert RefillScheduler(engine, settings, day_before).tick().total == 2  # its 7-day and 1-day reminders
    response = client.get("/metrics")
    after = _samples(client)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("pump_scheduler_tick_duration_seconds_count") == 1
    assert grew("pump_scheduler_due_decided_total", kind="reminder") == 2
    assert grew("pump_refills_recorded_total") == 1
    assert ("pump_scheduler_leader", ()) in after
    assert grew("pump_http_problems_total", status="404", kind="not-found") == 0
    assert "P-77" not in response.text
    assert "HAI-77" not in response.text
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_metrics_count_problem_responses_by_status_and_kind(client: TestClient) -> None:
    before = _samples(client)
    assert client.get("/pumps/NO-SUCH-PUMP").status_code == 404
    assert client.post("/patients", json={"patient_ref": "P-78", "body_mass_kg": "70 lb/s"}).status_code == 422
    assert client.post("/patients", json={"patient_ref": "P-79", "body_mass_kg": "70 kg"}).status_code == 201
    after = _samples(client)

    def grew(status: str, kind: str) -> float:
        key = ("pump_http_problems_total", (("kind", kind), ("status", status)))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("404", "not-found") == 1
    assert sum(grew("422", kind) for kind in ("validation", "rule-violation")) == 1
    assert not any(name == "pump_http_problems_total" and ("status", "201") in labels for name, labels in after)
