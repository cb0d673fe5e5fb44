"""Every revision upgrades and downgrades, on SQLite and on PostgreSQL, from an empty database.

The per-test databases are copies of a template migrated once per session, so the migrations
themselves are proved here: up to head (matching the models), down to base (nothing left), up again;
and each revision down one step and up again, so a broken downgrade is named by its revision.
"""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

from pump_service.persistence.migrate import current_revision, downgrade, head_revision, make_config, upgrade


def _revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(make_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _model_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_an_empty_database_goes_up_to_head_down_to_base_and_up_again(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert _model_differences(empty_engine) == []
    downgrade(empty_engine, "base")
    assert current_revision(empty_engine) is None
    assert _tables(empty_engine) <= {"alembic_version"}  # every table the revisions made is gone
    upgrade(empty_engine)
    assert current_revision(empty_engine) == head_revision()
    assert _model_differences(empty_engine) == []


def test_each_revision_downgrades_one_step_and_upgrades_again(empty_engine: Engine) -> None:
    previous: str | None = None
    for revision in _revisions_oldest_first():
        upgrade(empty_engine, revision)
        tables = _tables(empty_engine)
        downgrade(empty_engine, previous or "base")
        assert current_revision(empty_engine) == previous, revision
        upgrade(empty_engine, revision)
        assert (current_revision(empty_engine), _tables(empty_engine)) == (revision, tables), revision
        previous = revision
    assert previous == head_revision()


def test_the_test_databases_are_at_head_and_match_the_models(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    assert _model_differences(engine) == []


def test_upgrading_a_database_at_head_again_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert _model_differences(engine) == []
