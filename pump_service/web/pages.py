"""The page routers, in the order ``create_app`` includes them."""

from fastapi import APIRouter

from pump_service.web import billing_pages, home, pump_pages, settings_page, worklist_page

__all__ = ["PAGES", "PAGES_BEFORE_API"]

# Pages sharing a path with an API route (they answer only requests for HTML): before the API's routers.
PAGES_BEFORE_API: tuple[APIRouter, ...] = (pump_pages.router,)
PAGES: tuple[APIRouter, ...] = (home.router, worklist_page.router, billing_pages.router, settings_page.router)
