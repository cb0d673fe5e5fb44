"""Visits that are not refills: analysis, reprogramming, flush, each recorded once; abandoning a visit."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from pump_service.api.auth import require
from pump_service.api.deps import ActorDep, ClockDep, EngineDep, SessionDep, SettingsDep, StationDep
from pump_service.domain.access import Permission
from pump_service.services.visits.contracts import (
    AbandonEntry,
    AnalysisEntry,
    FlushEntry,
    ReprogrammingEntry,
    VisitResult,
)
from pump_service.services.visits.other_kinds import abandon_visit, record_analysis, record_flush, record_reprogramming

router = APIRouter(tags=["visits"])

_REPLAYED = {"description": "already recorded: the stored visit is returned (replayed: true)", "model": VisitResult}
_NOT_FOUND = {"description": "no such pump"}
_CONFLICT = {"description": "idempotency key reused for a different request, or the pump changed meanwhile"}
_DEVICE = {"description": "the programmer failed or the pump's outcome is unknown: retry the same request"}


def _answer(result: VisitResult, response: Response) -> VisitResult:
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return result


@router.post(
    "/pumps/{serial}/analyses",
    dependencies=[Depends(require(Permission.RECORD_VISIT))],
    status_code=status.HTTP_201_CREATED,
    responses={
        200: _REPLAYED,
        404: _NOT_FOUND,
        409: _CONFLICT,
        422: {"description": "a constant-flow pump (nothing to analyse) or a billing fact refused"},
        503: _DEVICE,
    },
)
def create_analysis(
    serial: str,
    entry: AnalysisEntry,
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    actor: ActorDep,
    station: StationDep,
) -> VisitResult:
    """An analysis (interrogation) only: the pump's status and log stored, its due date replanned, billed once."""
    result = record_analysis(
        engine, serial, entry, settings=settings, clock=clock, actor=actor, device_url=station.programmer_url
    )
    return _answer(result, response)


@router.post(
    "/pumps/{serial}/reprogrammings",
    dependencies=[Depends(require(Permission.PRESCRIBE))],
    status_code=status.HTTP_201_CREATED,
    responses={
        200: _REPLAYED,
        404: _NOT_FOUND,
        409: _CONFLICT,
        422: {
            "description": "a prescription the pump cannot take or already in force, or a hard stop "
            "(application/problem+json with the findings) that needs an override; nothing was written"
        },
        503: _DEVICE,
    },
)
def create_reprogramming(
    serial: str,
    entry: ReprogrammingEntry,
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    clock: ClockDep,
    actor: ActorDep,
    station: StationDep,
) -> VisitResult:
    """A new prescription written to a programmable pump exactly once (no refill), read back, replanned, billed."""
    result = record_reprogramming(
        engine, serial, entry, settings=settings, clock=clock, actor=actor, device_url=station.programmer_url
    )
    return _answer(result, response)


@router.post(
    "/pumps/{serial}/flushes",
    dependencies=[Depends(require(Permission.RECORD_VISIT))],
    status_code=status.HTTP_201_CREATED,
    responses={
        200: _REPLAYED,
        404: _NOT_FOUND,
        409: _CONFLICT,
        422: {"description": "not a flush agent, a strength missing, or a hard stop (route, expiry) to override"},
    },
)
def create_flush(
    serial: str,
    entry: FlushEntry,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    actor: ActorDep,
) -> VisitResult:
    """A port or catheter flush only: what was injected, recorded and billed once; nothing is written to the pump."""
    result = record_flush(session, serial, entry, settings=settings, actor=actor, now=clock.now())
    return _answer(result, response)


@router.post(
    "/visits/{visit_key}/abandon",
    dependencies=[Depends(require(Permission.RECORD_VISIT))],
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "already abandoned with this request: the stored visit is returned", "model": VisitResult},
        404: _NOT_FOUND,
        409: {
            "description": "the visit was committed, belongs to another pump or kind, may have written the pump "
            "(retry its own request), or was abandoned with another request"
        },
    },
)
def abandon_visit_route(
    visit_key: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,80}$")],
    entry: AbandonEntry,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    actor: ActorDep,
) -> VisitResult:
    """A visit started and given up, with the reason: recorded once, nothing billed."""
    result = abandon_visit(session, visit_key, entry, settings=settings, actor=actor, now=clock.now())
    return _answer(result, response)
