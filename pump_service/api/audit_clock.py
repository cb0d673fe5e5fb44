"""Every request's changes are stamped in the audit trail with the app's injected clock.

A pure ASGI middleware: the clock is set in the request's own context, which the thread pool
running the endpoint and its dependencies copies, so every flush of the request sees it.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from pump_service.services.audit import audit_clock

__all__ = ["AuditClockMiddleware"]


class AuditClockMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with audit_clock(scope["app"].state.clock):
            await self.app(scope, receive, send)
