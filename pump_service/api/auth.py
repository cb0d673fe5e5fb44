"""Who is asking: the request's principal, from a bearer token (API) or the login-session cookie (pages).

Every route names the permission it needs (``Depends(require(Permission.X))``). The principal
dependency is ``async`` and does its database lookup in the thread pool, so what it sets for the
request (``request.state.principal`` and the :func:`~pump_service.services.actor.acting_as`
context) is seen by the endpoint and by every later dependency. A cookie-authenticated unsafe
request must carry the session's CSRF token (``X-CSRF-Token`` header or ``csrf_token`` form field):
the cookie is sent by the browser on its own, the token only by the station's own pages.
"""

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from pump_service.domain.access import Permission, Role, allows
from pump_service.errors import AuthenticationError, PermissionDeniedError
from pump_service.persistence.db import read_transaction, transaction
from pump_service.services.accounts import AccessPolicy, resolve_session, resolve_token, usable_station
from pump_service.services.actor import Actor, acting_as
from pump_service.settings import Settings
from schemas.clock import Clock

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CurrentPrincipal",
    "PageForbiddenError",
    "Principal",
    "RouteGuard",
    "SignInRequiredError",
    "api_routes",
    "current_principal",
    "principal_of",
    "require",
    "require_page",
    "route_guard",
]

SESSION_COOKIE = "pump_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in account of a request and the station it acts from."""

    user_id: str  # the account's username; becomes Actor.user
    role: Role
    station_id: str  # the station the session or token is bound to
    session_id: str | None  # None for bearer tokens
    csrf_token: str | None  # the login session's CSRF token (None for bearer tokens)

    def actor(self) -> Actor:
        return Actor(user=self.user_id, station_id=self.station_id, role=self.role)

    def may(self, permission: Permission) -> bool:
        return allows(self.role, permission)


class SignInRequiredError(Exception):
    """A page needs a signed-in user: answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in required")
        self.location = f"/login?next={quote(next_path, safe='/')}"


class PageForbiddenError(Exception):
    """A signed-in user opened a page their role may not use: answered with a 403 page."""

    def __init__(self, principal: Principal, permission: Permission) -> None:
        super().__init__(f"the {principal.role} role may not {permission.value.replace('_', ' ')}")
        self.principal = principal
        self.permission = permission


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _look_up(engine: Engine, clock: Clock, policy: AccessPolicy, bearer: str | None, cookie: str | None) -> Principal:
    """Resolve the credentials in one short transaction.

    A bearer token is only read (a snapshot that never waits for a writer's turn, so reads are not
    queued behind refills); a login session's last use is recorded, which needs a write.
    """
    now = clock.now()
    if bearer is not None:
        with read_transaction(engine) as session:
            token, user = resolve_token(session, bearer, now=now)
            usable_station(session, token.station_id, user.role)
            return Principal(
                user_id=user.username, role=user.role, station_id=token.station_id, session_id=None, csrf_token=None
            )
    if not cookie:
        raise AuthenticationError("sign in, or send 'Authorization: Bearer <token>'")
    with transaction(engine) as session:
        login, user = resolve_session(session, cookie, now=now, policy=policy)
        usable_station(session, login.station_id, user.role)
        return Principal(
            user_id=user.username,
            role=user.role,
            station_id=login.station_id,
            session_id=login.id,
            csrf_token=login.csrf_token,
        )


async def _check_csrf(request: Request, expected: str) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PermissionDeniedError("missing or wrong CSRF token: reload the page and try again")


async def principal_of(request: Request) -> Principal:
    """The request's principal, resolved once per request (for routes that handle "not signed in" themselves)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    settings: Settings = request.app.state.settings
    policy = AccessPolicy.from_settings(settings)
    bearer = _bearer(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    principal = await run_in_threadpool(
        _look_up, request.app.state.engine, request.app.state.clock, policy, bearer, cookie
    )
    if principal.session_id is not None and request.method not in _SAFE_METHODS:
        await _check_csrf(request, principal.csrf_token or "")
    request.state.principal = principal
    return principal


async def current_principal(request: Request) -> AsyncIterator[Principal]:
    """The request's principal; the request runs as its actor.

    Raises:
        AuthenticationError: no, a malformed, expired or revoked credential (401).
        PermissionDeniedError: a cookie request without its CSRF token, or an unusable station (403).
    """
    principal = await principal_of(request)
    with acting_as(principal.actor()):
        yield principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


# Each guard made by require/require_page and the permission it checks (one guard per permission).
_PERMISSION_OF: dict[Callable[..., object], Permission] = {}


@cache
def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """API dependency: the principal, if its role has ``permission`` (else 403 problem)."""

    async def _require(principal: CurrentPrincipal) -> Principal:
        if not principal.may(permission):
            raise PermissionDeniedError(f"the {principal.role} role may not {permission.value.replace('_', ' ')}")
        return principal

    _require.__name__ = f"require_{permission.value}"
    _PERMISSION_OF[_require] = permission
    return _require


@cache
def require_page(permission: Permission) -> Callable[[Request], AsyncIterator[Principal]]:
    """Page dependency: the principal; not signed in → 303 to the login page; forbidden → 403 page."""

    async def _require_page(request: Request) -> AsyncIterator[Principal]:
        try:
            principal = await principal_of(request)
        except AuthenticationError as exc:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequiredError(target) from exc
        if not principal.may(permission):
            raise PageForbiddenError(principal, permission)
        with acting_as(principal.actor()):
            yield principal

    _require_page.__name__ = f"require_page_{permission.value}"
    _PERMISSION_OF[_require_page] = permission
    return _require_page


@dataclass(frozen=True, slots=True)
class RouteGuard:
    """What a route asks of its caller: a signed-in principal, and ``permission`` unless it is None."""

    permission: Permission | None


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute under ``routes`` (``app.routes``), into included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)  # FastAPI's included router
        if nested is not None:
            yield from api_routes(nested.routes)


def route_guard(route: APIRoute) -> RouteGuard | None:
    """The guard of ``route`` (its strictest permission), or None when anyone may call it."""
    found: list[Permission | None] = []
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        call = dependency.call
        if call is not None and call in _PERMISSION_OF:
            found.append(_PERMISSION_OF[call])
        elif call is current_principal:
            found.append(None)
        pending.extend(dependency.dependencies)
    if not found:
        return None
    named = [permission for permission in found if permission is not None]
    return RouteGuard(permission=named[0] if named else None)
