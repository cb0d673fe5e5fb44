"""The FastAPI application, built from settings (no import-time app, engine or settings)."""

from fastapi import FastAPI
from sqlalchemy import Engine

from pump_service import __version__
from pump_service.api.audit_clock import AuditClockMiddleware
from pump_service.api.body_limit import RequestBodyGuard
from pump_service.api.errors import install_error_handlers
from pump_service.api.openapi import SHARED_RESPONSES, install_openapi
from pump_service.api.routes import (
    audit,
    catalogue,
    charges,
    clinics,
    cosignatures,
    gs1,
    health,
    pumps,
    refill_records,
    refills,
    schedule,
    visits,
)
from pump_service.api.routes.metrics import install_metrics
from pump_service.api.unhandled import UnhandledErrorGuard
from pump_service.persistence.db import make_engine
from pump_service.settings import Settings
from pump_service.web import audit_pages, install_assets, visit_wizard
from pump_service.web.login import install_login
from pump_service.web.pages import PAGES, PAGES_BEFORE_API
from schemas.clock import Clock, SystemClock

__all__ = ["create_app"]


def create_app(settings: Settings, *, clock: Clock | None = None, engine: Engine | None = None) -> FastAPI:
    """An app serving ``settings.database_url`` (already migrated) on ``clock``."""
    app = FastAPI(
        title="pump-service",
        version=__version__,
        description="Implanted drug pumps: device registry, refill checks, dosing and due dates. "
        "Quantities accept a number in the unit named by the field or a string with a unit ('2.5 mL/h'). "
        "Every request is signed in: the login-session cookie (pages) or Authorization: Bearer <token> (API); "
        "each route names the permission it needs, and acts through the signed-in station's programmer.",
        docs_url=None,  # served from local files by install_assets: no CDN
        redoc_url=None,
        responses=SHARED_RESPONSES,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.engine = engine or make_engine(settings.database_url)
    install_error_handlers(app)
    app.add_middleware(RequestBodyGuard)
    install_openapi(app)
    install_assets(app)
    install_login(app)
    app.add_middleware(AuditClockMiddleware)
    app.add_middleware(UnhandledErrorGuard)  # added last: outermost of the app's own middleware
    install_metrics(app)
    app.include_router(audit_pages.router)  # before the API: it answers only requests for HTML
    app.include_router(visit_wizard.router)
    for page_router in PAGES_BEFORE_API:  # they answer only requests for HTML; the API keeps the others
        app.include_router(page_router)
    api = (health, pumps, refills, refill_records, cosignatures, gs1, visits, schedule, clinics, catalogue, charges)
    for module in (*api, audit):
        app.include_router(module.router)
    for page_router in PAGES:
        app.include_router(page_router)
    return app
