"""Which URLs name a SQLite file, and how a relative one is made absolute."""

from pathlib import Path

import pytest

from pump_service.locations import absolute_sqlite_url, masked_url, sqlite_file, sqlite_url

BASE = Path("/srv/station")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///var/pump.db", "sqlite:////srv/station/var/pump.db"),
        ("sqlite:///./pump.db", "sqlite:////srv/station/pump.db"),
        ("sqlite:///../other/pump.db", "sqlite:////srv/other/pump.db"),
        ("sqlite:///pump.db?timeout=3", "sqlite:////srv/station/pump.db?timeout=3"),
        ("sqlite:////data/pump.db", "sqlite:////data/pump.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite:///file:pump.db?mode=ro&uri=true", "sqlite:///file:pump.db?mode=ro&uri=true"),
        ("postgresql+psycopg://u:pw@db/pumps", "postgresql+psycopg://u:pw@db/pumps"),
    ],
)
def test_only_a_relative_sqlite_path_changes(url: str, expected: str) -> None:
    assert absolute_sqlite_url(url, BASE) == expected


def test_a_home_relative_path_is_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/nurse")
    assert absolute_sqlite_url("sqlite:///~/pump.db", BASE) == "sqlite:////home/nurse/pump.db"


def test_sqlite_file_names_the_file_or_nothing() -> None:
    assert sqlite_file(sqlite_url(Path("/a b/pump.db"))) == Path("/a b/pump.db")
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("postgresql+psycopg://db/pumps") is None


def test_masked_url_hides_only_the_password() -> None:
    assert masked_url("postgresql+psycopg://nurse:pw@db:5432/pumps") == "postgresql+psycopg://nurse:***@db:5432/pumps"
    assert masked_url("sqlite:////data/pump.db") == "sqlite:////data/pump.db"
