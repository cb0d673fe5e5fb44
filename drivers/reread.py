"""Reads asked again under a new SEQ when a noisy line defeats all the resends of one exchange.

Why: at a byte error rate of 1e-3 a ``STATUS`` response (~650 bytes) arrives intact with
probability ~0.5 per attempt, so the four attempts of one exchange all fail about once in
sixteen interrogations. HPP/1 §3 bars only the state-changing commands (``REFILL``,
``RX_WRITE``, ``BOLUS``, ``CLOCK_SET``) from being sent again under a new SEQ once their
resends are spent; a read changes nothing on the pump, so asking it again is safe.

Asking again is worth it only when the programmer is there: a failed exchange during which
bytes came back (NAKs, damaged or truncated frames) is a noisy line; one during which nothing
came back is a silent programmer (unplugged, powered off, out of range), and fails at once as
before.
"""

from typing import Final

from drivers.errors import DeviceTimeoutError, NakError
from drivers.messages import Command, Request
from drivers.session import LinkCounters, Reply, Session

__all__ = ["READ_AGAIN", "REPEATABLE_READS", "exchange_read", "heard_from_programmer"]

REPEATABLE_READS: Final = frozenset({Command.HELLO, Command.LINK, Command.STATUS})
"""Commands the client asks again under a new SEQ (``LOG_READ`` has its own rule, :mod:`drivers.paging`)."""

READ_AGAIN: Final = 4
"""New exchanges after the first failed one, each with its own resends."""


def heard_from_programmer(before: LinkCounters, after: LinkCounters) -> bool:
    """Whether any byte came back during a failed exchange: a noisy line, not a silent programmer.

    Bytes, not frames: a response that lost a byte on the line is never a frame nor, until more
    bytes come, even a discard, yet it shows the programmer is there and answering.
    """
    return after.bytes_received > before.bytes_received


def exchange_read(session: Session, request: Request) -> Reply:
    """``session.exchange(request)``, asked again (new SEQ) up to :data:`READ_AGAIN` times on a noisy line.

    Raises:
        DeviceTimeoutError, NakError: the last exchange failed, or the line was silent.
        ValueError: ``request`` is not one of :data:`REPEATABLE_READS`.
        ProtocolError, TransportError: as :meth:`Session.exchange`.
    """
    if request.command not in REPEATABLE_READS:
        raise ValueError(f"{request.command} is not a read that may be asked again")
    again = 0
    while True:
        before = session.counters.snapshot()
        try:
            return session.exchange(request)
        except (DeviceTimeoutError, NakError) as exc:
            if again >= READ_AGAIN or not heard_from_programmer(before, session.counters):
                if again:
                    exc.add_note(f"asked {again + 1} times under new SEQs on a noisy line")
                raise
            again += 1
