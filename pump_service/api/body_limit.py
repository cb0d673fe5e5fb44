"""Guard request bodies before the app sees them (pure ASGI middleware): size cap, finite JSON numbers.

- A declared ``Content-Length`` above the cap is answered 413 before a byte is read; a chunked
  (or under-declared) body is counted while it streams and refused as soon as it passes the cap,
  so a client can never make the service buffer more than the cap.
- Python's ``json`` accepts ``NaN``, ``Infinity`` and ``-Infinity``, and reads ``1e400`` as
  infinity; none is a number a pump can be given. A JSON body holding one is answered 422 with
  the location of every such value, whatever the field's type (a ``dict[str, Any]`` field would
  otherwise keep it).

The body read here is handed on to the app unchanged.
"""

import json
import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pump_service.api.problems import ProblemKind, problem_response

__all__ = ["DEFAULT_MAX_BODY_BYTES", "RequestBodyGuard"]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class _NonFinite:
    """Stands in for a NaN/Infinity while the body is searched for them."""


_NON_FINITE = _NonFinite()


class _TooLargeError(Exception):
    pass


def _finite_or_marker(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NON_FINITE


def _non_finite_locations(value: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if value is _NON_FINITE:
        return [path]
    if isinstance(value, dict):
        return [loc for key, item in value.items() for loc in _non_finite_locations(item, (*path, key))]
    if isinstance(value, list):
        return [loc for index, item in enumerate(value) for loc in _non_finite_locations(item, (*path, index))]
    return []


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def _is_json(scope: Scope) -> bool:
    media = (_header(scope, b"content-type") or b"").split(b";")[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


class RequestBodyGuard:
    """Answer 413 for bodies above ``max_body_bytes`` and 422 for JSON bodies with non-finite numbers."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        chunked = b"chunked" in (_header(scope, b"transfer-encoding") or b"").lower()
        if declared is None and not chunked:  # no body at all
            await self.app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        try:
            body, disconnected = await self._read(receive)
        except _TooLargeError:
            await self._too_large(scope, receive, send)
            return
        if body and _is_json(scope):
            refused = _refuse_non_finite(body)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, _replay(body, disconnected, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks), True
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _TooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), False

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413,
            ProblemKind.BODY_TOO_LARGE,
            "Request body too large",
            f"the request body is larger than {self.max_body_bytes} bytes; nothing was read or stored",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _refuse_non_finite(body: bytes) -> Any:
    try:
        parsed = json.loads(body, parse_constant=lambda _name: _NON_FINITE, parse_float=_finite_or_marker)
    except ValueError:  # not JSON (or not UTF-8): FastAPI answers it as a malformed body
        return None
    locations = _non_finite_locations(parsed)
    if not locations:
        return None
    errors = [
        {
            "loc": ["body", *loc],
            "msg": "not a finite number (NaN, Infinity and overflowing numbers are refused)",
            "type": "finite_number",
        }
        for loc in locations
    ]
    where = ".".join(str(p) for p in errors[0]["loc"])
    return problem_response(
        422, ProblemKind.VALIDATION, "Invalid request", f"{where}: not a finite number", errors=errors
    )


def _replay(body: bytes, disconnected: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if disconnected:
            return {"type": "http.disconnect"}
        return await receive()

    return replay
