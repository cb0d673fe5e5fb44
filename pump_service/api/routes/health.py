"""Liveness and readiness: the database answers and its schema is at the code's revision."""

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from pump_service import __version__
from pump_service.api.deps import ClockDep, SessionDep, SettingsDep
from pump_service.persistence.migrate import head_revision
from schemas.clock import UtcDatetime

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    station_id: str
    schema_revision: str | None
    expected_revision: str | None
    time: UtcDatetime


@router.get("/health")
def read_health(session: SessionDep, settings: SettingsDep, clock: ClockDep) -> Health:
    revision = session.exec(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()  # type: ignore[call-overload]
    expected = head_revision()
    return Health(
        status="ok" if revision == expected else "schema_outdated",
        version=__version__,
        station_id=settings.station_id,
        schema_revision=revision,
        expected_revision=expected,
        time=clock.now(),
    )
