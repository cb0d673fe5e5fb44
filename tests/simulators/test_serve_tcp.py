"""The TCP server outlives a host that dies mid-exchange (kill -9 leaves a reset, not a clean hang-up)."""

import socket
import struct
from urllib.parse import urlparse

from drivers import ProgrammerClient, open_transport
from drivers.framing import FrameType, encode_frame
from schemas.clock import SystemClock
from simulators.programmer import SimulatedProgrammer
from simulators.serve import serve_tcp

CLOCK = SystemClock()


def test_a_host_reset_mid_exchange_leaves_the_port_served_for_the_next_host() -> None:
    with serve_tcp(SimulatedProgrammer([], clock=CLOCK)) as server:
        address = urlparse(server.address)
        dying = socket.create_connection((address.hostname, address.port))
        dying.sendall(encode_frame(1, FrameType.REQUEST, b'{"cmd":"HELLO"}'))
        CLOCK.sleep(0.2)  # the answer is in the dying host's receive buffer, unread
        dying.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        dying.close()  # unread bytes + linger 0: the server sees a reset, as after kill -9
        CLOCK.sleep(0.2)
        assert server.serving
        client = ProgrammerClient(open_transport(server.address, clock=CLOCK), clock=CLOCK)
        try:
            assert client.hello().serial == "PRG-SIM-1"
        finally:
            client.close()
