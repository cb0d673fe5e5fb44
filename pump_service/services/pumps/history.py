"""A pump's record as its page shows it: facts, prescription, drug, every visit, the device log, the chart's series.

One read in the caller's session; nothing here changes a row. Visits of every kind are merged
into one history, newest first: refills from their stored rows (findings, override, who), the
other kinds from their visit's stored result, abandoned visits with their reason.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from pump_service.domain.findings import Tier
from pump_service.errors import RuleViolationError
from pump_service.persistence import repositories as repo
from pump_service.persistence.models import DeviceLogRecord, PrescriptionRow, Pump, Refill
from pump_service.persistence.rows import pump_id_of
from pump_service.persistence.visit_models import Visit, VisitKind, VisitState
from pump_service.services.contracts import ComponentResult, FindingResult, OverrideResult, PumpView
from pump_service.services.pumps.chart_series import PumpSeries, pump_series
from pump_service.services.pumps.registry import get_pump, show_pump
from pump_service.services.visits.refill_views import refill_result

__all__ = [
    "LOG_PAGE_SIZE",
    "LastResult",
    "LogPage",
    "PumpHistory",
    "VisitEntry",
    "last_results",
    "pump_history",
    "worst_tier",
]

LOG_PAGE_SIZE = 25
_TIER_RANK = {Tier.INFO: 0, Tier.WARNING: 1, Tier.HARD_STOP: 2}


@dataclass(frozen=True, slots=True)
class VisitEntry:
    """One visit in a pump's history."""

    kind: str
    state: str
    performed_at: datetime
    by: str
    station_id: str
    findings: tuple[FindingResult, ...]
    override: OverrideResult | None
    refill_id: int | None = None
    summary: str = ""

    @property
    def tier(self) -> Tier | None:
        return worst_tier(self.findings)


@dataclass(frozen=True, slots=True)
class LogPage:
    entries: tuple[DeviceLogRecord, ...]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class PumpHistory:
    pump: PumpView
    prescription: PrescriptionRow | None
    drugs: tuple[ComponentResult, ...]  # what the last refill put in the pump
    visits: tuple[VisitEntry, ...]
    log: LogPage
    series: PumpSeries


def worst_tier(findings: Sequence[FindingResult]) -> Tier | None:
    """The most serious tier among ``findings`` (None without findings)."""
    tiers = [Tier(f.tier) for f in findings]
    return max(tiers, key=_TIER_RANK.__getitem__) if tiers else None


def _refill_entry(session: Session, refill: Refill) -> VisitEntry:
    result = refill_result(session, refill)
    summary = f"returned {refill.returned_volume_ml:g} mL, filled {refill.fill_volume_ml:g} mL"
    if refill.deviation_pct is not None:
        summary += f", deviation {refill.deviation_pct:+.1f} %"
    return VisitEntry(
        kind=VisitKind.REFILL.value,
        state=VisitState.COMMITTED.value,
        performed_at=refill.performed_at,
        by=refill.created_by,
        station_id=refill.station_id,
        findings=result.findings,
        override=result.override,
        refill_id=refill.id,
        summary=summary,
    )


def _visit_entry(visit: Visit) -> VisitEntry:
    result: dict[str, Any] = visit.result or {}
    findings = tuple(FindingResult.model_validate(f) for f in result.get("findings", visit.facts.get("findings", [])))
    override = OverrideResult.model_validate(result["override"]) if result.get("override") else None
    summary = visit.abandon_reason or ""
    if result.get("reservoir_ml") is not None:
        summary = f"pump reported {result['reservoir_ml']:g} mL"
    return VisitEntry(
        kind=visit.kind,
        state=visit.state,
        performed_at=visit.performed_at or visit.updated_at,
        by=visit.updated_by,
        station_id=visit.station_id,
        findings=findings,
        override=override,
        summary=summary,
    )


def _visits(session: Session, pump_id: int, refills: Sequence[Refill]) -> tuple[VisitEntry, ...]:
    entries = [_refill_entry(session, r) for r in refills]
    others = session.exec(
        select(Visit).where(
            Visit.pump_id == pump_id,
            col(Visit.state).in_((VisitState.COMMITTED.value, VisitState.ABANDONED.value)),
            col(Visit.refill_id).is_(None),
        )
    ).all()
    entries += [_visit_entry(v) for v in others if not (v.kind == VisitKind.REFILL and v.state == VisitState.COMMITTED)]
    return tuple(sorted(entries, key=lambda e: e.performed_at, reverse=True))


def _log_page(session: Session, pump_id: int, page: int, size: int) -> LogPage:
    if page < 1 or page > 100_000:
        raise RuleViolationError("page must be between 1 and 100000", field="log_page")
    total = session.exec(
        select(func.count()).select_from(DeviceLogRecord).where(DeviceLogRecord.pump_id == pump_id)
    ).one()
    pages = max(1, math.ceil(total / size))
    rows = session.exec(
        select(DeviceLogRecord)
        .where(DeviceLogRecord.pump_id == pump_id)
        .order_by(col(DeviceLogRecord.recorded_at).desc(), col(DeviceLogRecord.id).desc())
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    return LogPage(entries=tuple(rows), page=page, pages=pages, total=total)


def pump_history(
    session: Session, serial: str, *, now: datetime, log_page: int = 1, log_size: int = LOG_PAGE_SIZE
) -> PumpHistory:
    """Everything the pump page shows, explanted pumps included.

    Raises:
        NotFoundError: no pump with that serial.
        RuleViolationError: a log page out of range.
    """
    view = show_pump(session, serial, now=now)
    pump = get_pump(session, serial, include_explanted=True)
    pump_id = pump_id_of(pump)
    refills = repo.refills_of(session, pump_id)
    drugs = refill_result(session, refills[0]).components if refills else ()
    return PumpHistory(
        pump=view,
        prescription=repo.current_prescription(session, pump_id),
        drugs=drugs,
        visits=_visits(session, pump_id, refills),
        log=_log_page(session, pump_id, log_page, log_size),
        series=pump_series(pump, refills),
    )


@dataclass(frozen=True, slots=True)
class LastResult:
    """A pump's drug(s) and how its last visit went."""

    drugs: tuple[str, ...]
    performed_at: datetime | None
    tier: Tier | None
    kind: str | None


def last_results(session: Session, pumps: Sequence[Pump]) -> dict[str, LastResult]:
    """For each pump (by serial): the drug names in it and its last visit's worst tier and date."""
    results: dict[str, LastResult] = {}
    for pump in pumps:
        pump_id = pump_id_of(pump)
        refills = repo.refills_of(session, pump_id)
        drugs = tuple(c.drug_name for c in refill_result(session, refills[0]).components) if refills else ()
        visits = _visits(session, pump_id, refills[:1])
        last = visits[0] if visits else None
        results[pump.serial] = LastResult(
            drugs=drugs,
            performed_at=last.performed_at if last else None,
            tier=last.tier if last else None,
            kind=last.kind if last else None,
        )
    return results
