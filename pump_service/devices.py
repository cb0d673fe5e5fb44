"""The service's only door to the programmer driver: open a link, map driver errors to ours.

Everything in ``drivers`` raises ``DriverError`` subclasses; here they become
:class:`~pump_service.errors.DeviceError` (HTTP 503) or, when a write's outcome is unknown,
:class:`~pump_service.errors.DeviceOutcomeUnknownError`, so the API and the CLI report a device
problem without knowing the driver. ``sim://`` URLs reach the simulator through the driver's
registry at run time; the service never imports the simulators.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from drivers import DriverError, OutcomeUnknownError, ProgrammerClient, ProgrammerError, open_transport
from drivers.errors import ReconciliationRequiredError
from drivers.messages import prescription_to_wire
from pump_service.errors import DeviceError, DeviceOutcomeUnknownError, RuleViolationError
from schemas.clock import Clock
from schemas.prescription import Prescription
from schemas.programmer import PendingWrite

__all__ = [
    "ProgrammerClient",
    "ProgrammerError",
    "check_prescription_writable",
    "device_errors",
    "programmer_link",
]


@contextmanager
def device_errors(url: str) -> Iterator[None]:
    """Re-raise any driver error inside the block as the service's device error."""
    try:
        yield
    except (OutcomeUnknownError, ReconciliationRequiredError) as exc:
        raise DeviceOutcomeUnknownError(f"{url}: {exc}") from exc
    except DriverError as exc:
        raise DeviceError(f"{url}: {exc}") from exc


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
