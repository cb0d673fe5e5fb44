"""Serve a simulated programmer on a real pseudo-terminal or a TCP port, in real time.

The host then opens the pty's path (``/dev/pts/N``) or ``socket://127.0.0.1:PORT`` with pyserial,
so the driver's real serial code path runs. A background thread moves bytes: what the host writes
goes to the programmer, what the programmer has due goes back, at the moment it is due (delays,
slow telemetry and baud pacing are honoured). Pulling the cable (an unplug fault or
:meth:`ProgrammerServer.unplug`) closes the port under the host.
"""

import os
import select
import socket
import threading
import tty
from collections.abc import Callable

from schemas.clock import SystemClock
from simulators.programmer import ProgrammerUnplugged, SimulatedProgrammer

__all__ = ["ProgrammerServer", "serve_pty", "serve_tcp"]

POLL_S = 0.02


class ProgrammerServer:
    """A thread pumping bytes between a port and a programmer; ``address`` is what the host opens."""

    def __init__(
        self,
        programmer: SimulatedProgrammer,
        address: str,
        *,
        wait_readable: Callable[[float], bool],
        read: Callable[[], bytes],
        write: Callable[[bytes], None],
        close: Callable[[], None],
    ) -> None:
        self.programmer = programmer
        self.address = address
        self._wait_readable = wait_readable
        self._read = read
        self._write = write
        self._close = close
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"programmer-{address}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        clock = SystemClock()
        try:
            while not self._stop.is_set():
                due = self.programmer.next_output_at()
                wait = POLL_S if due is None else min(POLL_S, max(0.0, due - clock.monotonic()))
                if self._wait_readable(wait):
                    data = self._read()
                    if data:
                        with self._lock:
                            self.programmer.receive(data)
                with self._lock:
                    out = self.programmer.pending_output()
                if out:
                    self._write(out)
        except ProgrammerUnplugged:
            pass
        except OSError:
            pass  # the host went away; nothing to serve
        finally:
            self._close()

    def unplug(self) -> None:
        """Pull the cable: the port closes under the host."""
        self.programmer.unplugged = True

    @property
    def serving(self) -> bool:
        """Whether the port is still served (an unplug or a closed pty ends it)."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> "ProgrammerServer":
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve_pty(programmer: SimulatedProgrammer) -> ProgrammerServer:
    """Serve on a new pseudo-terminal; the returned server's ``address`` is the device path."""
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no line discipline: a byte pipe like a USB CDC port
    path = os.ttyname(slave)
    closed = threading.Event()

    def close() -> None:
        if not closed.is_set():
            closed.set()
            os.close(master)
            os.close(slave)

    return ProgrammerServer(
        programmer,
        path,
        wait_readable=lambda timeout: bool(select.select([master], [], [], timeout)[0]),
        read=lambda: os.read(master, 4096),
        write=lambda data: _write_all(master, data),
        close=close,
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def serve_tcp(programmer: SimulatedProgrammer, host: str = "127.0.0.1", port: int = 0) -> ProgrammerServer:
    """Serve one host at a time on TCP; ``address`` is the ``socket://`` URL to open."""
    listener = socket.create_server((host, port))
    address = f"socket://{host}:{listener.getsockname()[1]}"
    state: dict[str, socket.socket | None] = {"conn": None}

    def wait_readable(timeout: float) -> bool:
        conn = state["conn"]
        if conn is None:
            if select.select([listener], [], [], timeout)[0]:
                state["conn"], _ = listener.accept()
            return False
        return bool(select.select([conn], [], [], timeout)[0])

    def hang_up() -> None:
        conn = state["conn"]
        if conn is not None:
            conn.close()
            state["conn"] = None

    def read() -> bytes:
        conn = state["conn"]
        if conn is None:  # only called once wait_readable found a connected host readable
            raise ConnectionError("no host is connected")
        try:
            data = conn.recv(4096)
        except ConnectionError:  # the host died with bytes unread (kill -9): a reset, not the end of serving
            data = b""
        if not data:  # the host hung up: wait for the next one
            hang_up()
        return data

    def write(data: bytes) -> None:
        conn = state["conn"]
        if conn is not None:
            try:
                conn.sendall(data)
            except ConnectionError:  # the host is gone; what it was owed is lost with it, as on a cable
                hang_up()

    def close() -> None:
        if state["conn"] is not None:
            state["conn"].close()
        listener.close()

    return ProgrammerServer(programmer, address, wait_readable=wait_readable, read=read, write=write, close=close)
