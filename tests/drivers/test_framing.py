"""Frame codec: golden vectors, strict decoding, and the decoder's recovery rules."""

import pytest

from drivers.errors import CrcError, FrameError
from drivers.framing import (
    MAX_PAYLOAD_BYTES,
    DiscardReason,
    Frame,
    FrameDecoder,
    FrameType,
    crc16,
    decode_frame,
    encode_frame,
)
from tests.drivers import vectors as v


def test_crc_check_value() -> None:
    assert crc16(v.CRC_CHECK_INPUT) == v.CRC_CHECK_VALUE
    assert v.bitwise_crc16(v.CRC_CHECK_INPUT) == v.CRC_CHECK_VALUE


@pytest.mark.parametrize(
    ("raw", "seq", "kind", "payload"),
    [
        pytest.param(v.HELLO_REQUEST_SEQ1, 1, FrameType.REQUEST, v.HELLO_REQUEST_PAYLOAD, id="spec-hello-request"),
        pytest.param(v.NAK_SEQ1, 1, FrameType.NAK, b"", id="spec-nak"),
        pytest.param(v.LINK_LOST_EVENT_SEQ7, 7, FrameType.EVENT, v.LINK_LOST_EVENT_PAYLOAD, id="spec-event"),
        pytest.param(v.HELLO_RESPONSE_SEQ1, 1, FrameType.RESPONSE, v.HELLO_RESPONSE_PAYLOAD, id="hand-hello-response"),
    ],
)
def test_golden_vectors(raw: bytes, seq: int, kind: FrameType, payload: bytes) -> None:
    assert encode_frame(seq, kind, payload) == raw
    assert decode_frame(raw) == Frame(seq, kind, payload)
    assert FrameDecoder().feed(raw, 0.0) == [Frame(seq, kind, payload)]
    assert int.from_bytes(raw[-2:], "big") == v.bitwise_crc16(raw[1:-2])


def test_hand_written_response_crc_is_independent() -> None:
    assert v.bitwise_crc16(v.HELLO_RESPONSE_SEQ1[1:-2]) == v.HELLO_RESPONSE_CRC
    assert len(v.HELLO_RESPONSE_PAYLOAD) == 0x7A
    assert decode_frame(v.HELLO_RESPONSE_SEQ1).json_object()["result"]["max_payload"] == 4096


