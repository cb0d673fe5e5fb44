"""Migration billing_0006 on a database with charges: links, profiles backfilled; and back down (both backends)."""

import json

from sqlalchemy import Engine, inspect, text

from pump_service.persistence.migrate import current_revision, downgrade, head_revision, upgrade

_CHARGE = (
    "INSERT INTO charge_event (event_id, kind, original_event_id, visit_key, patient_ref, service_date, code,"
    " status, event, created_at, created_by, station_id, delivery_status, attempts)"
    " VALUES (:event_id, :kind, :original, 'v-1', 'P-1', '2026-11-02', '96522', :status, :event,"
    " '2026-11-02 09:00:00', 'n', 's', 'pending', 0)"
)


def test_existing_voids_link_their_originals_and_rows_get_their_profile(empty_engine: Engine) -> None:
    engine = empty_engine
    upgrade(engine, "0005")
    with engine.begin() as connection:
        for event_id, kind, original, status in (
            ("c-1", "charge", None, "billable"),
            ("v-1", "void", "c-1", "entered-in-error"),
            ("c-2", "charge", None, "billable"),
        ):
            event = json.dumps({"payer_profile": "medicare"})
            values = {"event_id": event_id, "kind": kind, "original": original, "status": status, "event": event}
            connection.execute(text(_CHARGE), values)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT event_id, voided_by_event_id, payer_profile FROM charge_event ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("c-1", "v-1", "medicare"),
        ("v-1", None, "medicare"),
        ("c-2", None, "medicare"),
    ]
    downgrade(engine, "0005")
    columns = {column["name"] for column in inspect(engine).get_columns("charge_event")}
    tables = set(inspect(engine).get_table_names())
    assert {"voided_by_event_id", "payer_profile", "clinic_id"}.isdisjoint(columns)
    assert "clinic_billing" not in tables
    upgrade(engine)
    assert current_revision(engine) == head_revision()
