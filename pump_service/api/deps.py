"""Request-scoped dependencies: settings, clock, a transaction per request, the acting user and station."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from pump_service.api.auth import CurrentPrincipal, Principal
from pump_service.persistence.db import read_transaction, transaction
from pump_service.services.accounts import StationRecord, usable_station
from pump_service.services.actor import Actor, acting_as, current_actor
from pump_service.settings import Settings
from schemas.clock import Clock

__all__ = ["ActorDep", "ClockDep", "EngineDep", "ReadSessionDep", "SessionDep", "SettingsDep", "StationDep"]


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


def _read_session(request: Request) -> Iterator[Session]:
    engine: Engine = request.app.state.engine
    with read_transaction(engine) as session:
        yield session


def _flush_as_principal(request: Request, session: Session) -> None:
    """Flush the request's last changes as its principal before the commit.

    This dependency may be unwound after the principal's (``acting_as`` already left): the
    changes still unflushed would otherwise reach the audit trail attributed to the system.
    """
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal) and current_actor() is None:
        with acting_as(principal.actor()):
            session.flush()


def _actor(principal: CurrentPrincipal) -> Actor:
    """Whoever is signed in, in their role, at the station their session or token is bound to."""
    return principal.actor()


def _station(principal: CurrentPrincipal, engine: Annotated[Engine, Depends(_engine)]) -> StationRecord:
    """The principal's registered station: the only programmer port a request may use.

    A short read of its own: device use cases must not hold a transaction across a programmer link,
    and a lookup need not wait for a writer's turn.
    """
    with read_transaction(engine) as session:
        return usable_station(session, principal.station_id)


SettingsDep = Annotated[Settings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]
# Use cases that talk to a device manage their own transactions (never one held across telemetry).
EngineDep = Annotated[Engine, Depends(_engine)]
# scope="function": the transaction commits (or fails) before the response is sent, so a client is
# never told "created" for a write that did not land.
SessionDep = Annotated[Session, Depends(_session, scope="function")]
# Routes that only read: one snapshot that never takes SQLite's write lock nor waits for a writer's turn.
ReadSessionDep = Annotated[Session, Depends(_read_session, scope="function")]
# The signed-in principal's actor (no header names a user: issue 11).
ActorDep = Annotated[Actor, Depends(_actor)]
# The principal's station: device routes open its programmer_url and nothing else.
StationDep = Annotated[StationRecord, Depends(_station)]
