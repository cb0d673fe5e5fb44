"""Refills: record one (idempotently) and read a pump's history; the due list."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from pump_service.api.auth import require
from pump_service.api.deps import ActorDep, ClockDep, EngineDep, ReadSessionDep, SettingsDep, StationDep
from pump_service.api.pagination import PageDep
from pump_service.domain.access import Permission
from pump_service.services.contracts import DueItem, RefillEntry, RefillPlanView, RefillResult
from pump_service.services.paging import Page
from pump_service.services.pumps.due_list import due_page
from pump_service.services.visits.plan_views import plan_view
from pump_service.services.visits.preview import VisitPreview, start_visit
from pump_service.services.visits.refill_views import refill_page
from pump_service.services.visits.refill_visit import complete_visit, plan_visit

router = APIRouter(tags=["refills"])


@router.post(
    "/pumps/{serial}/refills",
    dependencies=[Depends(require(Permission.RECORD_VISIT))],
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "already recorded: the stored refill is returned", "model": RefillResult},
        404: {"description": "no such pump"},
        409: {"description": "idempotency key reused for a different refill, or the pump changed meanwhile"},
        422: {
            "description": "a value outside its bound, or a hard stop (application/problem+json with the findings) "
            "that needs an override; nothing was stored or written"
        },
        503: {"description": "the programmer failed or the pump's outcome is unknown: retry the same request"},
    },
)
def create_refill(
    serial: str,
    entry: RefillEntry,
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    actor: ActorDep,
    station: StationDep,
) -> RefillResult:
    """Record a refill visit, writing a programmable pump through the programmer, exactly once.

    Returns the expected residual, flow check, fill amounts, warnings and the next due date.
    """
    result = complete_visit(
        engine, serial, entry, settings=settings, clock=clock, actor=actor, device_url=station.programmer_url
    )
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return result


@router.post(
    "/pumps/{serial}/refills/plan",
    dependencies=[Depends(require(Permission.RECORD_VISIT))],
    responses={404: {"description": "no such pump"}, 422: {"description": "a value outside its bound"}},
)
def plan_refill_route(
    serial: str, entry: RefillEntry, engine: EngineDep, settings: SettingsDep, clock: ClockDep, actor: ActorDep
) -> RefillPlanView:
    """The refill as it would be recorded now, with its findings and hard stops; nothing is stored or written."""
    return plan_view(plan_visit(engine, serial, entry, settings=settings, clock=clock, actor=actor))


@router.post(
    "/pumps/{serial}/visits",
    dependencies=[Depends(require(Permission.RECORD_VISIT))],
    responses={404: {"description": "no such pump"}, 503: {"description": "the programmer failed"}},
)
def create_visit(
    serial: str,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    actor: ActorDep,
    station: StationDep,
) -> VisitPreview:
    """Start a refill visit: interrogate a programmable pump, show the residual expected now."""
    return start_visit(engine, serial, settings=settings, clock=clock, actor=actor, device_url=station.programmer_url)


@router.get(
    "/pumps/{serial}/refills",
    dependencies=[Depends(require(Permission.READ_CLINICAL))],
    responses={404: {"description": "no such pump"}},
)
def read_refills(serial: str, session: ReadSessionDep, page: PageDep) -> Page[RefillResult]:
    """A pump's refills, newest first, a page at a time."""
    return refill_page(session, serial, page)


@router.get("/due", dependencies=[Depends(require(Permission.READ_CLINICAL))])
def read_due(
    session: ReadSessionDep, clock: ClockDep, page: PageDep, within_days: Annotated[float, Query(ge=0, le=3660)] = 14.0
) -> Page[DueItem]:
    """Pumps due for a refill within ``within_days`` (overdue ones included), soonest first, a page at a time."""
    return due_page(session, page, now=clock.now(), within_days=within_days)
