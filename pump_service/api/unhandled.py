"""The last guard around the app (pure ASGI middleware): an unexpected error is a 500 problem, logged by its type only.

Starlette answers an exception no handler takes with the app's ``Exception`` handler, then
re-raises it, and the server logs it with its message and traceback: a message may hold a
patient reference or a value from the request. This guard, inside Starlette's, answers the
500 problem itself and logs the exception's type and the route, nothing more. A storage
condition that reaches it (a middleware's database work during an outage) is a 503 problem
with Retry-After, as it is from a route.
"""

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pump_service.api.errors import storage_unavailable_of, storage_unavailable_response
from pump_service.api.problems import ProblemKind, problem_response

__all__ = ["UnhandledErrorGuard"]

_log = structlog.get_logger(__name__)


class UnhandledErrorGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # the boundary: every error becomes a problem here
            _log.error("unhandled error", error_type=type(exc).__name__, method=scope.get("method"), path=scope["path"])
            if started:  # the answer is under way: nothing more can be sent; the server closes it
                return
            unavailable = storage_unavailable_of(exc)  # a middleware's own database work can meet an outage too
            if unavailable is not None:
                await storage_unavailable_response(unavailable)(scope, receive, send)
                return
            response = problem_response(
                500, ProblemKind.INTERNAL, "Internal error", "the request failed unexpectedly; nothing was stored"
            )
            await response(scope, receive, send)
