"""Revision clinics_0006 upgrades a database holding a clinic and a pump, and downgrades it again (both backends)."""

from sqlalchemy import Engine, inspect, text

from pump_service.persistence.migrate import current_revision, downgrade, head_revision, upgrade

_CLINIC = (
    "INSERT INTO clinic (id, clinic_id, name, timezone, working_days, opens_at, closes_at, slot_minutes,"
    " capacity_per_day, reminder_days, created_at, created_by, station_id, updated_at, updated_by)"
    " VALUES (1, 'main', 'Main', 'UTC', '[0,1,2,3,4]', '08:00', '16:00', 30, 16, '[7,1]',"
    " '2026-11-02 09:00:00', 'n', 's', '2026-11-02 09:00:00', 'n')"
)
_PUMP = (
    "INSERT INTO pump (id, serial, model_id, family, route, alarms, version, clinic_id, created_at, created_by,"
    " station_id, updated_at, updated_by) VALUES (1, 'HAI-1', 'hai-30', 'constant_flow', 'intra_arterial', '[]', 1,"
    " 1, '2026-11-02 09:00:00', 'n', 's', '2026-11-02 09:00:00', 'n')"
)


def test_clinics_0006_upgrades_keeping_clinics_and_pumps_and_downgrades(empty_engine: Engine) -> None:
    engine = empty_engine
    upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(text(_CLINIC))
        connection.execute(text(_PUMP))
    upgrade(engine, "clinics_0006")
    with engine.begin() as connection:
        assert connection.execute(text("SELECT jurisdiction FROM clinic")).scalar() is None
        assert connection.execute(text("SELECT clinic_id FROM pump")).scalar() == 1
        connection.execute(
            text(
                "INSERT INTO clinic_change (clinic_id, kind, before, after, changed_at, changed_by, station_id)"
                " VALUES (1, 'changed', '{}', '{}', '2026-11-02 09:00:00', 'n', 's')"
            )
        )
    downgrade(engine, "0005")
    assert current_revision(engine) == "0005"
    columns = {column["name"] for column in inspect(engine).get_columns("clinic")}
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM pump WHERE clinic_id = 1")).scalar() == 1
    assert "jurisdiction" not in columns
    assert "clinic_change" not in tables
    upgrade(engine)
    assert current_revision(engine) == head_revision()
