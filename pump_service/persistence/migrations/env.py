"""Alembic environment: runs against the connection ``migrate.upgrade`` passes in, or a URL."""

from alembic import context
from sqlmodel import SQLModel

import pump_service.persistence.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from pump_service.persistence.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite has no ALTER COLUMN
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
