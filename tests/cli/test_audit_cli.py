"""``pump-service audit verify`` finds an altered, deleted, inserted or truncated entry; ``audit list``.

Each tamper is done as an attacker with database access would: straight SQL on the real file,
after dropping the append-only triggers where the change needs it.
"""

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, text
from typer.testing import CliRunner

from pump_service.cli import app
from pump_service.domain.audit_chain import AuditRecord, entry_hash
from pump_service.persistence.audit_models import AuditEntry
from pump_service.persistence.db import make_engine
from tests.audit_support import audit_rows, chain_head, drop_append_only_triggers

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def audited(empty_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A database whose trail holds the entries of a few commands run by nurse-7."""
    url = empty_database_url
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    monkeypatch.setenv("PUMP_STATION_ID", "station-4")
    assert invoke("migrate")[0] == 0
    for args in (
        ("patients", "add", "P-1", "--body-mass", "70 kg"),
        ("pumps", "add", "HAI-1", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1"),
        ("patients", "add", "P-1", "--body-mass", "72 kg"),
        ("pumps", "add", "HAI-2", "--model", "hai-30", "--route", "intra_arterial", "--patient", "P-1"),
    ):
        code, _, err = invoke(*args, "--actor", "nurse-7")
        assert code == 0, err
    engine = make_engine(url)
    yield engine
    engine.dispose()


def _verify() -> tuple[int, str, str]:
    return invoke("audit", "verify")


def test_an_intact_chain_verifies_with_a_one_line_summary(audited: Engine) -> None:
    count = len(audit_rows(audited))
    assert count >= 6
    code, out, err = _verify()
    assert (code, err) == (0, "")
    assert out.strip() == f"audit chain intact: {count} entries, last sequence {count}"


def test_the_commands_are_attributed_to_their_actor_and_station(audited: Engine) -> None:
    entries = audit_rows(audited)
    assert {(e.actor_user, e.station_id) for e in entries} == {("nurse-7", "station-4")}
    mass = [e for e in entries if e.entity == "patient" and e.action == "update"]
    assert [(e.before["body_mass_kg"], e.after["body_mass_kg"]) for e in mass] == [(70.0, 72.0)]


def test_an_altered_entry_is_named(audited: Engine) -> None:
    drop_append_only_triggers(audited)
    with audited.begin() as connection:
        if connection.dialect.name == "postgresql":
            alter = (
                "UPDATE audit_entry SET after = jsonb_set(after::jsonb, '{body_mass_kg}', '90.0')::json WHERE seq = 3"
            )
        else:
            alter = "UPDATE audit_entry SET after = json_set(after, '$.body_mass_kg', 90.0) WHERE seq = 3"
        connection.execute(text(alter))
    code, out, err = _verify()
    assert (code, out) == (1, "")
    assert (
        err.strip()
        == "error: audit chain broken at entry 3: altered: entry 3 was altered: its fields do not give its stored hash"
    )


def test_an_altered_actor_is_named_too(audited: Engine) -> None:
    drop_append_only_triggers(audited)
    with audited.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET actor_user = 'someone-else' WHERE seq = 2"))
    code, _, err = _verify()
    assert code == 1
    assert "entry 2: altered" in err


def test_a_deleted_entry_in_the_middle_is_named(audited: Engine) -> None:
    drop_append_only_triggers(audited)
    with audited.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE seq = 2"))
    code, _, err = _verify()
    assert code == 1
    assert (
        err.strip()
        == "error: audit chain broken at entry 2: missing: entry 2 is missing (deleted): the next stored entry is 3"
    )


def _forge(engine: Engine, seq: int, prev_hash: str) -> None:
    """A forged entry whose own hash is right: the attacker knows the encoding."""
    record = AuditRecord(
        seq=seq,
        at=audit_rows(engine)[0].at,
        actor_user="nurse-7",
        actor_role=None,
        station_id="station-4",
        action="update",
        entity="pump",
        entity_id="1",
        before={"id": 1, "nominal_rate_ml_per_day": 1.0},
        after={"id": 1, "nominal_rate_ml_per_day": 2.0},
        note=None,
        prev_hash=prev_hash,
    )
    values = {field: getattr(record, field) for field in AuditRecord.__slots__}
    with engine.begin() as connection:
        connection.execute(insert(AuditEntry.__table__), [{**values, "entry_hash": entry_hash(record)}])  # type: ignore[attr-defined]


def test_a_forged_entry_appended_after_the_head_is_named(audited: Engine) -> None:
    last_seq, last_hash = chain_head(audited)
    _forge(audited, last_seq + 1, last_hash)  # inserting needs no trigger dropped
    code, _, err = _verify()
    assert code == 1
    assert f"entry {last_seq + 1}: inserted: entry {last_seq + 1} lies past the chain head" in err


def test_a_forged_entry_put_in_place_of_a_deleted_one_is_named(audited: Engine) -> None:
    drop_append_only_triggers(audited)
    entries = audit_rows(audited)
    with audited.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE seq = 3"))
    _forge(audited, 3, entries[1].entry_hash)  # links to entry 2 and hashes right, but entry 4 links to the old 3
    code, _, err = _verify()
    assert code == 1
    assert "entry 4: inserted: entry 4 does not link to entry 3" in err


def test_a_truncated_tail_is_named(audited: Engine) -> None:
    last_seq, _ = chain_head(audited)
    drop_append_only_triggers(audited)
    with audited.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE seq >= :seq"), {"seq": last_seq - 1})
    code, _, err = _verify()
    assert code == 1
    assert (
        f"entry {last_seq - 1}: truncated: the tail was truncated: entries {last_seq - 1}-{last_seq} are missing" in err
    )


def test_list_filters_by_entity_and_user_newest_first(audited: Engine) -> None:
    code, out, _ = invoke("audit", "list", "--entity", "patient", "--json")
    assert code == 0
    page = json.loads(out)
    assert [(i["action"], i["entity"]) for i in page["items"]] == [("update", "patient"), ("insert", "patient")]
    assert page["next_cursor"] is None
    code, out, _ = invoke("audit", "list", "--limit", "2", "--json")
    page = json.loads(out)
    assert len(page["items"]) == 2
    assert page["items"][0]["seq"] > page["items"][1]["seq"]
    assert page["next_cursor"] is not None
    code, out, _ = invoke("audit", "list", "--user", "nobody")
    assert (code, out.splitlines()[1:]) == (0, [])
    code, out, _ = invoke("audit", "list", "--entity", "patient")
    assert "body_mass_kg: 70.0 -> 72.0" in out.splitlines()[1]
    code, _, err = invoke("audit", "list", "--since", "2026-01-01T00:00:00")
    assert code == 2
    assert "UTC offset" in err
