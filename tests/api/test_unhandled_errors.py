"""An unexpected error: a 500 problem, and nothing of its message in the logs (it may name a patient)."""

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.settings import Settings
from tests.support import FixedClock

PATIENT_IN_MESSAGE = "patient DEMO-P777 in the message"


def test_an_unexpected_error_is_a_500_problem_logged_by_type_only(
    settings: Settings,
    engine: Engine,
    clock: FixedClock,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app: FastAPI = create_app(settings, clock=clock, engine=engine)

    @app.get("/_boom")
    def boom() -> None:
        raise ValueError(PATIENT_IN_MESSAGE)

    caplog.set_level(logging.DEBUG)
    # Starlette re-raised it after answering (the server then logged message and traceback): a
    # TestClient raising server exceptions sees that re-raise.
    with TestClient(app, raise_server_exceptions=True) as client:
        answer = client.get("/_boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert PATIENT_IN_MESSAGE not in answer.text
    captured = capsys.readouterr()
    assert PATIENT_IN_MESSAGE not in caplog.text + captured.out + captured.err
    assert "ValueError" in caplog.text + captured.out + captured.err
