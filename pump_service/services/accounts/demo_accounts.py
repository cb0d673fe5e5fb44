"""Demo sign-ins for ``serve --demo`` (``make run``): one account per role and the test bench ``bench-1``.

The demo passwords are fixed and public, so they are only set while the server listens on
loopback; on any other address the demo accounts get random passwords (reset at every start)
that are never shown.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from pump_service.domain.access import Role
from pump_service.errors import NotFoundError
from pump_service.services.accounts.stations import register_station, station_of
from pump_service.services.accounts.users import add_user, find_user, set_password
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings

__all__ = ["DEMO_STATION", "DemoLogin", "seed_demo_accounts"]

DEMO_STATION = "bench-1"
_DEMO_BY = "demo"


@dataclass(frozen=True, slots=True)
class DemoLogin:
    username: str
    role: Role
    password: str | None  # None: not a loopback bind, so not shown


def _demo_password(role: Role) -> str:
    return f"demo-{role.value}-password"


def seed_demo_accounts(
    session: Session, settings: Settings, *, programmer_url: str, now: datetime, loopback: bool
) -> list[DemoLogin]:
    """The demo station and accounts (each created once); returns the logins to print."""
    clinic = default_clinic(session, settings, now=now)
    try:
        station_of(session, DEMO_STATION)
    except NotFoundError:
        register_station(
            session,
            DEMO_STATION,
            clinic_id=clinic.clinic_id,
            programmer_url=programmer_url,
            is_test_bench=True,
            label="demo test bench",
            now=now,
            created_by=_DEMO_BY,
        )
    logins = []
    for role in Role:
        username = f"demo-{role.value}"
        password = _demo_password(role) if loopback else secrets.token_urlsafe(24)
        if find_user(session, username) is None:
            add_user(
                session,
                username,
                role=role,
                password=password,
                display_name=f"Demo {role.value}",
                now=now,
                created_by=_DEMO_BY,
            )
        else:  # the known password only while nobody else can reach the server
            set_password(session, username, password)
        logins.append(DemoLogin(username=username, role=role, password=password if loopback else None))
    return logins
