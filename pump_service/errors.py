"""The service's exception tree.

``api/errors.py`` maps each family to one HTTP status; the CLI maps them to exit code 2 (bad
input) or 1 (everything else).
"""

__all__ = [
    "ConflictError",
    "DeviceError",
    "DeviceOutcomeUnknownError",
    "NotFoundError",
    "RuleViolationError",
    "ServiceError",
]


class ServiceError(Exception):
    """Root of every error the service raises on purpose."""


class NotFoundError(ServiceError, LookupError):
    """A pump, patient or refill that does not exist (HTTP 404)."""


class ConflictError(ServiceError):
    """The request collides with what is stored: a duplicate serial, a stale version (HTTP 409)."""


class RuleViolationError(ServiceError, ValueError):
    """Input that breaks a domain rule (HTTP 422). ``field`` names the offending input, if one does."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class DeviceError(ServiceError):
    """The programmer or the pump could not do what was asked (HTTP 503); nothing was recorded."""


class DeviceOutcomeUnknownError(DeviceError):
    """A write was sent to a pump and no verified answer came back: reconcile before anything else."""
