"""Problem documents (RFC 9457 ``application/problem+json``): the one shape of every error the API returns.

Every handler (validation, service errors, storage, auth, unknown routes) builds its answer with
:func:`problem_response`, so a client reads ``type`` (a stable URN per kind), ``title``,
``status``, ``detail`` and, for input errors, ``errors``: one ``{loc, msg, type}`` per offending
value, ``loc`` starting with where it really is (``body``, ``query``, ``path`` or ``header``).
"""

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from pump_service.metrics import HTTP_PROBLEMS

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Problem",
    "ProblemError",
    "ProblemKind",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemKind(StrEnum):
    """The kinds of problem; each becomes the URN ``urn:pump-service:problem:<value>``."""

    VALIDATION = "validation"  # a request value that does not fit its declared type or bounds
    MALFORMED_BODY = "malformed-body"  # not JSON at all
    RULE_VIOLATION = "rule-violation"  # well-formed, but a domain rule refuses it
    HARD_STOP = "hard-stop"  # a safety finding that needs a clinician's override
    NOT_FOUND = "not-found"
    METHOD_NOT_ALLOWED = "method-not-allowed"
    CONFLICT = "conflict"
    BAD_REQUEST = "bad-request"
    BODY_TOO_LARGE = "body-too-large"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    TOO_MANY_REQUESTS = "too-many-requests"
    LOGIN_THROTTLED = "login-throttled"
    DEVICE_UNAVAILABLE = "device-unavailable"
    STORAGE_UNAVAILABLE = "storage-unavailable"
    UNHEALTHY = "unhealthy"
    HTTP_ERROR = "http-error"  # any other HTTP status raised by the framework
    INTERNAL = "internal"

    @property
    def urn(self) -> str:
        return f"urn:pump-service:problem:{self.value}"


class ProblemError(BaseModel):
    """One offending value: where it is, what is wrong, and a machine-readable error type."""

    loc: list[str | int] = Field(description="'body', 'query', 'path' or 'header', then the field path")
    msg: str
    type: str


class Problem(BaseModel):
    """The body of every error response (kinds may add members, e.g. a hard stop's ``findings``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="a stable URN per kind, e.g. urn:pump-service:problem:validation")
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = Field(None, description="input errors, one per offending value")


def problem_response(
    status: int,
    kind: ProblemKind,
    title: str,
    detail: str,
    *,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """An ``application/problem+json`` response; ``extra`` adds kind-specific members. Counted in ``/metrics``."""
    HTTP_PROBLEMS.labels(status=str(status), kind=kind.value).inc()
    body: dict[str, Any] = {"type": kind.urn, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = [
            {"loc": [p if isinstance(p, int) else str(p) for p in e["loc"]], "msg": str(e["msg"]), "type": e["type"]}
            for e in errors
        ]
    if extra:
        body.update(extra)
    return JSONResponse(status_code=status, content=body, media_type=PROBLEM_MEDIA_TYPE, headers=dict(headers or {}))
