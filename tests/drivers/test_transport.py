"""SerialTransport over pyserial: loop://, a Linux pty pair, and the failures of a real port."""

import contextlib
import os
import select
import sys
import threading
from collections.abc import Iterator

import pytest

from drivers.client import ProgrammerClient
from drivers.errors import PortBusyError, TransportError
from drivers.framing import Frame, FrameDecoder, FrameType, decode_frame, encode_frame
from drivers.transport import SerialTransport, Transport
from schemas.clock import SystemClock
from tests.drivers import vectors as v


def _read_frames(transport: Transport, count: int, *, attempts: int = 50) -> list[Frame]:
    decoder = FrameDecoder()
    clock = SystemClock()
    frames: list[Frame] = []
    for _ in range(attempts):
        frames += decoder.feed(transport.read(4096, 0.05), clock.monotonic())
        if len(frames) >= count:
            break
    return frames


def test_loop_url_carries_frames_through_the_serial_code_path() -> None:
    with SerialTransport("loop://", poll_interval_s=0.005) as transport:
        assert isinstance(transport, Transport)
        assert transport.url == "loop://"
        transport.write(v.HELLO_REQUEST_SEQ1 + b"\x00noise" + v.NAK_SEQ1)
        transport.write(v.LINK_LOST_EVENT_SEQ7)
        frames = _read_frames(transport, 3)
    assert frames == [
        decode_frame(v.HELLO_REQUEST_SEQ1),
        decode_frame(v.NAK_SEQ1),
        decode_frame(v.LINK_LOST_EVENT_SEQ7),
    ]


def test_read_returns_empty_after_its_timeout() -> None:
    with SerialTransport("loop://", poll_interval_s=0.005) as transport:
        assert transport.read(16, 0.01) == b""
        transport.write(b"abc")
        assert transport.read(2, 0.5) == b"ab"
        assert transport.read(16, 0.5) == b"c"


def test_closed_transport_refuses_io() -> None:
    transport = SerialTransport("loop://")
    transport.close()
    transport.close()
    with pytest.raises(TransportError, match="closed"):
        transport.write(b"x")
    with pytest.raises(TransportError, match="closed"):
        transport.read(1, 0.0)


def test_unknown_url_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="cannot open"):
        SerialTransport("nosuchscheme://x")
    with pytest.raises(TransportError, match="cannot open") as caught:
        SerialTransport("/dev/does-not-exist-pump")
    assert isinstance(caught.value, OSError)
    assert caught.value.port == "/dev/does-not-exist-pump"


def test_bad_settings_are_value_errors() -> None:
    with pytest.raises(ValueError, match="baudrate"):
        SerialTransport("loop://", baudrate=0)


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux pseudo-terminals only")
    master, slave = os.openpty()
    name = os.ttyname(slave)
    yield master, name
    for fd in (master, slave):
        with contextlib.suppress(OSError):  # already closed by the test
            os.close(fd)


def _read_master(master: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        ready, _, _ = select.select([master], [], [], 2.0)
        if not ready:
            break
        data += os.read(master, size - len(data))
    return data


@pytest.mark.pty
def test_pty_carries_frames_both_ways(pty_pair: tuple[int, str]) -> None:
    master, name = pty_pair
    with SerialTransport(name, baudrate=57_600) as transport:
        transport.write(v.HELLO_REQUEST_SEQ1)
        assert _read_master(master, len(v.HELLO_REQUEST_SEQ1)) == v.HELLO_REQUEST_SEQ1
        os.write(master, v.HELLO_RESPONSE_SEQ1[:40])
        os.write(master, v.HELLO_RESPONSE_SEQ1[40:] + v.NAK_SEQ1)
        assert _read_frames(transport, 2) == [decode_frame(v.HELLO_RESPONSE_SEQ1), decode_frame(v.NAK_SEQ1)]


@pytest.mark.pty
def test_pty_is_locked_exclusively(pty_pair: tuple[int, str]) -> None:
    _, name = pty_pair
    with SerialTransport(name), pytest.raises(PortBusyError, match="in use"):
        SerialTransport(name)


@pytest.mark.pty
def test_a_vanished_pty_is_a_transport_error(pty_pair: tuple[int, str]) -> None:
    master, name = pty_pair
    with SerialTransport(name) as transport:
        os.close(master)
        with pytest.raises(TransportError) as caught:
            transport.read(16, 0.05)
        assert caught.value.port == name
        assert caught.value.__cause__ is not None


@pytest.mark.pty
def test_client_exchange_over_a_pty(pty_pair: tuple[int, str]) -> None:
    master, name = pty_pair

    def answer_one_request() -> None:
        request = decode_frame(_read_master(master, len(v.HELLO_REQUEST_SEQ1)))
        os.write(master, encode_frame(request.seq, FrameType.RESPONSE, v.HELLO_RESPONSE_PAYLOAD))

    responder = threading.Thread(target=answer_one_request, daemon=True)
    responder.start()
    with ProgrammerClient(SerialTransport(name), initial_seq=1) as client:
        info = client.hello()
    responder.join(timeout=5)
    assert info.serial == "PG-0042"
