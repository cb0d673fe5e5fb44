"""One Jinja2 environment for every page; autoescaped, loaded from the package."""

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

__all__ = ["render", "templates"]

_environment = Environment(
    loader=PackageLoader("pump_service.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a template naming a missing value fails its test, not silently blank
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_environment)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    """Render ``name``; every page gets ``principal`` (or None) and its ``csrf_token`` for forms."""
    principal = getattr(request.state, "principal", None)
    page = {
        "principal": principal,
        "csrf_token": getattr(principal, "csrf_token", None) or "",
        "title": "",
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, page, status_code=status_code)
