"""The station's pages in a real browser: Playwright driving Debian's Chromium against a live server.

The server is ``create_app`` under uvicorn on a free loopback port, in a thread, on a fresh
SQLite database holding the demo clinic, a test-bench station whose programmer is the simulated
programmable pump SM20-0003, and one account of each role. Chromium is the distribution's
(``scripts/ensure-chromium`` installs it; never ``playwright install``); without it every test
here is skipped with the reason. Screenshots of each step go to ``test-artifacts/browser/``.
"""

import glob
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.domain.access import Role
from pump_service.persistence.db import make_engine, transaction
from pump_service.persistence.migrate import upgrade
from pump_service.services.accounts import register_station
from pump_service.services.demo import seed_demo
from pump_service.services.scheduling.clinics import default_clinic
from pump_service.settings import Settings
from schemas.clock import SystemClock
from simulators.transport import programmer_from_url, register_programmer
from tests.auth_support import make_user

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
BENCH_STATION = "bench-e2e"
# The demo's programmable pump, simulated behind the bench station's programmer (as `make run`).
PROGRAMMER_URL = "sim://programmable-20?serial=SM20-0003&volume=10"
PASSWORDS = {role: f"{role.value}-station-password" for role in Role}
SECOND_NURSE = ("nurse2-e2e", "nurse2-station-password")  # the second person of a spinal fill


def _why_no_chromium() -> str | None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    noted = ARTIFACTS / "chromium-unavailable.txt"
    reason = noted.read_text().strip() if noted.is_file() else "run scripts/ensure-chromium"
    return f"Debian's Chromium is not at {CHROMIUM}: {reason}"


@pytest.fixture(autouse=True, scope="session")
def _chromium_present() -> None:
    reason = _why_no_chromium()
    if reason is not None:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(autouse=True, scope="session")
def _clean_chromium_profiles() -> Iterator[None]:
    """Chromium leaves profile folders in /tmp and ~/.config: remove the ones this run made."""
    patterns = [os.path.join(tempfile.gettempdir(), p) for p in ("playwright_chromiumdev_profile-*", "playwright-*")]
    before = {path for pattern in patterns for path in glob.glob(pattern)}
    config = Path.home() / ".config" / "chromium"
    had_config = config.exists()
    yield
    for pattern in patterns:
        for path in set(glob.glob(pattern)) - before:
            shutil.rmtree(path, ignore_errors=True)
    if not had_config:
        shutil.rmtree(config, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LiveStation:
    url: str
    settings: Settings
    station_id: str
    engine: Engine  # the server's database, for what another station does meanwhile

    def user(self, role: Role) -> tuple[str, str]:
        return f"{role.value}-e2e", PASSWORDS[role]


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStation]:
    """The live server (one per session: the tests share it and its demo data)."""
    home = tmp_path_factory.mktemp("station")
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home}/pump.db",
        station_id=BENCH_STATION,
        device_url=PROGRAMMER_URL,
        clinic_tz="America/New_York",
    )
    clock = SystemClock()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with transaction(engine) as session:
        seed_demo(session, settings=settings, now=clock.now())
        clinic = default_clinic(session, settings, now=clock.now())
        register_station(
            session,
            BENCH_STATION,
            clinic_id=clinic.clinic_id,
            programmer_url=PROGRAMMER_URL,
            is_test_bench=True,
            label="browser-test bench",
            now=clock.now(),
            created_by="test-setup",
        )
    for role in Role:
        make_user(engine, role, username=f"{role.value}-e2e", password=PASSWORDS[role])
    make_user(engine, Role.NURSE, username=SECOND_NURSE[0], password=SECOND_NURSE[1])
    register_programmer(PROGRAMMER_URL, programmer_from_url(PROGRAMMER_URL, clock))
    port = _free_port()
    app = create_app(settings, clock=clock, engine=engine)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = clock.monotonic() + 15
    while not server.started:
        if clock.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        clock.sleep(0.05)
    try:
        yield LiveStation(f"http://127.0.0.1:{port}", settings, BENCH_STATION, engine)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


class Shots:
    """Numbered screenshots of one test's steps, under test-artifacts/browser/<test>/."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def __call__(self, step: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shots(page: Any, request: pytest.FixtureRequest) -> Shots:
    return Shots(page, request.node.name)
