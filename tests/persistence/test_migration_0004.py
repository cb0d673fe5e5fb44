"""Revision 0004 (device continuity) upgrades a database with history and downgrades it again."""

from pathlib import Path

from sqlalchemy import Engine, text

from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import current_revision, downgrade, head_revision, upgrade

_PUMP = (
    "INSERT INTO pump (id, serial, model_id, family, route, alarms, version, created_at, created_by, station_id,"
    " updated_at, updated_by) VALUES (1, 'SM-1', 'programmable-20', 'programmable', 'intrathecal', '[]', 1,"
    " '2026-11-02 09:00:00', 'n', 's', '2026-11-02 09:00:00', 'n')"
)


_LOG = (
    "INSERT INTO device_log (pump_id, source, log_index, entry_type, recorded_at, data, actor, station_id)"
    " VALUES (1, 'pump', :index, 'REFILLED', '2026-11-02 09:00:00', '{}', 'n', 's')"
)
_EPOCH_LOG = (
    "INSERT INTO device_log (pump_id, source, log_epoch, log_index, entry_type, recorded_at, data, actor, station_id)"
    " VALUES (1, 'pump', :epoch, :index, 'REFILLED', '2026-11-02 09:00:00', '{}', 'n', 's')"
)


def _scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


def test_0004_upgrades_history_and_downgrades_keeping_only_the_current_epochs_indices(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    try:
        upgrade(engine, "0003")
        with engine.begin() as connection:
            connection.execute(text(_PUMP))
            connection.execute(text(_LOG), {"index": 0})
            connection.execute(text(_LOG), {"index": 1})
        upgrade(engine)
        assert current_revision(engine) == head_revision()  # never a number: heads are re-chained at merges
        assert _scalar(engine, "SELECT state FROM pump") == "active"
        assert _scalar(engine, "SELECT count(*) FROM device_log WHERE log_epoch = 0") == 2
        with engine.begin() as connection:  # a restarted pump: index 0 again, in epoch 1
            connection.execute(text("UPDATE pump SET log_epoch = 1"))
            connection.execute(text(_EPOCH_LOG), {"epoch": 1, "index": 0})

        downgrade(engine, "0003")

        assert current_revision(engine) == "0003"
        assert _scalar(engine, "SELECT count(*) FROM device_log") == 3  # no history lost
        assert _scalar(engine, "SELECT count(*) FROM device_log WHERE log_index IS NOT NULL") == 1
        with engine.connect() as connection:
            columns = {row[1] for row in connection.execute(text("PRAGMA table_info(pump)"))}
        assert {"state", "log_epoch", "replaced_by_id"}.isdisjoint(columns)
        upgrade(engine)  # and up again
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_the_visit_kinds_revision_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/kinds.db")
    try:
        upgrade(engine)
        downgrade(engine, "0005")
        with engine.connect() as connection:
            columns = {row[1] for row in connection.execute(text("PRAGMA table_info(visit)"))}
        assert {"kind", "performed_at", "result", "abandon_reason"}.isdisjoint(columns)
        upgrade(engine)
        with engine.connect() as connection:
            columns = {row[1] for row in connection.execute(text("PRAGMA table_info(visit)"))}
        assert {"kind", "performed_at", "result", "abandon_reason"} <= columns
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
