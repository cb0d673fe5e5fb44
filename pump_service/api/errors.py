"""Map every error to one ``application/problem+json`` answer (the service → HTTP boundary).

One handler per family: request validation (422, malformed JSON 400), the framework's HTTP errors
(unknown route 404, 405 with Allow), each :class:`ServiceError` family, storage failures (503 with
Retry-After: a database that is locked, full, read-only or gone, or a pool with no free
connection) and, last, anything unexpected (a 500 problem; logged by exception type only, never
with the request body or patient data).
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pump_service.api.problems import ProblemKind, problem_response
from pump_service.domain.findings import HardStopError
from pump_service.errors import (
    AuthenticationError,
    ConflictError,
    DeviceError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    ServiceError,
    StorageUnavailableError,
)
from pump_service.persistence.storage_failure import storage_failure
from pump_service.services.accounts import LoginThrottledError
from schemas.units import UnitError

__all__ = ["install_error_handlers", "problem", "storage_unavailable_of", "storage_unavailable_response"]

_log = structlog.get_logger(__name__)

POOL_BUSY = "every database connection is in use; nothing was stored, retry shortly"
POOL_BUSY_RETRY_AFTER_S = 2

_HTTP_KINDS = {
    400: (ProblemKind.BAD_REQUEST, "Bad request"),
    401: (ProblemKind.UNAUTHENTICATED, "Not signed in"),
    403: (ProblemKind.FORBIDDEN, "Not allowed"),
    404: (ProblemKind.NOT_FOUND, "Not found"),
    405: (ProblemKind.METHOD_NOT_ALLOWED, "Method not allowed"),
    409: (ProblemKind.CONFLICT, "Conflict"),
    413: (ProblemKind.BODY_TOO_LARGE, "Request body too large"),
    429: (ProblemKind.TOO_MANY_REQUESTS, "Too many requests"),
}


def _loc_text(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _clean_errors(raw: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``{loc, msg, type}`` only: the offending input is never echoed back (it may be anything)."""
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")).removeprefix("Value error, "), "type": e["type"]}
        for e in raw
    ]


def _validation(request: Request, exc: Exception) -> JSONResponse:
    raw = exc.errors() if isinstance(exc, RequestValidationError) else []
    errors = _clean_errors(raw)
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(
            400,
            ProblemKind.MALFORMED_BODY,
            "Malformed request body",
            "the body is not valid JSON: " + "; ".join(f"{_loc_text(e['loc'])}: {e['msg']}" for e in errors),
            errors=errors,
        )
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem_response(
        422,
        ProblemKind.VALIDATION,
        "Invalid request",
        f"{_loc_text(first['loc'])}: {first['msg']}{more}",
        errors=errors,
    )


def _rule_violation(request: Request, exc: Exception) -> JSONResponse:
    field = getattr(exc, "field", None)
    location = getattr(exc, "location", "body")
    loc: list[str | int] = [location, *field.split(".")] if field else [location]
    return problem_response(
        422,
        ProblemKind.RULE_VIOLATION,
        "Refused by a rule",
        str(exc),
        errors=[{"loc": loc, "msg": str(exc), "type": "rule_violation"}],
    )


def _hard_stop(request: Request, exc: Exception) -> JSONResponse:
    """A hard stop: a problem document with every finding, so the station can show why and ask for an override."""
    findings = getattr(exc, "findings", ())
    unresolved = getattr(exc, "unresolved", ())
    return problem_response(
        422,
        ProblemKind.HARD_STOP,
        "Hard stop: the refill needs a clinician's override",
        str(exc),
        extra={"unresolved": [f.code.value for f in unresolved], "findings": [f.as_dict() for f in findings]},
    )