def _with_crc(body: bytes) -> bytes:
    return b"\x7e" + body + crc16(body).to_bytes(2, "big")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(b"\x7e\x01\x01", "too short", id="short"),
        pytest.param(b"\x00" + v.NAK_SEQ1[1:], "0x7E", id="no-sof"),
        pytest.param(_with_crc(b"\x02\x01\x15\x00\x00"), "VER", id="version-2"),
        pytest.param(_with_crc(b"\x01\x01\x02\x10\x01"), "exceeds", id="len-4097"),
        pytest.param(v.NAK_SEQ1 + b"\x00", "does not match", id="trailing-byte"),
        pytest.param(_with_crc(b"\x01\x01\x09\x00\x02{}"), "TYPE", id="unknown-type"),
        pytest.param(_with_crc(b"\x01\x01\x15\x00\x02{}"), "not valid", id="nak-with-payload"),
        pytest.param(_with_crc(b"\x01\x01\x02\x00\x02[]"), "not valid", id="json-array"),
        pytest.param(_with_crc(b"\x01\x01\x02\x00\x00"), "not valid", id="empty-response"),
        pytest.param(_with_crc(b"\x01\x01\x02\x00\x05\xef\xbb\xbf{}"), "not valid", id="utf8-bom"),
        pytest.param(_with_crc(b'\x01\x01\x02\x00\x09{"a":NaN}'), "not valid", id="nan"),
        pytest.param(_with_crc(b"\x01\x01\x02\x00\x03{\xff}"), "not valid", id="not-utf8"),
    ],
)
def test_decode_frame_rejects(raw: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        decode_frame(raw)


def test_crc_error_carries_both_values() -> None:
    raw = bytearray(v.HELLO_REQUEST_SEQ1)
    raw[-1] ^= 0xFF
    with pytest.raises(CrcError) as caught:
        decode_frame(bytes(raw))
    assert caught.value.expected == 0xA0F0
    assert caught.value.actual == 0xA00F
    assert caught.value.seq == 1


def test_deeply_nested_payload_is_a_frame_error() -> None:
    payload = b"[" * 3000 + b"]" * 3000
    raw = encode_frame(1, FrameType.RESPONSE, payload[:MAX_PAYLOAD_BYTES])
    with pytest.raises(FrameError):
        decode_frame(raw)
    assert FrameDecoder().feed(raw, 0.0) == []


@pytest.mark.parametrize(
    ("seq", "kind", "payload"),
    [
        pytest.param(256, FrameType.REQUEST, b"{}", id="seq"),
        pytest.param(-1, FrameType.REQUEST, b"{}", id="negative-seq"),
        pytest.param(1, FrameType.NAK, b"{}", id="nak-payload"),
        pytest.param(1, FrameType.REQUEST, b" " * (MAX_PAYLOAD_BYTES + 1), id="too-long"),
    ],
)
def test_encode_frame_refuses(seq: int, kind: FrameType, payload: bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        encode_frame(seq, kind, payload)


def test_decoder_reports_each_discard_with_seq_when_header_readable() -> None:
    decoder = FrameDecoder()
    corrupt = bytearray(v.HELLO_REQUEST_SEQ1)
    corrupt[10] ^= 0x01
    stream = b"\x7e\x02" + _with_crc(b"\x01\x05\x02\x20\x00") + bytes(corrupt) + v.NAK_SEQ1
    assert decoder.feed(stream, 1.0) == [Frame(1, FrameType.NAK)]
    discards = decoder.drain_discards()
    assert [(d.reason, d.seq) for d in discards] == [
        (DiscardReason.BAD_VERSION, None),
        (DiscardReason.TOO_LONG, 5),
        (DiscardReason.CRC_MISMATCH, 1),
    ]
    assert all(d.at_s == 1.0 for d in discards)
    assert decoder.drain_discards() == []


def test_hunting_resumes_after_the_discarded_sof() -> None:
    # A noise 0x7E whose "header" swallows the start of a real frame: the real frame still decodes.
    noise = b"\x7e\x01\x09\x02\x00\x03"
    decoder = FrameDecoder()
    assert decoder.feed(noise + v.HELLO_REQUEST_SEQ1, 0.0) == [decode_frame(v.HELLO_REQUEST_SEQ1)]
    assert [d.reason for d in decoder.drain_discards()] == [DiscardReason.CRC_MISMATCH]


def test_sof_inside_payload_and_crc_is_not_a_boundary() -> None:
    payload = b'{"note":"~~~\x7e~"}'
    for seq in range(256):
        raw = encode_frame(seq, FrameType.EVENT, payload)
        assert FrameDecoder().feed(raw, 0.0) == [Frame(seq, FrameType.EVENT, payload)]


def test_noise_between_frames_is_skipped_and_counted() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\xff" + v.NAK_SEQ1 + b"abc" + v.NAK_SEQ1, 0.0) == [Frame(1, FrameType.NAK)] * 2
    assert decoder.skipped_bytes == 5
    assert decoder.drain_discards() == []


def test_inter_byte_timeout_discards_a_partial_frame() -> None:
    decoder = FrameDecoder()
    raw = v.HELLO_REQUEST_SEQ1
    assert decoder.feed(raw[:10], 0.0) == []
    assert decoder.feed(raw[10:], 0.101) == []
    discards = decoder.drain_discards()
    assert discards[0].reason is DiscardReason.INTER_BYTE_TIMEOUT
    assert discards[0].seq == 1
    assert discards[0].data == raw[:10]
    assert decoder.feed(raw, 0.2) == [decode_frame(raw)]  # the decoder is back in sync


def test_a_gap_of_exactly_100_ms_is_not_a_timeout() -> None:
    decoder = FrameDecoder()
    raw = v.HELLO_REQUEST_SEQ1
    assert decoder.feed(raw[:10], 1.0) == []
    assert decoder.feed(raw[10:], 1.1) == [decode_frame(raw)]


def test_feeding_nothing_expires_a_stalled_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(v.HELLO_REQUEST_SEQ1[:3], 0.0)
    assert decoder.buffered_bytes == 3
    decoder.feed(b"", 0.05)
    assert decoder.buffered_bytes == 3
    decoder.feed(b"", 0.5)
    assert decoder.buffered_bytes == 0
    assert [(d.reason, d.seq) for d in decoder.drain_discards()] == [(DiscardReason.INTER_BYTE_TIMEOUT, None)]


def test_expiry_recovers_a_frame_hidden_behind_a_noise_header() -> None:
    # Noise announces 100 payload bytes; the real frame sits inside that span and nothing follows.
    decoder = FrameDecoder()
    assert decoder.feed(b"\x7e\x01\x09\x02\x00\x64" + v.NAK_SEQ1, 0.0) == []
    assert decoder.feed(b"", 0.2) == [Frame(1, FrameType.NAK)]
    assert [d.reason for d in decoder.drain_discards()] == [DiscardReason.INTER_BYTE_TIMEOUT]


def test_resume_forgives_the_gap_while_nobody_read() -> None:
    decoder = FrameDecoder()
    raw = v.HELLO_REQUEST_SEQ1
    decoder.feed(raw[:10], 0.0)
    decoder.resume(5.0)
    assert decoder.feed(raw[10:], 5.01) == [decode_frame(raw)]


def test_unknown_type_with_valid_crc_is_discarded() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(_with_crc(b"\x01\x03\x09\x00\x02{}"), 0.0) == []
    assert [(d.reason, d.seq) for d in decoder.drain_discards()] == [(DiscardReason.UNKNOWN_TYPE, 3)]


def test_reset_drops_a_partial_frame() -> None:
    decoder = FrameDecoder()
    decoder.feed(v.HELLO_REQUEST_SEQ1[:5], 0.0)
    decoder.reset()
    assert decoder.buffered_bytes == 0
    assert decoder.feed(v.NAK_SEQ1, 0.0) == [Frame(1, FrameType.NAK)]
