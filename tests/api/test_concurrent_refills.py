"""Twenty clients recording refills at once on one SQLite file: every one stored once, none refused.

SQLite's busy handler used to decide who wrote next (HTTP 500 "database is locked" after 5 s);
the writers of one file now queue in the process, and readers never wait for them.
"""

import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, text
from sqlmodel import col, select

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.models import Refill
from pump_service.settings import Settings
from tests.auth_support import login_client
from tests.support import T0, FixedClock, fudr_refill

CLIENTS = 20
PUMPS_PER_CLIENT = 2


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    with login_client(create_app(settings, clock=clock, engine=engine), Role.NURSE) as client:
        yield client


def _register(client: TestClient, serial: str) -> None:
    patient = f"P-{serial}"
    assert client.post("/patients", json={"patient_ref": patient, "body_mass_kg": "70 kg"}).status_code == 201
    body = {"serial": serial, "model_id": "hai-30", "route": "intra_arterial", "patient_ref": patient}
    assert client.post("/pumps", json=body).status_code == 201


def test_twenty_concurrent_clients_record_every_refill_once_without_errors(client: TestClient, engine: Engine) -> None:
    serials = [[f"HAI-{c:02d}-{p}" for p in range(PUMPS_PER_CLIENT)] for c in range(CLIENTS)]
    for own in serials:
        for serial in own:
            _register(client, serial)
    statuses: list[int] = []
    reads: list[int] = []
    start = threading.Barrier(CLIENTS + 1)

    def record(own: list[str], key_prefix: str) -> None:
        mine = TestClient(client.app, headers=dict(client.headers))
        start.wait()
        for serial in own:
            body = fudr_refill(T0, idempotency_key=f"{key_prefix}-{serial}")
            statuses.append(mine.post(f"/pumps/{serial}/refills", json=body).status_code)

    def read() -> None:
        mine = TestClient(client.app, headers=dict(client.headers))
        start.wait()
        for _ in range(CLIENTS):
            reads.append(mine.get("/pumps", params={"limit": 10}).status_code)

    threads = [threading.Thread(target=record, args=(own, f"visit-{n:02d}")) for n, own in enumerate(serials)]
    threads.append(threading.Thread(target=read))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * (CLIENTS * PUMPS_PER_CLIENT)
    assert reads == [200] * CLIENTS
    with transaction(engine) as session:
        per_pump = session.exec(select(col(Refill.pump_id), func.count()).group_by(col(Refill.pump_id))).all()
    assert len(per_pump) == CLIENTS * PUMPS_PER_CLIENT
    assert {count for _pump, count in per_pump} == {1}


def test_reads_go_on_while_a_writer_holds_the_database(settings: Settings, engine: Engine, clock: FixedClock) -> None:
    impatient = make_engine(settings.database_url, writer_queue_timeout_s=1.0)  # a queued read would fail fast
    with login_client(create_app(settings, clock=clock, engine=impatient), Role.NURSE) as reader:
        _register(reader, "HAI-R")
        with transaction(engine) as writer:
            writer.execute(text("UPDATE pump SET version = version + 1"))  # BEGIN IMMEDIATE: the write lock
            assert reader.get("/pumps").status_code == 200
            assert reader.get("/due", params={"within_days": 30}).status_code == 200
            assert reader.get("/pumps/HAI-R").status_code == 200
            assert reader.get("/pumps/HAI-R/refills").status_code == 200
    impatient.dispose()
