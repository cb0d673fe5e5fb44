"""Revision 0004 (device continuity) upgrades a database with history and downgrades it again (both backends)."""

from sqlalchemy import Engine, inspect, text

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


def _columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_0004_upgrades_history_and_downgrades_keeping_only_the_current_epochs_indices(empty_engine: Engine) -> None:
    engine = empty_engine
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
    assert {"state", "log_epoch", "replaced_by_id"}.isdisjoint(_columns(engine, "pump"))
    upgrade(engine)  # and up again
    assert current_revision(engine) == head_revision()


def test_the_visit_kinds_revision_downgrades_and_upgrades_again(engine: Engine) -> None:
    downgrade(engine, "0005")
    assert {"kind", "performed_at", "result", "abandon_reason"}.isdisjoint(_columns(engine, "visit"))
    upgrade(engine)
    assert {"kind", "performed_at", "result", "abandon_reason"} <= _columns(engine, "visit")
    assert current_revision(engine) == head_revision()
