"""Stored rows as the services need them: the id of a flushed row, a row a foreign key names.

A row's ``id`` is None until the session flushes it; these helpers turn "not stored" into the
service's :class:`~pump_service.errors.NotFoundError` instead of an ``assert`` that ``python -O``
would drop.
"""

from typing import Protocol, TypeVar

from sqlmodel import Session, SQLModel

from pump_service.errors import NotFoundError
from pump_service.persistence.models import Pump
from pump_service.persistence.schedule_models import Clinic

__all__ = ["clinic_id_of", "get_stored", "pump_id_of", "stored_id"]

M = TypeVar("M", bound=SQLModel)


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def stored_id(row: _Row, what: str) -> int:
    """The id of ``row`` (``what`` names it in the message).

    Raises:
        NotFoundError: the row was never stored (not flushed yet).
    """
    if row.id is None:
        raise NotFoundError(f"{what} is not stored")
    return row.id


def pump_id_of(pump: Pump) -> int:
    """Raises: NotFoundError: the pump row was never stored."""
    return stored_id(pump, f"pump {pump.serial}")


def clinic_id_of(clinic: Clinic) -> int:
    """Raises: NotFoundError: the clinic row was never stored."""
    return stored_id(clinic, f"clinic {clinic.clinic_id}")


def get_stored(session: Session, model: type[M], row_id: int, *, referenced_by: str) -> M:
    """The ``model`` row ``row_id`` that ``referenced_by`` points at (a foreign key).

    Raises:
        NotFoundError: no such row.
    """
    row = session.get(model, row_id)
    if row is None:
        raise NotFoundError(f"{referenced_by}: no {model.__name__.lower()} {row_id}")
    return row
