"""Pump-log ingest on SQLite: one bulk insert per page, duplicates skipped by the database, audited once."""

from sqlalchemy import Engine

from pump_service.services.actor import Actor
from tests.ingest_support import check_overlapping_pages, log_page, registered_pump, statements_on, store_page


def test_a_page_is_one_insert_and_overlaps_are_skipped_by_the_database(engine: Engine, actor: Actor) -> None:
    check_overlapping_pages(engine, actor)


def test_an_ingest_reads_nothing_to_find_what_is_new(engine: Engine, actor: Actor) -> None:
    pump_id = registered_pump(engine, actor)
    store_page(engine, pump_id, log_page(0, 20), actor)
    with statements_on(engine) as seen:
        store_page(engine, pump_id, log_page(10, 20), actor)
    assert not [s for s in seen if "FROM device_log" in s]  # the unique constraint decides, not a prior SELECT
