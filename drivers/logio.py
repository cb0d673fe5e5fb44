"""Frame traces: a JSON-lines writer usable as a session frame listener.

One line per record, in the order the session saw them::

    {"t_s": 12.504, "dir": "tx", "seq": 17, "type": "REQUEST", "len": 25, "attempt": 0,
     "payload": {"cmd": "HELLO", "args": {}}}
    {"t_s": 12.611, "dir": "rx", "seq": 17, "type": "RESPONSE", "len": 98, "hex": "7e0111..."}
    {"t_s": 13.020, "dir": "rx", "discard": "crc_mismatch", "seq": 18, "len": 40, "hex": "7e01..."}

``t_s`` is the session clock's monotonic time. With ``payload="json"`` (the default) frames carry
their parsed payload, with ``payload="hex"`` the exact frame bytes; discards always carry their
bytes in hex, since they are not valid JSON by definition. Traces hold what the pump said,
which may include the drug and the prescription but never patient identity (HPP/1 carries none).
"""

import json
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TextIO

from drivers.errors import FrameError
from drivers.session import DiscardRecord, TraceRecord

__all__ = ["FrameTraceWriter", "trace_line"]


def trace_line(record: TraceRecord, *, payload: Literal["json", "hex"] = "json") -> dict[str, Any]:
    """The JSON object written for ``record``."""
    if isinstance(record, DiscardRecord):
        d = record.discard
        return {
            "t_s": round(record.at_s, 6),
            "dir": "rx",
            "discard": d.reason.value,
            "seq": d.seq,
            "len": len(d.data),
            "hex": d.data.hex(),
        }
    frame = record.frame
    line: dict[str, Any] = {
        "t_s": round(record.at_s, 6),
        "dir": record.direction.value,
        "seq": frame.seq,
        "type": frame.type.name,
        "len": len(frame.payload),
    }
    if record.attempt:
        line["attempt"] = record.attempt
    if payload == "json" and frame.payload:
        try:
            line["payload"] = frame.json_object()
        except FrameError:
            line["hex"] = record.raw.hex()
    else:
        line["hex"] = record.raw.hex()
    return line


class FrameTraceWriter:
    """Writes :func:`trace_line` objects as JSON lines to ``stream``; pass it to ``add_frame_listener``.

    Args:
        stream: a text stream opened by the caller (or use :meth:`open`).
        payload: ``"json"`` to write parsed payloads, ``"hex"`` for raw frame bytes.
    """

    def __init__(self, stream: TextIO, *, payload: Literal["json", "hex"] = "json") -> None:
        self._stream = stream
        self._payload: Literal["json", "hex"] = payload
        self._owns_stream = False
        self.records = 0

    @classmethod
    def open(cls, path: Path, *, payload: Literal["json", "hex"] = "json") -> Self:
        """Append to the file at ``path``; :meth:`close` (or ``with``) closes it."""
        writer = cls(path.open("a", encoding="utf-8"), payload=payload)
        writer._owns_stream = True
        return writer

    def __call__(self, record: TraceRecord, /) -> None:
        self._stream.write(json.dumps(trace_line(record, payload=self._payload), ensure_ascii=False) + "\n")
        self._stream.flush()
        self.records += 1

    def close(self) -> None:
        if self._owns_stream:
            self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
