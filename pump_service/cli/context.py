"""What every CLI command needs: settings, a migrated engine, the clock and the acting user.

Errors end the command with one line on stderr: exit code 2 for anything the user can fix
(bad input, unknown pump, a conflict, a database that does not exist), 1 for anything else.

Only ``migrate`` and ``serve`` may create the database. Every other command refuses a SQLite
file that is not there, rather than starting an empty database wherever it happens to point.
"""

import getpass
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from pump_service.domain.findings import HardStopError
from pump_service.errors import ConflictError, NotFoundError, RuleViolationError, ServiceError
from pump_service.locations import masked_url, sqlite_file
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.actor import Actor, acting_as
from pump_service.services.audit import audit_clock
from pump_service.settings import DatabaseOrigin, Settings, load_settings
from schemas.clock import Clock, SystemClock
from schemas.units import UnitError

__all__ = ["CliContext", "fail", "handle_errors"]

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)


def missing_database_message(settings: Settings) -> str:
    """Why a command refused to run, with the absolute path and the ways out."""
    path = sqlite_file(settings.database_url)
    where = (
        f"the data directory {settings.home}"
        if settings.database_origin is DatabaseOrigin.DATA_DIR
        else "PUMP_DATABASE_URL / --database-url"
    )
    return (
        f"no database at {path} (from {where}). Create it with `pump-service migrate`, "
        "or set PUMP_HOME (the data directory) or PUMP_DATABASE_URL to use an existing one; "
        "`pump-service info` shows what is configured"
    )


# The context managers a running command entered (its actor, its audit clock), left when it ends.
_command_resources: ContextVar[ExitStack | None] = ContextVar("pump_service_cli_resources", default=None)


def _for_this_command(manager: "AbstractContextManager[object]") -> None:
    """Enter ``manager`` until the running command ends (``handle_errors`` gives each command its scope)."""
    stack = _command_resources.get()
    if stack is not None:
        stack.enter_context(manager)


@dataclass
class CliContext:
    """Settings, clock and acting user of one command.

    The audit trail stamps the command's changes with its clock, and attributes them to its actor
    from the moment the command asks who acts (:attr:`actor`): commands that only read never do,
    and ``serve`` must not, since requests bring their own.
    """

    settings: Settings
    clock: Clock
    actor_user: str | None
    _acting: Actor | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_options(cls, database_url: str | None, actor: str | None) -> "CliContext":
        ctx = cls(settings=load_settings(database_url=database_url), clock=SystemClock(), actor_user=actor)
        _for_this_command(audit_clock(ctx.clock))
        return ctx

    def engine(self, *, create: bool = False) -> Engine:
        """An engine on the database, migrated to head.

        Without ``create`` a SQLite file that does not exist ends the command (exit code 2)
        before anything is written; only ``migrate`` and ``serve`` pass ``create=True``.
        """
        url = self.settings.database_url
        path = sqlite_file(url)
        if path is not None and not create and not path.is_file():
            fail(missing_database_message(self.settings))
        log.info("database %s (%s)", masked_url(url), self.settings.database_origin)
        engine = make_engine(url)
        upgrade(engine)
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        engine = self.engine()
        try:
            with transaction(engine) as session:
                yield session
        finally:
            engine.dispose()

    @property
    def actor(self) -> Actor:
        """Who runs this command (``--actor``, ``$PUMP_ACTOR`` or the login name), at this station."""
        if self._acting is None:
            user = self.actor_user or os.environ.get("PUMP_ACTOR") or getpass.getuser()
            self._acting = Actor(user=user, station_id=self.settings.station_id)
            _for_this_command(acting_as(self._acting))
        return self._acting


# Exit codes: 1 a failure (device, storage), 2 bad input, 3 a hard stop that needs an override.
HARD_STOP_EXIT = 3


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _validation_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the service's exceptions into one line on stderr and an exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with ExitStack() as resources:
            token = _command_resources.set(resources)
            try:
                return _reported(func, *args, **kwargs)
            finally:
                _command_resources.reset(token)

    return wrapper


def _reported(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a command, ending it with one line on stderr and an exit code if the service refuses."""
    try:
        return func(*args, **kwargs)
    except ValidationError as exc:
        fail(_validation_line(exc))
    except RuleViolationError as exc:
        fail(f"{exc.field}: {exc}" if exc.field else str(exc))
    except HardStopError as exc:
        for finding in exc.findings:
            print(f"{finding.tier.value:<9} {finding.code.value}: {finding.message}", file=sys.stderr)
        fail(str(exc), code=HARD_STOP_EXIT)
    except (UnitError, NotFoundError, ConflictError, ValueError) as exc:
        fail(str(exc))
    except ServiceError as exc:
        fail(str(exc), code=1)
