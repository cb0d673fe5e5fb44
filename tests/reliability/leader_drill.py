"""What the leader drills share: real ``pump-service serve`` processes, due items, a webhook receiver.

The servers run in real time (their clock is the system's), so the due items are due at the real
now: appointments 12 hours ahead in a clinic whose only reminder is 1 day before, one reminder
each. The webhook receiver answers every POST after a short pause, so that sending a tick's
batch takes long enough for a kill to land in the middle of it.
"""

import http.server
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, func
from sqlalchemy.engine import make_url
from sqlmodel import col, select

import pump_service.services.scheduling.notifications  # noqa: F401  (installs the due-moment hook)
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.persistence.models import Patient, Pump
from pump_service.persistence.notification_models import NotificationDelivery, NotificationDeliveryState
from pump_service.persistence.schedule_models import Appointment, AppointmentStatus, Clinic, Notification
from schemas.clock import SystemClock
from schemas.pump import PumpFamily
from tests.reliability.server_support import Server

REPO = Path(__file__).resolve().parents[2]
CLOCK = SystemClock()
START_TIMEOUT_S = 60.0
RETRY_S = 0.5  # the servers' follower retry interval
CHECK_S = 0.5  # the leader's lock check interval
TICK_S = 0.5
TAKEOVER_TIMEOUT_S = 30.0  # generous on a loaded machine; the drills log the measured figure


def admin_dsn(server: str) -> str:
    """The DSN of the maintenance database ``postgres`` on the server of ``server`` (a base or database URL)."""
    return make_url(server).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


