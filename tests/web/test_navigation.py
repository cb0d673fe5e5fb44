"""Navigation by permission, and ``/`` sending each role to its home page."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pump_service.api.auth import Principal
from pump_service.domain.access import Permission, Role
from pump_service.web.navigation import home_of, nav_links
from tests.auth_support import login_client
from tests.web.pages_support import browser


def _principal(role: Role) -> Principal:
    return Principal(user_id="u-1", role=role, station_id="s-1", session_id="x", csrf_token=None)


@pytest.mark.parametrize(
    ("role", "labels"),
    [
        (Role.NURSE, ["Worklist", "Pumps", "API docs"]),
        (Role.PHYSICIAN, ["Worklist", "Pumps", "API docs"]),
        (Role.BILLING, ["Billing", "API docs"]),
        (Role.MANAGER, ["Worklist", "Pumps", "Billing", "Clinic settings", "Audit", "API docs"]),
        (Role.ADMIN, ["Audit", "API docs"]),
    ],
)
def test_each_role_sees_only_the_pages_it_may_open(role: Role, labels: list[str]) -> None:
    assert [link["label"] for link in nav_links(_principal(role))] == labels
    assert nav_links(None) == []


@pytest.mark.parametrize(
    ("role", "home"),
    [(Role.NURSE, "/worklist"), (Role.PHYSICIAN, "/worklist"), (Role.BILLING, "/billing"),
     (Role.MANAGER, "/worklist"), (Role.ADMIN, "/audit")],
)  # fmt: skip
def test_slash_redirects_to_the_roles_home(app: FastAPI, role: Role, home: str) -> None:
    response = browser(app, role).get("/")
    assert (response.status_code, response.headers["location"]) == (303, home)
    assert home_of(_principal(role)) == home


def test_slash_signed_out_goes_to_login(app: FastAPI) -> None:
    response = browser(app, None).get("/")
    assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_every_linked_page_opens_for_the_role_that_sees_the_link(app: FastAPI) -> None:
    for role in (Role.NURSE, Role.BILLING, Role.MANAGER):
        client: TestClient = browser(app, role)
        page = client.get(home_of(_principal(role)))
        (links,) = re.findall(r"<nav>\s*(.*?)\s*</nav>", page.text, re.S)
        hrefs = re.findall(r'href="([^"]+)"', links)
        assert hrefs == [link["href"] for link in nav_links(_principal(role))]
        for href in hrefs:
            assert client.get(href, follow_redirects=True).status_code == 200, (role, href)


def test_the_nav_follows_the_permission_table() -> None:
    for role in Role:
        hrefs = {link["href"] for link in nav_links(_principal(role))}
        assert ("/billing" in hrefs) == _principal(role).may(Permission.READ_BILLING)
        assert ("/worklist" in hrefs) == _principal(role).may(Permission.READ_CLINICAL)
        assert ("/clinic-settings" in hrefs) == _principal(role).may(Permission.MANAGE_CLINIC)


def test_the_pdf_record_answers_a_bearer_token_too(app: FastAPI) -> None:
    nurse = login_client(app, Role.NURSE)
    assert nurse.get("/refills/1/record.pdf").status_code == 404  # authenticated, no such refill
    assert login_client(app, Role.BILLING).get("/refills/1/record.pdf").status_code == 403
    assert TestClient(app).get("/refills/1/record.pdf").status_code == 401
