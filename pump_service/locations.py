"""Where the service's data lives: one absolute data directory, never the working directory.

A relative default (``sqlite:///var/pump.db``) made every command depend on the directory it was
started from: run elsewhere, it silently created a new, empty database. So the default database
is ``pump.db`` in the data directory (``PUMP_HOME``, or the platform's user data directory), and
a relative SQLite path given explicitly is made absolute once, when the settings are loaded.
"""

from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL, make_url

__all__ = [
    "APP_NAME",
    "DATABASE_FILE",
    "ENV_FILE",
    "absolute_sqlite_url",
    "default_data_dir",
    "masked_url",
    "sqlite_file",
    "sqlite_url",
]

APP_NAME = "pump-service"
DATABASE_FILE = "pump.db"
ENV_FILE = ".env"


def default_data_dir() -> Path:
    """The platform's user data directory for the service; nothing is created.

    On Linux this is ``$XDG_DATA_HOME/pump-service``, or ``~/.local/share/pump-service`` when
    ``XDG_DATA_HOME`` is unset (platformdirs, already a dependency of pint, applies the rule).
    """
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite file at ``path``."""
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def _file_database(url: str) -> str | None:
    """The database part of a SQLite URL naming a file, or None (in memory, URI filename, other backend)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def absolute_sqlite_url(url: str, base: Path) -> str:
    """``url`` with a relative SQLite path resolved against ``base``; any other URL unchanged."""
    database = _file_database(url)
    if database is None:
        return url
    path = Path(database).expanduser()
    if path.is_absolute() and str(path) == database:
        return url
    absolute = path if path.is_absolute() else (base / path).resolve()
    return make_url(url).set(database=str(absolute)).render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, or None for an in-memory or non-SQLite database."""
    database = _file_database(url)
    return None if database is None else Path(database)


def masked_url(url: str) -> str:
    """``url`` with its password shown as ``***``, for output and logs."""
    return make_url(url).render_as_string(hide_password=True)
