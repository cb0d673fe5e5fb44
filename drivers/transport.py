"""Byte transports: the :class:`Transport` seam and :class:`SerialTransport` over pyserial.

A transport moves bytes and nothing else: no framing, no retries. The session above it calls
``read(max_bytes, timeout_s)`` in a loop towards its own deadline and stamps each chunk with its
clock for the frame decoder's inter-byte timeout.

:class:`SerialTransport` opens any pyserial URL through ``serial.serial_for_url``: a device path
(``/dev/ttyUSB0``, a pty such as ``/dev/pts/7``), ``loop://``, ``socket://host:port``,
``rfc2217://host:port``. The line is 8N1 without flow control (HPP/1 §1). pyserial pitfalls it
avoids (docs/protocol.md, "Pointing a station at a port"):

- ``inter_byte_timeout`` is ignored by pyserial's POSIX ``read``, so it is never used; the
  pyserial timeout is set once, at open, to a short poll interval, and :meth:`SerialTransport.read`
  loops to its own deadline (setting ``.timeout`` later calls ``tcsetattr``, which fails once
  the device is gone);
- a read returns as soon as any bytes are in, so the caller's timestamps stay accurate;
- modem lines (DTR, CTS) are never touched: their ioctls fail on ptys;
- ``exclusive=True`` is asked for only on native ports, the only ones pyserial locks;
- every pyserial or OS error becomes :class:`~drivers.errors.TransportError` (``raise … from``);
  a port that vanishes mid-read (pty closed, USB unplugged, socket peer gone) is one too.

This module is the only place that converts pyserial exceptions.
"""

import errno
import logging
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import serial

from drivers.errors import PortBusyError, TransportError
from schemas.clock import Clock, SystemClock

__all__ = ["DEFAULT_BAUDRATE", "SUPPORTED_BAUDRATES", "SerialTransport", "Transport"]

logger = logging.getLogger(__name__)

try:  # POSIX ports fail with termios.error (not an OSError), e.g. tcdrain on a pty that vanished
    import termios

    _PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - Windows
    _PORT_ERRORS = (serial.SerialException, OSError)
_OPEN_ERRORS: tuple[type[BaseException], ...] = (*_PORT_ERRORS, ValueError)

DEFAULT_BAUDRATE = 115_200
SUPPORTED_BAUDRATES = (9_600, 19_200, 38_400, 57_600, 115_200)
"""The rates a programmer may be configured for (HPP/1 §1); 115200 is the default."""


@runtime_checkable
class Transport(Protocol):
    """A byte pipe to a programmer.

    Implementations: :class:`SerialTransport`, and the simulator's ``sim://`` transport.
    """

    @property
    def url(self) -> str:
        """Where the transport leads, for messages and traces."""
        ...

    def write(self, data: bytes) -> None:
        """Send all of ``data``.

        Raises:
            TransportError: the port failed or is closed.
        """
        ...

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Return up to ``max_bytes`` that arrived within ``timeout_s`` (``b""`` if none).

        Returns as soon as some bytes are available; waits at most ``timeout_s`` otherwise.

        Raises:
            TransportError: the port failed, vanished or is closed.
        """
        ...

    def close(self) -> None:
        """Release the port; idempotent."""
        ...


def _is_native(url: str) -> bool:
    return "://" not in url


class SerialTransport:
    """A :class:`Transport` over ``serial.serial_for_url`` (device paths and pyserial URLs).

    Args:
        url: a device path or a pyserial URL.
        baudrate: line speed; the programmer's default is 115200.
        poll_interval_s: the pyserial timeout, set once; bounds how late a read notices its deadline.
        write_timeout_s: how long a write may block before the port is declared failed.
        clock: time source for read deadlines.

    Raises:
        PortBusyError: a native port is exclusively locked by another process.
        TransportError: the port cannot be opened.
        ValueError: a bad baudrate or interval.
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        poll_interval_s: float = 0.01,
        write_timeout_s: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        if baudrate <= 0:
            raise ValueError(f"baudrate must be positive, got {baudrate}")
        if poll_interval_s <= 0 or write_timeout_s <= 0:
            raise ValueError("poll_interval_s and write_timeout_s must be positive")
        self._url = url
        self._clock = clock or SystemClock()
        options: dict[str, Any] = {
            "baudrate": baudrate,
            "bytesize": serial.EIGHTBITS,
            "parity": serial.PARITY_NONE,
            "stopbits": serial.STOPBITS_ONE,
            "xonxoff": False,
            "rtscts": False,
            "dsrdtr": False,
            "timeout": poll_interval_s,
            "write_timeout": write_timeout_s,
        }
        if _is_native(url):
            options["exclusive"] = True
        try:
            self._port: Any = serial.serial_for_url(url, **options)
        except _OPEN_ERRORS as exc:
            if getattr(exc, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise PortBusyError(f"{url} is in use by another process: {exc}", port=url) from exc
            raise TransportError(f"cannot open {url}: {exc}", port=url) from exc
        self._closed = False
        logger.debug("opened %s at %d baud", url, baudrate)

    @property
    def url(self) -> str:
        return self._url

    def write(self, data: bytes) -> None:
        self._check_open()
        try:
            self._port.write(data)
            self._port.flush()
        except _PORT_ERRORS as exc:
            raise TransportError(f"write to {self._url} failed: {exc}", port=self._url) from exc

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self._check_open()
        deadline_s = self._clock.monotonic() + max(timeout_s, 0.0)
        try:
            while True:
                waiting = self._port.in_waiting
                if waiting:
                    data: bytes = self._port.read(min(waiting, max_bytes))
                    return data
                if self._clock.monotonic() >= deadline_s:
                    return b""
                # Blocks at most one poll interval, returns as soon as a byte is in.
                data = self._port.read(1)
                if data:
                    more = min(self._port.in_waiting, max_bytes - 1)
                    return data + self._port.read(more) if more > 0 else data
        except _PORT_ERRORS as exc:
            raise TransportError(f"read from {self._url} failed: {exc}", port=self._url) from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._port.close()
        except _PORT_ERRORS as exc:  # closing a vanished port: nothing left to release
            logger.debug("closing %s: %s", self._url, exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SerialTransport({self._url!r})"

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError(f"{self._url} is closed", port=self._url)
