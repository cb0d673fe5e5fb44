"""Properties of the frame codec under hypothesis: round trips, chunking, garbage, timeouts."""

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import FrameError
from drivers.framing import DiscardReason, Frame, FrameDecoder, FrameType, crc16, decode_frame, encode_frame
from tests.drivers.vectors import bitwise_crc16

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=6)


def _payload(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    kind = draw(st.sampled_from(FrameType))
    payload = b"" if kind is FrameType.NAK else _payload(draw(json_objects))
    return Frame(draw(st.integers(0, 255)), kind, payload)


@given(st.binary(max_size=300))
def test_crc16_matches_a_bitwise_reference(data: bytes) -> None:
    assert crc16(data) == bitwise_crc16(data)


@given(frames())
def test_encode_decode_round_trip(frame: Frame) -> None:
    raw = encode_frame(frame.seq, frame.type, frame.payload)
    assert decode_frame(raw) == frame
    assert FrameDecoder().feed(raw, 0.0) == [frame]
    if frame.type is not FrameType.NAK:
        assert frame.json_object() == json.loads(frame.payload)


@given(st.lists(frames(), min_size=1, max_size=6), st.data())
def test_a_stream_in_random_chunks_gives_the_same_frames(sent: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(f.to_bytes() for f in sent)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(stream) - 1), max_size=20)))
    gaps = data.draw(st.lists(st.floats(0.0, 0.1), min_size=len(cuts) + 1, max_size=len(cuts) + 1))
    decoder = FrameDecoder()
    got: list[Frame] = []
    now_s = 0.0
    for gap, start, end in zip(gaps, [0, *cuts], [*cuts, len(stream)], strict=True):
        now_s += gap
        got += decoder.feed(stream[start:end], now_s)
    assert got == sent
    assert decoder.drain_discards() == []
    assert decoder.buffered_bytes == 0


@settings(max_examples=300)
@given(st.binary(max_size=600), st.integers(1, 64))
def test_garbage_never_raises_and_never_yields_a_frame(garbage: bytes, chunk: int) -> None:
    decoder = FrameDecoder()
    got: list[Frame] = []
    for i in range(0, len(garbage), chunk):
        got += decoder.feed(garbage[i : i + chunk], i * 0.001)
    got += decoder.feed(b"", 10.0)
    assert got == []
    assert decoder.buffered_bytes == 0
    with contextlib.suppress(FrameError):
        decode_frame(garbage)


@given(st.binary(max_size=40).map(lambda b: b"\x7e\x01" + b))
def test_garbage_that_looks_like_a_header_only_raises_frame_errors(garbage: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_frame(garbage)
    assert FrameDecoder().feed(garbage, 0.0) == []


@given(st.lists(st.tuples(st.binary(max_size=30), frames()), min_size=1, max_size=4), st.binary(max_size=30))
def test_garbage_interleaved_with_frames_still_yields_the_frames(
    pieces: list[tuple[bytes, Frame]], tail: bytes
) -> None:
    stream = b"".join(garbage + frame.to_bytes() for garbage, frame in pieces) + tail
    decoder = FrameDecoder()
    got = decoder.feed(stream, 0.0) + decoder.feed(b"", 1.0)  # the idle line ends any noise "frame"
    assert got == [frame for _, frame in pieces]


@given(frames(), st.data())
def test_a_gap_inside_a_frame_discards_it(frame: Frame, data: st.DataObject) -> None:
    raw = frame.to_bytes()
    cut = data.draw(st.integers(1, len(raw) - 1))
    gap = data.draw(st.floats(0.1001, 5.0))
    decoder = FrameDecoder()
    got = decoder.feed(raw[:cut], 0.0) + decoder.feed(raw[cut:], gap) + decoder.feed(b"", gap + 1.0)
    assert got == []
    assert DiscardReason.INTER_BYTE_TIMEOUT in {d.reason for d in decoder.drain_discards()}
