"""``sim://``: the simulated programmer on an in-process byte pipe, in the clock's time.

``drivers.open_transport("sim://...", clock=clock)`` lands here (the driver's registry imports this
module lazily). Reading waits on the clock: a manual clock is advanced to when the programmer's
next bytes are due (or to the timeout), so a whole interrogation runs in virtual time. Without a
``programmer=`` argument the URL describes one: ``sim://programmable-20?serial=SIM-0001&volume=20&rate=0.5&seed=7``
(every parameter optional); programmers opened from the same URL are the same device, so a second
interrogation sees what the first one changed.
"""

import threading
from urllib.parse import parse_qs, urlsplit

from drivers.errors import TransportError
from schemas.clock import Clock, SystemClock
from schemas.prescription import ContinuousPrescription
from schemas.pump_catalogue import get_pump_model
from schemas.status import DrugInPump
from simulators.link_faults import LinkFaultPlan
from simulators.programmable import SimulatedProgrammablePump
from simulators.programmer import ProgrammerUnplugged, SimulatedProgrammer

__all__ = ["SimulatorTransport", "programmer_from_url", "register_programmer"]

_SHARED: dict[str, SimulatedProgrammer] = {}
_SHARED_LOCK = threading.Lock()


def programmer_from_url(url: str, clock: Clock) -> SimulatedProgrammer:
    """A programmer with one programmable pump described by ``url``'s path and query.

    Raises:
        ValueError: an unknown pump model or a malformed parameter.
    """
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    model = get_pump_model(parts.netloc or "programmable-20")
    seed = int(query.get("seed", "0"))
    pump = SimulatedProgrammablePump(
        model,
        clock=clock,
        serial=query.get("serial", "SIM-0001"),
        seed=seed,
        volume_ml=float(query.get("volume", model.capacity_ml)),
        prescription=ContinuousPrescription(rate_ml_per_day=float(query.get("rate", "0.5"))),
        drug=DrugInPump(name=query.get("drug", "baclofen"), conc_mg_per_ml=float(query.get("conc", "2"))),
        clock_drift_ppm=float(query.get("drift_ppm", "0")),
    )
    faults = LinkFaultPlan(
        seed=seed,
        byte_error_rate=float(query.get("byte_error_rate", "0")),
        frame_error_rate=float(query.get("frame_error_rate", "0")),
        byte_drop_rate=float(query.get("byte_drop_rate", "0")),
    )
    baud = int(query["baud"]) if "baud" in query else None
    return SimulatedProgrammer([pump], clock=clock, faults=faults, baudrate=baud)


class SimulatorTransport:
    """The driver's Transport over a :class:`SimulatedProgrammer` (no bytes leave the process)."""

    def __init__(
        self, url: str = "sim://", *, clock: Clock | None = None, programmer: SimulatedProgrammer | None = None
    ) -> None:
        self.url = url
        self._clock = clock or SystemClock()
        if programmer is None:
            try:
                with _SHARED_LOCK:
                    programmer = _SHARED.get(url) or _SHARED.setdefault(url, programmer_from_url(url, self._clock))
            except ValueError as exc:
                raise TransportError(f"cannot open {url}: {exc}") from exc
        self.programmer = programmer
        self._closed = False

    def write(self, data: bytes) -> None:
        self._check()
        try:
            self.programmer.receive(data)
        except ProgrammerUnplugged as exc:
            raise TransportError(f"{self.url}: the programmer was unplugged") from exc

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        self._check()
        deadline = self._clock.monotonic() + max(0.0, timeout_s)
        while True:
            try:
                data = self.programmer.pending_output(max_bytes)
            except ProgrammerUnplugged as exc:
                raise TransportError(f"{self.url}: the programmer was unplugged") from exc
            if data:
                return data
            now = self._clock.monotonic()
            due = self.programmer.next_output_at()
            wake = deadline if due is None else min(deadline, due)
            if now >= deadline:
                return b""
            self._clock.sleep(max(wake - now, 1e-6))

    def close(self) -> None:
        self._closed = True

    def _check(self) -> None:
        if self._closed:
            raise TransportError(f"{self.url} is closed")


def register_programmer(url: str, programmer: SimulatedProgrammer) -> None:
    """Make ``open_transport(url)`` reach ``programmer`` (benches and tests set up their own devices)."""
    with _SHARED_LOCK:
        _SHARED[url] = programmer
