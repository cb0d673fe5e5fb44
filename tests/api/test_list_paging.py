"""Lists page in SQL: a page of 50 reads the same statements and at most 51 pumps whatever the fleet size."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.persistence.db import transaction
from pump_service.persistence.models import Patient, Pump, PumpState
from pump_service.services.pumps.due_list import list_due
from pump_service.settings import Settings
from schemas.pump import PumpFamily
from tests.auth_support import login_client
from tests.support import T0, FixedClock


def _stamps() -> dict[str, Any]:
    return {
        "created_at": T0,
        "created_by": "test-setup",
        "station_id": "test-station",
        "updated_at": T0,
        "updated_by": "test-setup",
    }


def _add_fleet(engine: Engine, count: int, *, first: int = 0) -> list[Pump]:
    """``count`` more HAI pumps with patients, due over the next ten days (ties broken by serial)."""
    with transaction(engine) as session:
        patients = [Patient(patient_ref=f"P-{first + i:05d}", **_stamps()) for i in range(count)]
        session.add_all(patients)
        session.flush()
        pumps = [
            Pump(
                serial=f"HAI-{first + (i * 7919) % count:05d}",  # serial order is not insertion order
                model_id="hai-30",
                family=PumpFamily.CONSTANT_FLOW,
                route="intra_arterial",
                patient_id=p.id,
                next_due_at=T0 + timedelta(hours=(i * 37) % 240),
                next_due_reason="reservoir",
                **_stamps(),
            )
            for i, p in enumerate(patients)
        ]
        session.add_all(pumps)
    return pumps


def _replace(engine: Engine, old: Pump, new: Pump) -> None:
    with transaction(engine) as session:
        explanted, successor = session.merge(old), session.merge(new)
        explanted.state, explanted.replaced_by_id, successor.replaces_id = PumpState.EXPLANTED, new.id, old.id


@dataclass
class _Reads:
    statements: int = 0
    pumps: int = 0


@contextmanager
def _counting(engine: Engine) -> Iterator[_Reads]:
    """Count the SQL statements sent and the pump rows loaded into ORM objects inside the block."""
    reads = _Reads()

    def on_statement(*_args: Any) -> None:
        reads.statements += 1

    def on_loaded(_session: Session, instance: object) -> None:
        if isinstance(instance, Pump):
            reads.pumps += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(Session, "loaded_as_persistent", on_loaded)
    try:
        yield reads
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(Session, "loaded_as_persistent", on_loaded)


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with login_client(create_app(settings, clock=clock, engine=engine), Role.NURSE) as client:
        yield client


@pytest.mark.parametrize("path", ["/pumps", "/due?within_days=30"])
def test_a_page_reads_the_same_rows_with_200_and_2000_pumps(client: TestClient, engine: Engine, path: str) -> None:
    counted: list[_Reads] = []
    for fleet in (200, 1800):  # 200 pumps, then 2,000
        _add_fleet(engine, fleet, first=len(counted) * 200)
        client.get(path, params={"limit": 50})  # warm: the token's first use writes its last-seen time
        with _counting(engine) as reads:
            response = client.get(path, params={"limit": 50})
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == 50
        assert response.json()["next_cursor"] is not None
        assert reads.pumps <= 51
        counted.append(reads)
    assert counted[0] == counted[1]


def _walk(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get(path, params={**params, "limit": 37, **({"cursor": cursor} if cursor else {})}).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_paging_through_the_pumps_shows_each_once_in_serial_order_with_its_links(
    client: TestClient, engine: Engine
) -> None:
    fleet = _add_fleet(engine, 200)
    _replace(engine, fleet[0], fleet[-1])
    pumps = _walk(client, "/pumps")
    serials = [p["serial"] for p in pumps]
    assert serials == sorted(serials)
    assert len(set(serials)) == 200
    explanted = next(p for p in pumps if p["state"] == PumpState.EXPLANTED)
    successor = next(p for p in pumps if p["serial"] == explanted["replaced_by_serial"])
    assert successor["replaces_serial"] == explanted["serial"]
    assert all(p["patient_ref"] is not None for p in pumps)


def test_paging_through_the_due_list_gives_the_whole_list_in_due_order(
    client: TestClient, engine: Engine, clock: FixedClock
) -> None:
    fleet = _add_fleet(engine, 200)
    _replace(engine, fleet[0], fleet[-1])
    paged = _walk(client, "/due", within_days=5)
    with transaction(engine) as session:
        whole = list_due(session, now=clock.now(), within_days=5)
    expected = sorted(whole, key=lambda d: (d.next_due_at, d.serial))
    assert [d["serial"] for d in paged] == [d.serial for d in expected]
    assert 0 < len(paged) < 199  # the window cuts the list; the explanted pump is never due
