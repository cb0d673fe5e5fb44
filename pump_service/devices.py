"""The service's only door to the programmer driver: open a link, map driver errors to ours.

Everything in ``drivers`` raises ``DriverError`` subclasses; here they become
:class:`~pump_service.errors.DeviceError` (HTTP 503) or, when a write's outcome is unknown,
:class:`~pump_service.errors.DeviceOutcomeUnknownError`, so the API and the CLI report a device
problem without knowing the driver. ``sim://`` URLs reach the simulator through the driver's
registry at run time; the service never imports the simulators.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points

from drivers import DriverError, OutcomeUnknownError, ProgrammerClient, ProgrammerError, open_transport
from drivers.errors import ReconciliationRequiredError, TransportError
from drivers.messages import prescription_to_wire
from drivers.registry import ENTRY_POINT_GROUP, TRANSPORTS, scheme_of
from pump_service.errors import DeviceError, DeviceOutcomeUnknownError, RuleViolationError
from schemas.clock import Clock
from schemas.prescription import Prescription
from schemas.programmer import PendingWrite

__all__ = [
    "SIMULATED_SCHEME",
    "LogDownload",
    "ProgrammerClient",
    "ProgrammerError",
    "check_prescription_writable",
    "check_programmer_url",
    "device_errors",
    "is_simulated",
    "log_download_errors",
    "programmer_link",
]


SIMULATED_SCHEME = "sim"

# pyserial's own URL handlers (serial_for_url); anything else with a scheme needs a registered plugin.
_SERIAL_SCHEMES = frozenset({"socket", "rfc2217", "loop", "spy", "hwgrep", "alt", "cp2110"})


def check_programmer_url(url: str) -> str:
    """The scheme of ``url`` if the driver can open it (a device path gives ``""``).

    Raises:
        RuleViolationError: an empty URL, or a scheme no transport is registered for.
    """
    if not url.strip() or any(c.isspace() for c in url):
        raise RuleViolationError("the programmer port must be a device path or a port URL", field="programmer_url")
    scheme = scheme_of(url)
    plugins = {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)}
    if scheme and scheme not in TRANSPORTS and scheme not in _SERIAL_SCHEMES and scheme not in plugins:
        raise RuleViolationError(f"no programmer transport opens {scheme}:// URLs", field="programmer_url")
    return scheme


def is_simulated(url: str) -> bool:
    """Whether ``url`` opens the simulated programmer: what goes through it never reached a real pump."""
    return scheme_of(url) == SIMULATED_SCHEME


@contextmanager
def device_errors(url: str) -> Iterator[None]:
    """Re-raise any driver error inside the block as the service's device error."""
    try:
        yield
    except (OutcomeUnknownError, ReconciliationRequiredError) as exc:
        raise DeviceOutcomeUnknownError(f"{url}: {exc}") from exc
    except DriverError as exc:
        raise DeviceError(f"{url}: {exc}") from exc


@dataclass(slots=True)
class LogDownload:
    """How far a log download got: the index the next page starts at, and the new entries stored."""

    resume_at: int
    stored: int = 0


@contextmanager
def log_download_errors(url: str, progress: LogDownload) -> Iterator[None]:
    """Re-raise a driver error inside the block as a device error saying what was kept.

    Pages are committed as they arrive, so the nurse (and the retry) must know that nothing read
    is lost and that the next interrogation continues from ``progress.resume_at``, not from 0.
    """
    try:
        yield
    except DriverError as exc:
        lost = isinstance(exc, TransportError)
        what = "the link to the programmer was lost" if lost else "the programmer stopped answering"
        raise DeviceError(
            f"{url}: {what} during the log download ({exc}); {progress.stored} new log entries were stored "
            f"and are kept, the next interrogation resumes at log index {progress.resume_at}"
        ) from exc


@contextmanager
def programmer_link(url: str, *, clock: Clock, pending: Iterable[PendingWrite] = ()) -> Iterator[ProgrammerClient]:
    """An open :class:`ProgrammerClient` on ``url``; closed on exit, driver errors mapped.

    ``pending`` carries writes whose outcome is still unknown from an earlier link, so the block on
    that pump survives reconnecting.
    """
    with device_errors(url):
        transport = open_transport(url, clock=clock)
        client = ProgrammerClient(transport, clock=clock, pending=tuple(pending))
        try:
            yield client
        finally:
            transport.close()


def check_prescription_writable(prescription: Prescription) -> None:
    """Refuse, before any write, a prescription HPP/1 cannot carry (a patient bolus allowance).

    Raises:
        RuleViolationError: the prescription cannot be sent to a pump.
    """
    try:
        prescription_to_wire(prescription)
    except ValueError as exc:
        raise RuleViolationError(str(exc), field="prescription") from exc
