"""Sign-in and sign-out pages, and how a page answers someone not signed in or not allowed.

The session cookie is HttpOnly and SameSite=Strict, and Secure unless the server listens only on
loopback (``Settings.cookie_secure``). The last station chosen is remembered in a plain cookie:
it is a preference, not a credential.
"""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pump_service.api.auth import SESSION_COOKIE, PageForbiddenError, SignInRequiredError, principal_of
from pump_service.api.errors import problem
from pump_service.errors import AuthenticationError, ServiceError
from pump_service.persistence.db import transaction
from pump_service.services.accounts import (
    AccessPolicy,
    LoginThrottledError,
    close_session,
    list_stations,
    open_session,
    usable_station,
    verify_credentials,
)
from pump_service.settings import Settings
from pump_service.web.templating import render

__all__ = ["STATION_COOKIE", "install_login", "router"]

STATION_COOKIE = "pump_station"
router = APIRouter(include_in_schema=False)


def _local_path(target: str | None) -> str:
    """``target`` if it is a path on this server, else ``/`` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def _login_page(
    request: Request, *, next_path: str, error: str | None = None, status_code: int = 200, username: str = ""
) -> HTMLResponse:
    with transaction(request.app.state.engine) as session:
        stations = list_stations(session, include_disabled=False)
    chosen = request.cookies.get(STATION_COOKIE) or ""
    if stations and chosen not in {s.id for s in stations}:
        chosen = stations[0].id
    messages = [{"level": "error", "text": error}] if error else []
    context = {
        "title": "Sign in",
        "stations": stations,
        "chosen_station": chosen,
        "next": next_path,
        "username": username,
        "messages": messages,
    }
    return render(request, "login.html", context, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return _login_page(request, next_path=_local_path(next))


def _wants_problem(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" in accept and "html" not in accept


@router.post("/login", response_model=None)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    station: Annotated[str, Form(max_length=64)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the credentials (a failure is counted even though it is refused) and open a session."""
    settings: Settings = request.app.state.settings
    policy = AccessPolicy.from_settings(settings)
    now = request.app.state.clock.now()
    target = _local_path(next)
    failure: ServiceError | None = None
    token = ""
    with transaction(request.app.state.engine) as session:
        try:
            user = verify_credentials(session, username, password, now=now, policy=policy)
            usable_station(session, station, user.role)
            token = open_session(session, user, station, now=now, policy=policy).token
        except ServiceError as exc:
            failure = exc  # the transaction still commits the counted failure
    if failure is not None:
        status = (
            429
            if isinstance(failure, LoginThrottledError)
            else 403
            if not isinstance(failure, AuthenticationError)
            else 401
        )
        if _wants_problem(request):
            if isinstance(failure, LoginThrottledError):
                return problem(
                    429,
                    "Too many failed sign-ins",
                    str(failure),
                    kind="login-throttled",
                    headers={"Retry-After": str(failure.retry_after_s)},
                )
            kind = "unauthenticated" if status == 401 else "forbidden"
            return problem(status, "Sign-in refused", str(failure), kind=kind)
        page = _login_page(request, next_path=target, error=str(failure), status_code=status, username=username)
        if isinstance(failure, LoginThrottledError):
            page.headers["Retry-After"] = str(failure.retry_after_s)
        return page
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(policy.session_max_age.total_seconds()),
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        STATION_COOKIE, station, max_age=365 * 86400, path="/", samesite="strict", secure=settings.session_cookie_secure
    )
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request) -> Response:
    """End the session (CSRF-checked) and go back to the sign-in page; an ended session just goes back."""
    response = RedirectResponse("/login", status_code=303)
    try:
        principal = await principal_of(request)
    except AuthenticationError:
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    if principal.session_id is not None:
        with transaction(request.app.state.engine) as session:
            close_session(session, principal.session_id, now=request.app.state.clock.now())
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _sign_in(request: Request, exc: Exception) -> Response:
    location = getattr(exc, "location", "/login")
    return RedirectResponse(location, status_code=303)


def _forbidden_page(request: Request, exc: Exception) -> Response:
    principal = getattr(exc, "principal", None)
    if principal is not None:
        request.state.principal = principal
    return render(request, "forbidden.html", {"title": "Not allowed", "reason": str(exc)}, status_code=403)


def install_login(app: FastAPI) -> None:
    """The sign-in routes and the pages' answers to 'not signed in' and 'not allowed'."""
    app.include_router(router)
    app.add_exception_handler(SignInRequiredError, _sign_in)
    app.add_exception_handler(PageForbiddenError, _forbidden_page)
