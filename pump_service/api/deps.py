"""Request-scoped dependencies: settings, clock, a transaction per request, the acting user."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy import Engine
from sqlmodel import Session

from pump_service.api.auth import Principal
from pump_service.persistence.db import transaction
from pump_service.services.actor import Actor, acting_as, current_actor
from pump_service.settings import Settings
from schemas.clock import Clock

__all__ = ["ActorDep", "ClockDep", "EngineDep", "SessionDep", "SettingsDep"]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _session(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    with transaction(engine) as session:
        yield session
        _flush_as_principal(request, session)


def _flush_as_principal(request: Request, session: Session) -> None:
    """Flush the request's last changes as its principal before the commit.

    This dependency may be unwound after the principal's (``acting_as`` already left): the
    changes still unflushed would otherwise reach the audit trail attributed to the system.
    """
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal) and current_actor() is None:
        with acting_as(principal.actor()):
            session.flush()


def _actor(
    settings: Annotated[Settings, Depends(_settings)],
    x_actor: Annotated[str, Header(description="user id of whoever makes the change (not a name)")],
    x_station: Annotated[str | None, Header(description="station id; defaults to the server's")] = None,
) -> Actor:
    return Actor(user=x_actor, station_id=x_station or settings.station_id)


SettingsDep = Annotated[Settings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]
# Use cases that talk to a device manage their own transactions (never one held across telemetry).
EngineDep = Annotated[Engine, Depends(_engine)]
# scope="function": the transaction commits (or fails) before the response is sent, so a client is
# never told "created" for a write that did not land.
SessionDep = Annotated[Session, Depends(_session, scope="function")]
ActorDep = Annotated[Actor, Depends(_actor)]
