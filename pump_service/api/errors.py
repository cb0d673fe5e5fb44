"""Map service errors to HTTP: one status per family, FastAPI's own 422 shape for rule violations."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pump_service.domain.findings import HardStopError
from pump_service.errors import (
    AuthenticationError,
    ConflictError,
    DeviceError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    ServiceError,
)
from pump_service.services.accounts import LoginThrottledError
from schemas.units import UnitError

__all__ = ["install_error_handlers", "problem"]


def _rule_violation(request: Request, exc: Exception) -> JSONResponse:
    field = getattr(exc, "field", None)
    loc = ["body", *field.split(".")] if field else ["body"]
    detail = [{"loc": loc, "msg": str(exc), "type": "rule_violation"}]
    return JSONResponse(status_code=422, content={"detail": detail})


def _hard_stop(request: Request, exc: Exception) -> JSONResponse:
    """A hard stop: a problem document with every finding, so the station can show why and ask for an override."""
    findings = getattr(exc, "findings", ())
    unresolved = getattr(exc, "unresolved", ())
    body = {
        "type": "urn:pump-service:problem:hard-stop",
        "title": "Hard stop: the refill needs a clinician's override",
        "status": 422,
        "detail": str(exc),
        "unresolved": [f.code.value for f in unresolved],
        "findings": [f.as_dict() for f in findings],
    }
    return JSONResponse(status_code=422, content=body, media_type="application/problem+json")


def problem(status: int, title: str, detail: str, *, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 9457 problem document (type, title, status, detail)."""
    body = {"type": f"urn:pump-service:problem:{kind}", "title": title, "status": status, "detail": detail}
    return JSONResponse(status_code=status, content=body, media_type="application/problem+json", headers=headers)


def _unauthenticated(request: Request, exc: Exception) -> JSONResponse:
    return problem(401, "Not signed in", str(exc), kind="unauthenticated", headers={"WWW-Authenticate": "Bearer"})


def _forbidden(request: Request, exc: Exception) -> JSONResponse:
    return problem(403, "Not allowed", str(exc), kind="forbidden")


def _throttled(request: Request, exc: Exception) -> JSONResponse:
    retry = str(getattr(exc, "retry_after_s", 60))
    return problem(429, "Too many failed sign-ins", str(exc), kind="login-throttled", headers={"Retry-After": retry})


def _status(status: int):  # type: ignore[no-untyped-def]
    def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(status_code=status, content={"detail": str(exc)})

    return handler


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HardStopError, _hard_stop)
    app.add_exception_handler(LoginThrottledError, _throttled)
    app.add_exception_handler(AuthenticationError, _unauthenticated)
    app.add_exception_handler(PermissionDeniedError, _forbidden)
    app.add_exception_handler(RuleViolationError, _rule_violation)
    app.add_exception_handler(UnitError, _rule_violation)
    app.add_exception_handler(NotFoundError, _status(404))
    app.add_exception_handler(ConflictError, _status(409))
    app.add_exception_handler(DeviceError, _status(503))
    app.add_exception_handler(ServiceError, _status(400))
