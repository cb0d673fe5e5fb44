"""Transport registry: lazy scheme table, entry-point plugins, serial fallback, no simulator import."""

import subprocess
import sys
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from drivers import registry
from drivers.errors import TransportError
from drivers.registry import TRANSPORTS, open_transport, scheme_of, transport_factory
from drivers.transport import SerialTransport


class RecordingTransport:
    """Stands in for a registered transport; remembers how it was built."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.kwargs = kwargs

    def write(self, data: bytes) -> None:
        pass

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        return b""

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("/dev/ttyUSB0", ""), ("COM3", ""), ("loop://", "loop"), ("SIM://x?seed=1", "sim"), ("socket://h:1", "socket")],
)
def test_scheme_of(url: str, scheme: str) -> None:
    assert scheme_of(url) == scheme


def test_sim_maps_to_the_simulator_transport_lazily() -> None:
    assert TRANSPORTS["sim"] == "simulators.transport:SimulatorTransport"


def test_registered_scheme_gets_the_whole_url_and_kwargs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TRANSPORTS, "rec", "tests.drivers.test_registry:RecordingTransport")
    transport = open_transport("rec://bench-3?seed=7&fault=drop", speed=2)
    assert isinstance(transport, RecordingTransport)
    assert transport.url == "rec://bench-3?seed=7&fault=drop"
    assert transport.kwargs == {"speed": 2}


def test_a_missing_module_is_a_clear_transport_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TRANSPORTS, "gone", "no_such_package_for_pumps.transport:Thing")
    with pytest.raises(TransportError, match=r"gone://.*no_such_package_for_pumps\.transport"):
        open_transport("gone://x")
    monkeypatch.setitem(TRANSPORTS, "noattr", "tests.drivers.test_registry:Nothing")
    with pytest.raises(TransportError, match="has no Nothing"):
        transport_factory("noattr://x")


def test_entry_point_plugins_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = EntryPoint(
        name="plug", value="tests.drivers.test_registry:RecordingTransport", group=registry.ENTRY_POINT_GROUP
    )

    def fake_entry_points(*, group: str, name: str) -> list[EntryPoint]:
        return [plugin] if (group, name) == (registry.ENTRY_POINT_GROUP, "plug") else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    assert transport_factory("plug://x") is RecordingTransport
    assert transport_factory("loop://") is SerialTransport


def test_everything_else_is_serial() -> None:
    assert transport_factory("/dev/ttyACM0") is SerialTransport
    assert transport_factory("rfc2217://bench:2217") is SerialTransport
    transport = open_transport("loop://", baudrate=9600)
    try:
        assert isinstance(transport, SerialTransport)
    finally:
        transport.close()


def test_importing_drivers_never_imports_simulators() -> None:
    code = (
        "import sys, drivers, drivers.registry, drivers.client, drivers.logio; "
        "sys.exit(1 if any(m.split('.')[0] in ('simulators', 'pump_service') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
