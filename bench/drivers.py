"""Driver figures: HPP/1 frames encoded and decoded per second, and STATUS results parsed per second."""

import json

from bench import Result, best_rate
from bench.sizes import sized
from drivers.framing import FrameDecoder, FrameType, encode_frame
from drivers.messages import parse_status

# A STATUS response like the spec's example (about 600 bytes of payload).
STATUS_RESULT = {
    "pump": {"serial": "SM2-00417", "model": "programmable-20", "family": "programmable"},
    "clock": "2026-11-22T09:14:05Z",
    "reservoir": "11.84 mL",
    "reservoir_capacity": "20 mL",
    "low_reservoir_alarm": "2 mL",
    "drug": {"name": "baclofen", "concentration": "2000 ug/mL"},
    "prescription": {"rx_id": "a91f", "mode": "continuous", "rate": "0.25 mL/d"},
    "battery": {"state": "OK", "months_to_eri": 31},
    "alarms": [{"code": "LOW_RESERVOIR", "since": "2026-11-20T03:00:00Z"}],
    "log": {"first": 0, "next": 5120},
}
PAYLOAD = json.dumps({"ok": True, "result": STATUS_RESULT}).encode()
FRAMES = sized(2_000, 20)
PARSES = sized(500, 10)
REPEATS = sized(5, 1)  # best of: the machine is shared


def _encode() -> float:
    def work() -> int:
        for i in range(FRAMES):
            encode_frame(i & 0xFF, FrameType.RESPONSE, PAYLOAD)
        return FRAMES

    return best_rate(work, repeats=REPEATS)


def _decode(chunk_bytes: int | None) -> float:
    stream = b"".join(encode_frame(i & 0xFF, FrameType.RESPONSE, PAYLOAD) for i in range(FRAMES))
    step = chunk_bytes or len(stream)
    chunks = [stream[i : i + step] for i in range(0, len(stream), step)]

    def work() -> int:
        decoder = FrameDecoder()
        count = 0
        for n, chunk in enumerate(chunks):
            count += len(decoder.feed(chunk, n * 1e-4))
        if count != FRAMES:  # a bench that decodes nothing must not report a rate
            raise RuntimeError(f"decoded {count} of {FRAMES} frames")
        return count

    return best_rate(work, repeats=REPEATS)


def _parse_status() -> float:
    def work() -> int:
        for _ in range(PARSES):
            parse_status(STATUS_RESULT)
        return PARSES

    return best_rate(work, repeats=REPEATS)


def run() -> list[Result]:
    return [
        Result("drivers.encode_status_frame", _encode(), "frames/s", True),
        Result("drivers.decode_status_frames_one_chunk", _decode(None), "frames/s", True),
        Result("drivers.decode_status_frames_64_byte_chunks", _decode(64), "frames/s", True),
        Result("drivers.parse_status_result", _parse_status(), "results/s", True),
    ]