def _service_error(status: int, kind: ProblemKind, title: str):  # type: ignore[no-untyped-def]
    def handler(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(status, kind, title, str(exc))

    return handler


def _storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
    _log.warning("storage unavailable", path=request.url.path, reason=str(exc))
    return storage_unavailable_response(exc)


def storage_unavailable_response(exc: BaseException) -> JSONResponse:
    """The 503 problem (with Retry-After) for a storage condition: nothing was stored, retry."""
    retry_after = getattr(exc, "retry_after_s", 5)
    return problem_response(
        503,
        ProblemKind.STORAGE_UNAVAILABLE,
        "Storage unavailable",
        str(exc),
        headers={"Retry-After": str(retry_after)},
    )


def storage_unavailable_of(exc: BaseException) -> StorageUnavailableError | None:
    """``exc`` as the storage condition it is (locked, full, gone, every connection busy), else None (a bug)."""
    if isinstance(exc, StorageUnavailableError):
        return exc
    if isinstance(exc, PoolTimeoutError):  # every pooled connection is in use: the database is busy
        return StorageUnavailableError(POOL_BUSY, retry_after_s=POOL_BUSY_RETRY_AFTER_S)
    failure = storage_failure(exc)
    if failure is None:
        return None
    return StorageUnavailableError(failure.explanation, retry_after_s=failure.retry_after_s)


def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A driver or pool error that escaped ``transaction()``: a storage condition is a 503, anything else a 500."""
    unavailable = storage_unavailable_of(exc)
    if unavailable is None:
        return _internal(request, exc)
    return _storage_unavailable(request, unavailable)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", None)
    kind, title = _HTTP_KINDS.get(status, (ProblemKind.HTTP_ERROR, "HTTP error"))
    if status == 404 and detail in (None, "Not Found"):
        detail = f"no route {request.url.path}"
    headers = dict(getattr(exc, "headers", None) or {})
    if status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        allowed = _allowed_methods(request, headers.get("Allow"))
        if allowed:
            headers["Allow"] = allowed
    return problem_response(status, kind, title, str(detail or title), headers=headers or None)


def _allowed_methods(request: Request, fallback: str | None) -> str | None:
    """Every documented method on this path (Starlette's own Allow names only one route's methods)."""
    path = request.scope["path"]
    methods = {
        method.upper()
        for template, item in request.app.openapi().get("paths", {}).items()
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path)
        for method in item
    }
    return ", ".join(sorted(methods)) if methods else fallback


def problem(status: int, title: str, detail: str, *, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem document of ``kind`` (a :class:`ProblemKind` value), for callers outside this module."""
    return problem_response(status, ProblemKind(kind), title, detail, headers=headers)


def _unauthenticated(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        401, ProblemKind.UNAUTHENTICATED, "Not signed in", str(exc), headers={"WWW-Authenticate": "Bearer"}
    )


def _forbidden(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(403, ProblemKind.FORBIDDEN, "Not allowed", str(exc))


def _throttled(request: Request, exc: Exception) -> JSONResponse:
    retry = str(getattr(exc, "retry_after_s", 60))
    return problem_response(
        429, ProblemKind.LOGIN_THROTTLED, "Too many failed sign-ins", str(exc), headers={"Retry-After": retry}
    )


def _internal(request: Request, exc: Exception) -> JSONResponse:
    # Only the type and the route: the message or the body may carry patient data.
    _log.error("unhandled error", error_type=type(exc).__name__, method=request.method, path=request.url.path)
    return problem_response(
        500, ProblemKind.INTERNAL, "Internal error", "the request failed unexpectedly; nothing was stored"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler; the most specific class wins (Starlette walks the exception's MRO)."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(HardStopError, _hard_stop)
    app.add_exception_handler(LoginThrottledError, _throttled)
    app.add_exception_handler(AuthenticationError, _unauthenticated)
    app.add_exception_handler(PermissionDeniedError, _forbidden)
    app.add_exception_handler(RuleViolationError, _rule_violation)
    app.add_exception_handler(UnitError, _rule_violation)
    app.add_exception_handler(NotFoundError, _service_error(404, ProblemKind.NOT_FOUND, "Not found"))
    app.add_exception_handler(ConflictError, _service_error(409, ProblemKind.CONFLICT, "Conflict"))
    app.add_exception_handler(
        DeviceError, _service_error(503, ProblemKind.DEVICE_UNAVAILABLE, "The programmer or pump did not answer")
    )
    app.add_exception_handler(StorageUnavailableError, _storage_unavailable)
    app.add_exception_handler(ServiceError, _service_error(400, ProblemKind.BAD_REQUEST, "Refused"))
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(Exception, _internal)
