"""Named places where a refill visit can be made to die, to prove it recovers (kill tests).

``PUMP_CRASH_AT=<name>`` in the environment makes the process SIGKILL itself when it reaches that
point: no cleanup, no rollback handler, exactly like a power cut. Unset (always, in production),
a crash point does nothing. The points: ``before_device_write`` (the visit is saved, the pump not
yet written), ``after_device_write`` (the pump took the refill, nothing committed), ``mid_commit``
(inside the refill transaction, before COMMIT), ``after_commit``.
"""

import os
import signal

__all__ = ["CRASH_POINTS", "crashpoint"]

CRASH_POINTS = frozenset({"before_device_write", "after_device_write", "mid_commit", "after_commit"})


def crashpoint(name: str) -> None:
    """Die here if ``PUMP_CRASH_AT`` names this point."""
    if name not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    if os.environ.get("PUMP_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
