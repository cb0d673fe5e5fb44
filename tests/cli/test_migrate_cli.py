"""``pump-service migrate``: up, back with ``--downgrade-to``, and one clear line when it cannot run."""

from pathlib import Path

import pytest

from pump_service.persistence.db import make_engine
from pump_service.persistence.migrate import current_revision, head_revision
from tests.cli.test_cli import invoke


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_migrate_downgrades_to_a_named_revision_and_back_to_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    assert invoke("migrate")[0] == 0
    code, out, err = invoke("migrate", "--downgrade-to", "cosign_0010")
    assert code == 0, err
    assert "cosign_0010" in out
    assert _revision(url) == "cosign_0010"
    code, out, _ = invoke("migrate")
    assert code == 0
    assert "schema head" in out
    assert _revision(url) == head_revision()


def test_migrate_to_an_unknown_revision_is_one_line_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    monkeypatch.setenv("PUMP_DATABASE_URL", url)
    assert invoke("migrate")[0] == 0
    code, _, err = invoke("migrate", "--downgrade-to", "no_such_revision")
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: cannot migrate {tmp_path}/m.db: Can't locate revision identified by 'no_such_revision'"
    ]
    assert _revision(url) == head_revision()
