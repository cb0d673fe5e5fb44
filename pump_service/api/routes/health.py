"""Liveness and readiness: the database answers, takes a write, has room, and its schema is at the code's revision.

Healthy: 200 with the figures, and which instance runs the scheduler (``leader``,
``leader_instance``; a follower is healthy; with the scheduler off in this process both are
unknown). Unhealthy (read-only, locked, full, unreachable, outdated schema): 503
``application/problem+json`` whose ``detail`` gives the reason, with the same figures, so a load
balancer or the station's status light stops sending refills to a service that cannot store them.
"""

from functools import lru_cache
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from pump_service import __version__
from pump_service.api.deps import ClockDep, EngineDep, SettingsDep
from pump_service.api.problems import ProblemKind, problem_response
from pump_service.persistence.migrate import head_revision
from pump_service.persistence.storage_probe import probe_storage
from schemas.clock import UtcDatetime

router = APIRouter(tags=["health"])

# Below this much free space next to a SQLite file the next refill may not fit (WAL + checkpoint).
MIN_FREE_BYTES = 16 * 1024 * 1024


class Leadership(Protocol):
    """What ``/health`` reads of this process's scheduler (``app.state.leadership``, set by ``serve``)."""

    @property
    def instance_id(self) -> str: ...

    @property
    def is_leader(self) -> bool: ...

    def leader_instance(self) -> str | None: ...


class Health(BaseModel):
    status: str
    version: str
    station_id: str
    instance: str | None = Field(None, description="this process: host:pid or the configured instance name")
    leader: bool = Field(False, description="whether this process runs the scheduler's tick now")
    leader_instance: str | None = Field(None, description="the instance that runs the tick, where known")
    schema_revision: str | None
    expected_revision: str | None
    free_bytes: int | None
    time: UtcDatetime


@lru_cache(maxsize=1)
def expected_revision() -> str | None:
    """The code's migration head, read from the scripts once per process (they do not change at run time)."""
    return head_revision()


def _min_free_bytes(request: Request) -> int:
    return int(getattr(request.app.state, "health_min_free_bytes", MIN_FREE_BYTES))


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"description": "unhealthy: the reason is in detail (read-only, locked, full, outdated schema)"}},
)
def read_health(request: Request, engine: EngineDep, settings: SettingsDep, clock: ClockDep) -> Any:
    """200 when the service can store a refill now; 503 with the reason when it cannot."""
    probe = probe_storage(engine)
    expected = expected_revision()
    reason: str | None = None
    if probe.failure is not None:
        reason = probe.failure.explanation.split(";")[0]
    elif probe.free_bytes is not None and probe.free_bytes < _min_free_bytes(request):
        reason = f"the database's disk is nearly full ({probe.free_bytes} bytes free)"
    elif probe.revision != expected:
        reason = f"the database schema is at {probe.revision}, the code expects {expected}: run pump-service migrate"
    leadership: Leadership | None = getattr(request.app.state, "leadership", None)
    health = Health(
        status="ok" if reason is None else "unhealthy",
        version=__version__,
        station_id=settings.station_id,
        instance=leadership.instance_id if leadership is not None else None,
        leader=leadership.is_leader if leadership is not None else False,
        leader_instance=leadership.leader_instance() if leadership is not None and probe.failure is None else None,
        schema_revision=probe.revision,
        expected_revision=expected,
        free_bytes=probe.free_bytes,
        time=clock.now(),
    )
    if reason is None:
        return health
    extra = health.model_dump(mode="json", exclude={"status"})
    response: JSONResponse = problem_response(
        503, ProblemKind.UNHEALTHY, "Unhealthy", reason, headers={"Retry-After": "30"}, extra=extra
    )
    return response