@contextmanager
def fresh_database(server: str) -> Iterator[tuple[str, Engine]]:
    """A new, migrated database on the PostgreSQL ``server``: its URL and an engine; dropped afterwards."""
    name = f"drill_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn(server), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = f"{server}/{name}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield url, engine
    finally:
        engine.dispose()
        with psycopg.connect(admin_dsn(server), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def terminate_sessions(database_url: str, application_name: str) -> int:
    """``pg_terminate_backend`` on the sessions of ``database_url`` with that name; how many there were."""
    url = make_url(database_url)
    with psycopg.connect(admin_dsn(database_url), autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s AND datname = %s",
            (application_name, url.database),
        ).fetchall()
    return len(rows)


def wait_for(condition: Callable[[], bool], *, timeout_s: float, what: str) -> float:
    """Poll ``condition`` until true; returns the seconds it took. Raises AssertionError with ``what``."""
    started = CLOCK.monotonic()
    while not condition():
        if CLOCK.monotonic() - started > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        CLOCK.sleep(0.05)
    return CLOCK.monotonic() - started


@contextmanager
def servers(database_url: str, names: list[str], home: Path, env: dict[str, str]) -> Iterator[list[Server]]:
    """``serve`` processes on one database, started in order (each answers /health before the next)."""
    started: list[Server] = []
    try:
        for name in names:
            started.append(start_server(database_url, name, home, env))
        yield started
    finally:
        for server in started:
            server.stop()


def start_server(database_url: str, name: str, home: Path, env: dict[str, str]) -> Server:
    """A ``serve`` instance called ``name`` with the drills' short election intervals, once it answers /health."""
    environment = {
        "PUMP_HOME": str(home),
        "PUMP_INSTANCE_NAME": name,
        "PUMP_LEADER_RETRY_S": str(RETRY_S),
        "PUMP_LEADER_CHECK_S": str(CHECK_S),
        "PUMP_TICK_INTERVAL_S": str(TICK_S),
        **env,
    }
    server = Server(database_url, env=environment, defaults={}, cwd=REPO, name=name)
    server.wait_ready(healthy=False)
    return server


@dataclass
class Receiver:
    """A webhook endpoint: records each POST's Idempotency-Key, answers 200 after ``delay_s``."""

    delay_s: float = 0.001
    keys: list[str] = field(default_factory=list)
    mutex: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> int:
        with self.mutex:
            return len(self.keys)

    def repeats(self) -> dict[str, int]:
        with self.mutex:
            return {key: n for key, n in Counter(self.keys).items() if n > 1}


@contextmanager
def webhook_receiver(delay_s: float = 0.001) -> Iterator[tuple[str, Receiver]]:
    receiver = Receiver(delay_s=delay_s)
    pause = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            json.loads(self.rfile.read(length))
            pause.wait(receiver.delay_s)
            with receiver.mutex:
                receiver.keys.append(self.headers.get("Idempotency-Key", ""))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def add_due_items(engine: Engine, count: int, *, first: int = 0) -> None:
    """``count`` booked appointments whose 1-day reminder is due now (one decision each)."""
    now = CLOCK.now()
    created = now - timedelta(days=30)
    by = "drill"
    with transaction(engine) as session:
        clinic = session.exec(select(Clinic).where(Clinic.clinic_id == "drill")).first()
        if clinic is None:
            clinic = Clinic(
                clinic_id="drill",
                name="Drill",
                timezone="UTC",
                working_days=[0, 1, 2, 3, 4, 5, 6],
                opens_at="00:00",
                closes_at="23:59",
                slot_minutes=30,
                capacity_per_day=10_000,
                reminder_days=[1],
                created_at=created,
                created_by=by,
                station_id=by,
                updated_at=created,
                updated_by=by,
            )
            session.add(clinic)
            session.flush()
        patients = [
            Patient(patient_ref=f"D-{first + i}", created_at=created, created_by=by, station_id=by)
            for i in range(count)
        ]
        session.add_all(patients)
        session.flush()
        pumps = [
            Pump(
                serial=f"DRILL-{first + i}",
                model_id="hai-30",
                family=PumpFamily.CONSTANT_FLOW,
                route="intra_arterial",
                patient_id=patient.id,
                clinic_id=clinic.id,
                created_at=created,
                created_by=by,
                station_id=by,
                updated_at=created,
                updated_by=by,
            )
            for i, patient in enumerate(patients)
        ]
        session.add_all(pumps)
        session.flush()
        starts = now + timedelta(hours=12)
        session.add_all(
            Appointment(
                pump_id=pump.id or 0,
                clinic_id=clinic.id or 0,
                local_day=starts.date(),
                slot_index=i,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
                target_at=starts,
                due_reason="volume",
                on_time=True,
                status=AppointmentStatus.BOOKED,
                created_at=created,
                created_by=by,
                station_id=by,
                updated_at=created,
                updated_by=by,
            )
            for i, pump in enumerate(pumps)
        )


@dataclass(frozen=True)
class Tally:
    """What the database holds of the drill's side effects."""

    notifications: int
    distinct_keys: int
    deliveries: int
    deliveries_per_notification: int
    delivered: int
    pending: int
    claimed: int  # pending rows reserved by a dispatcher's claim (a dead one's stay so until it runs out)
    claim_ends: tuple[datetime, ...]  # when each of those claims runs out
    delivered_keys: frozenset[str]


def tally(engine: Engine) -> Tally:
    with transaction(engine) as session:
        notifications = session.exec(select(func.count()).select_from(Notification)).one()
        distinct = session.exec(select(func.count(func.distinct(Notification.key)))).one()
        rows = session.exec(select(NotificationDelivery)).all()
        most = session.exec(
            select(func.count()).select_from(NotificationDelivery).group_by(col(NotificationDelivery.notification_id))
        ).all()
    delivered = {r.key for r in rows if r.state is NotificationDeliveryState.DELIVERED}
    pending = [r for r in rows if r.state is NotificationDeliveryState.PENDING]
    claim_seen_after = CLOCK.now() + timedelta(minutes=5)  # claims run 15 minutes; retries start at 1
    claim_ends = tuple(
        r.next_attempt_at for r in pending if r.next_attempt_at is not None and r.next_attempt_at > claim_seen_after
    )
    return Tally(
        notifications=notifications,
        distinct_keys=distinct,
        deliveries=len(rows),
        deliveries_per_notification=max(most, default=0),
        delivered=len(delivered),
        pending=len(pending),
        claimed=len(claim_ends),
        claim_ends=claim_ends,
        delivered_keys=frozenset(delivered),
    )
