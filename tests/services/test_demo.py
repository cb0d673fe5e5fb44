from sqlalchemy import Engine
from sqlmodel import select

from pump_service.persistence.charge_models import ChargeEventRow
from pump_service.persistence.db import transaction
from pump_service.persistence.schedule_models import Appointment
from pump_service.services.demo import seed_demo
from pump_service.services.pumps.registry import list_pump_views
from pump_service.settings import Settings
from tests.support import T0


def test_the_demo_seeds_pumps_with_history_bookings_and_charges_once(engine: Engine, settings: Settings) -> None:
    with transaction(engine) as session:
        assert seed_demo(session, settings=settings, now=T0)
    with transaction(engine) as session:
        assert not seed_demo(session, settings=settings, now=T0)  # a second start changes nothing
        views = list_pump_views(session, now=T0)
        booked = session.exec(select(Appointment).where(Appointment.status == "booked")).all()
        codes = {row.code for row in session.exec(select(ChargeEventRow)).all()}
    assert [v.serial for v in views] == ["CF50-0002", "HAI-0001", "SM20-0003", "SM40-0004"]
    assert [v.next_due_at is not None for v in views] == [True, True, True, False]  # SM40 was never filled
    assert len(booked) == 3
    assert {"96522", "J9200", "95990", "J0475", "A4220"} <= codes
    hai = next(v for v in views if v.serial == "HAI-0001")
    assert hai.measured_rate_ml_per_day is not None  # the second HAI refill came back slow: flagged
