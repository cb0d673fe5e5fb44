"""Every route documents every status it can answer, each error as an ``application/problem+json`` Problem."""

from typing import Any

import pytest
from sqlalchemy import Engine

from pump_service.api.app import create_app
from pump_service.settings import Settings
from tests.support import FixedClock

EVERY_ROUTE = {"401", "403", "413", "422", "503"}  # authentication, body cap, validation, storage
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(settings: Settings, engine: Engine) -> dict[str, Any]:
    schema: dict[str, Any] = create_app(settings, clock=FixedClock(), engine=engine).openapi()
    return schema


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_lists_the_statuses_any_request_can_meet(document: dict[str, Any]) -> None:
    missing = {
        f"{method} {path}": sorted(EVERY_ROUTE - set(operation["responses"]))
        for method, path, operation in _operations(document)
        if not set(operation["responses"]) >= EVERY_ROUTE
    }
    assert missing == {}


def test_a_body_can_be_malformed_and_an_id_unknown(document: dict[str, Any]) -> None:
    missing = [
        f"{method} {path}: {status}"
        for method, path, operation in _operations(document)
        for status, applies in (("400", "requestBody" in operation), ("404", "{" in path))
        if applies and status not in operation["responses"]
    ]
    assert missing == []


def test_every_error_response_is_a_problem_document(document: dict[str, Any]) -> None:
    wrong = [
        f"{method} {path} {status}"
        for method, path, operation in _operations(document)
        for status, response in operation["responses"].items()
        if status[0] in "45"
        and response.get("content")
        != {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    ]
    assert wrong == []
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])


def test_a_503_says_when_to_retry(document: dict[str, Any]) -> None:
    assert all(
        "Retry-After" in operation["responses"]["503"].get("headers", {}) for _, _, operation in _operations(document)
    )


def test_every_list_is_a_page(document: dict[str, Any]) -> None:
    """A GET answering a JSON array would be a list without limit and cursor."""
    unpaged = []
    paged = 0
    for method, path, operation in _operations(document):
        ok = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if method != "GET" or not ok:
            continue
        if ok.get("type") == "array":
            unpaged.append(path)
        ref = ok.get("$ref", "").split("/")[-1]
        if ref.startswith("Page_") or ref in {"ChargePage", "ChargeBatch"}:
            paged += 1
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert {"limit", "cursor"} <= names, path
    assert unpaged == []
    assert paged >= 15  # every list route of the API
