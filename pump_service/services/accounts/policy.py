"""The sign-in limits (session lifetimes, lockout, password length), read once from Settings."""

from dataclasses import dataclass
from datetime import timedelta

from pump_service.settings import Settings

__all__ = ["AccessPolicy"]


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    session_idle: timedelta = timedelta(minutes=30)
    session_max_age: timedelta = timedelta(hours=12)
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    min_password_length: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> "AccessPolicy":
        return cls(
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            session_max_age=timedelta(hours=settings.session_max_hours),
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
            min_password_length=settings.password_min_length,
        )
