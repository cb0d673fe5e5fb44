"""The OpenAPI document: every error response each route can give, each as ``application/problem+json``.

:data:`SHARED_RESPONSES` (passed to the app, so every route has them) lists what any request can
meet: 401/403 (authentication), 413 (body cap), 422 (validation), 503 (storage). Routes add their
own 404/409/... with a description. :func:`install_openapi` then completes the document once, when
it is first built: routes with a JSON body get 400 (malformed JSON), routes with a path parameter
get 404 (unknown id), and every 4xx/5xx response gets the ``Problem`` schema under
``application/problem+json``, keeping the route's own description.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from pump_service.api.problems import PROBLEM_MEDIA_TYPE, Problem, ProblemError

__all__ = ["SHARED_RESPONSES", "install_openapi"]

SHARED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in: no, an expired or a revoked session or token"},
    403: {"description": "signed in, but the role may not do this"},
    413: {"description": "the request body is larger than 1 MiB; nothing was read"},
    422: {"description": "a value outside its type or bounds (the problem's errors name each, with its location)"},
    503: {"description": "the database is locked, full, read-only or unreachable: retry after Retry-After"},
}
_MALFORMED = {"description": "the body is not valid JSON"}
_UNKNOWN_ID = {"description": "no such resource"}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def _problem_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (ProblemError, Problem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _complete_operation(operation: dict[str, Any], path: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "requestBody" in operation:
        responses.setdefault("400", dict(_MALFORMED))
    if "{" in path:
        responses.setdefault("404", dict(_UNKNOWN_ID))
    for status, response in responses.items():
        if status[0] in "45":
            response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}}
            if status == "503":
                response.setdefault("headers", {}).update(_RETRY_AFTER)


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a builder that documents every error as a problem (built once)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path, item in document.get("paths", {}).items():
            for operation in item.values():
                _complete_operation(operation, path)
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(_problem_schemas())
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
