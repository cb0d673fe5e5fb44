"""Golden byte vectors for the HPP/1 codec, written out as literals (never produced by the codec).

The first three are copied from the protocol spec §2. The HELLO response was written by hand:
its CRC (0x0EC4) was computed with :func:`bitwise_crc16`, an independent bit-by-bit
CRC-16/CCITT-FALSE, so a bug shared by the driver's encoder and the simulator cannot hide.
"""

from typing import Final


def bitwise_crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE one bit at a time: poly 0x1021, init 0xFFFF, no reflection, xorout 0."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex(" ".join(text.split()))


CRC_CHECK_INPUT: Final = b"123456789"
CRC_CHECK_VALUE: Final = 0x29B1

# Spec §2: REQUEST, SEQ 1, {"cmd":"HELLO","args":{}} (25 bytes).
HELLO_REQUEST_SEQ1: Final = hex_bytes(
    "7e 01 01 01 00 19 7b 22 63 6d 64 22 3a 22 48 45 4c 4c 4f 22 2c 22 61 72 67 73 22 3a 7b 7d 7d a0 f0"
)
HELLO_REQUEST_PAYLOAD: Final = b'{"cmd":"HELLO","args":{}}'

# Spec §2: NAK for SEQ 1.
NAK_SEQ1: Final = hex_bytes("7e 01 01 15 00 00 65 7a")

# Spec §2: EVENT, SEQ 7, {"event":"LINK_LOST"}.
LINK_LOST_EVENT_SEQ7: Final = hex_bytes(
    "7e 01 07 03 00 15 7b 22 65 76 65 6e 74 22 3a 22 4c 49 4e 4b 5f 4c 4f 53 54 22 7d d8 1e"
)
LINK_LOST_EVENT_PAYLOAD: Final = b'{"event":"LINK_LOST"}'

# By hand: RESPONSE, SEQ 1, 122-byte payload (LEN 0x007A), CRC 0x0EC4 from bitwise_crc16.
HELLO_RESPONSE_PAYLOAD: Final = (
    b'{"ok":true,"result":{"programmer":{"model":"HP-1","serial":"PG-0042","firmware":"1.4.2"},'
    b'"protocol":1,"max_payload":4096}}'
)
HELLO_RESPONSE_SEQ1: Final = hex_bytes(
    """
    7e 01 01 02 00 7a 7b 22 6f 6b 22 3a 74 72 75 65
    2c 22 72 65 73 75 6c 74 22 3a 7b 22 70 72 6f 67
    72 61 6d 6d 65 72 22 3a 7b 22 6d 6f 64 65 6c 22
    3a 22 48 50 2d 31 22 2c 22 73 65 72 69 61 6c 22
    3a 22 50 47 2d 30 30 34 32 22 2c 22 66 69 72 6d
    77 61 72 65 22 3a 22 31 2e 34 2e 32 22 7d 2c 22
    70 72 6f 74 6f 63 6f 6c 22 3a 31 2c 22 6d 61 78
    5f 70 61 79 6c 6f 61 64 22 3a 34 30 39 36 7d 7d
    0e c4
    """
)
HELLO_RESPONSE_CRC: Final = 0x0EC4
