"""``pump-service info``: which database, data directory and device this station would use.

It only reports: a SQLite database that does not exist is said to be missing, never created,
and one that exists is read (its schema revision), never migrated.
"""

from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

import pump_service
from pump_service.locations import masked_url, sqlite_file
from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import current_revision, head_revision
from pump_service.settings import DatabaseOrigin, Settings

__all__ = ["SchemaState", "StationInfo", "gather_info", "render_info"]


class SchemaState(StrEnum):
    """How the database's schema stands against the code's migrations."""

    AT_HEAD = "at_head"
    NOT_AT_HEAD = "not_at_head"  # behind (migrate upgrades it) or from another version of the code
    NOT_MIGRATED = "not_migrated"  # the file exists but holds no schema yet
    NO_DATABASE = "no_database"
    UNREACHABLE = "unreachable"  # a server database that could not be opened


_ORIGIN_TEXT = {
    DatabaseOrigin.DATA_DIR: "default, in the data directory",
    DatabaseOrigin.GIVEN: "PUMP_DATABASE_URL / --database-url",
    DatabaseOrigin.RESOLVED: "relative SQLite path, resolved against the working directory at start (~ expanded)",
}


class StationInfo(BaseModel):
    """What ``info`` prints; ``--json`` prints exactly these fields."""

    version: str
    data_dir: str
    env_file: str | None
    database_url: str
    database_origin: DatabaseOrigin
    database_file: str | None
    database_exists: bool | None
    schema_state: SchemaState
    schema_revision: str | None
    schema_head: str | None
    database_error: str | None = None
    device_url: str
    station_id: str
    clinic_tz: str


def _schema(settings: Settings) -> tuple[bool | None, SchemaState, str | None, str | None]:
    """Exists, state, current revision, error; opens the database only if it is already there."""
    path = sqlite_file(settings.database_url)
    if path is not None and not path.is_file():
        return False, SchemaState.NO_DATABASE, None, None
    engine = make_engine(settings.database_url)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        return None, SchemaState.UNREACHABLE, None, str(exc).splitlines()[0]
    finally:
        engine.dispose()
    if revision is None:
        return True, SchemaState.NOT_MIGRATED, None, None
    state = SchemaState.AT_HEAD if revision == head_revision() else SchemaState.NOT_AT_HEAD
    return True, state, revision, None


def gather_info(settings: Settings) -> StationInfo:
    exists, state, revision, error = _schema(settings)
    path = sqlite_file(settings.database_url)
    return StationInfo(
        version=pump_service.__version__,
        data_dir=str(settings.home),
        env_file=str(settings.env_file) if settings.env_file.is_file() else None,
        database_url=masked_url(settings.database_url),
        database_origin=settings.database_origin,
        database_file=None if path is None else str(path),
        database_exists=exists,
        schema_state=state,
        schema_revision=revision,
        schema_head=head_revision(),
        database_error=error,
        device_url=settings.device_url,
        station_id=settings.station_id,
        clinic_tz=settings.clinic_tz,
    )


def _exists_text(info: StationInfo) -> str:
    if info.database_exists is None:
        return f"unknown ({info.database_error})"
    if info.database_exists:
        return "yes"
    return "no: create it with `pump-service migrate` (or `pump-service serve`)"


def _schema_text(info: StationInfo) -> str:
    head = info.schema_head or "-"
    return {
        SchemaState.AT_HEAD: f"{info.schema_revision} (at head)",
        SchemaState.NOT_AT_HEAD: f"{info.schema_revision} (head is {head}: run `pump-service migrate`)",
        SchemaState.NOT_MIGRATED: f"none (head is {head}: run `pump-service migrate`)",
        SchemaState.NO_DATABASE: f"- (head is {head})",
        SchemaState.UNREACHABLE: f"unknown (head is {head})",
    }[info.schema_state]


def render_info(info: StationInfo) -> str:
    rows = [
        ("version", info.version),
        ("data directory", info.data_dir),
        ("settings file", info.env_file or f"none ({info.data_dir}/.env is read if present)"),
        ("database", f"{info.database_url}  [{_ORIGIN_TEXT[info.database_origin]}]"),
        ("database exists", _exists_text(info)),
        ("schema revision", _schema_text(info)),
        ("device", info.device_url),
        ("station", info.station_id),
        ("clinic time zone", info.clinic_tz),
    ]
    return "\n".join(f"{label:<17}{value}" for label, value in rows)
