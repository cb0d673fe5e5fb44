"""Static files and the API documentation, all served locally (no CDN)."""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["install_assets"]

_OWN = Path(__file__).parent / "static"
_DOCS = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI and ReDoc bundles, as released


def install_assets(app: FastAPI) -> None:
    """Mount ``/static`` and serve ``/docs`` and ``/redoc`` from local files.

    The app must be created with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are off.
    """
    app.mount("/static/docs", StaticFiles(directory=_DOCS), name="docs-static")
    app.mount("/static", StaticFiles(directory=_OWN), name="static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )
