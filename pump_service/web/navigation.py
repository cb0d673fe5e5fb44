"""What a signed-in person may open: the navigation links of their role, their home page, and page rendering with both.

Derived from ``domain/access.py``: a link is shown only when the role has the permission the page
requires, so the navigation never offers a page that would answer 403.
"""

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from pump_service.api.auth import Principal
from pump_service.domain.access import Permission, Role
from pump_service.web.templating import render

__all__ = ["NavLink", "error_page", "home_of", "nav_links", "page"]


@dataclass(frozen=True, slots=True)
class NavLink:
    href: str
    label: str
    permission: Permission | None  # None: every signed-in role


_LINKS = (
    NavLink("/worklist", "Worklist", Permission.READ_CLINICAL),
    NavLink("/pumps", "Pumps", Permission.READ_CLINICAL),
    NavLink("/billing", "Billing", Permission.READ_BILLING),
    NavLink("/clinic-settings", "Clinic settings", Permission.MANAGE_CLINIC),
    NavLink("/audit", "Audit", Permission.READ_AUDIT),
    NavLink("/docs", "API docs", None),
)

# Each role's first page after signing in, in order of preference.
_HOMES: dict[Role, str] = {
    Role.NURSE: "/worklist",
    Role.PHYSICIAN: "/worklist",
    Role.BENCH: "/worklist",
    Role.BILLING: "/billing",
    Role.MANAGER: "/worklist",
    Role.ADMIN: "/audit",
}


def nav_links(principal: Principal | None) -> list[dict[str, str]]:
    """The links ``principal`` may follow, as the base template takes them."""
    if principal is None:
        return []
    return [
        {"href": link.href, "label": link.label}
        for link in _LINKS
        if link.permission is None or principal.may(link.permission)
    ]


def home_of(principal: Principal) -> str:
    """Where ``principal`` lands after signing in (``/`` redirects there)."""
    return _HOMES.get(principal.role, "/docs")


def page(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> HTMLResponse:
    """Render ``name`` with the signed-in principal's navigation links."""
    principal = getattr(request.state, "principal", None)
    return render(request, name, {"nav_links": nav_links(principal), **(context or {})}, status_code=status_code)


def error_page(request: Request, status_code: int, title: str, detail: str) -> HTMLResponse:
    """A page saying what went wrong (an unknown pump, a stale form), with the status it answers."""
    return page(
        request, "error.html", {"title": title, "detail": detail, "status": status_code}, status_code=status_code
    )
