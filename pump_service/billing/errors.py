"""Billing's one exception of its own: reference data that cannot be trusted.

Bad visit input raises :class:`pump_service.errors.RuleViolationError` (or pydantic's
``ValidationError`` while :class:`~pump_service.billing.facts.VisitFacts` is built); problems in
the data files raise :class:`BillingDataError`, which names the file and the entry to fix.
"""

from pump_service.errors import ServiceError

__all__ = ["BillingDataError"]


class BillingDataError(ServiceError):
    """A reference table is missing, malformed or inconsistent, or names something that does not exist.

    ``file`` is the data file (``codes.toml``, ``mue.csv``...) and ``entry`` the row or key in it.
    """

    def __init__(self, message: str, *, file: str, entry: str | None = None) -> None:
        where = file if entry is None else f"{file} [{entry}]"
        super().__init__(f"{where}: {message}")
        self.file = file
        self.entry = entry
