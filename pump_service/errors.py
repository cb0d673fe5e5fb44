"""The service's exception tree.

``api/errors.py`` maps each family to one HTTP status; the CLI maps them to exit code 2 (bad
input) or 1 (everything else).
"""

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DeviceError",
    "DeviceOutcomeUnknownError",
    "NotFoundError",
    "PermissionDeniedError",
    "RuleViolationError",
    "ServiceError",
    "StorageUnavailableError",
]


class ServiceError(Exception):
    """Root of every error the service raises on purpose."""


class NotFoundError(ServiceError, LookupError):
    """A pump, patient or refill that does not exist (HTTP 404)."""


class ConflictError(ServiceError):
    """The request collides with what is stored: a duplicate serial, a stale version (HTTP 409)."""


class RuleViolationError(ServiceError, ValueError):
    """Input that breaks a domain rule (HTTP 422). ``field`` names the offending input, if one does.

    ``location`` says where that input is in an HTTP request: the body (the default), or the
    ``query``, ``path`` or ``header``.
    """

    def __init__(self, message: str, *, field: str | None = None, location: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.location = location


class DeviceError(ServiceError):
    """The programmer or the pump could not do what was asked (HTTP 503); nothing was recorded."""


class DeviceOutcomeUnknownError(DeviceError):
    """A write was sent to a pump and no verified answer came back: reconcile before anything else."""


class AuthenticationError(ServiceError, PermissionError):
    """No valid credentials: no or an expired session, a bad or revoked token (HTTP 401)."""


class PermissionDeniedError(ServiceError, PermissionError):
    """Authenticated, but the role may not do this (HTTP 403)."""


class StorageUnavailableError(ServiceError):
    """The database cannot take the write now (locked, full, read-only): retry later (HTTP 503).

    ``retry_after_s`` becomes the response's Retry-After header.
    """

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
