"""A page that shares its path with an API route (``/pumps/{serial}``): it answers only requests for HTML.

A browser's navigation asks for ``text/html``; API clients and the pages' own ``fetch`` calls ask
for JSON or ``*/*``. Such a page route is registered before the API's routers and steps aside for
any request that does not ask for HTML, so the API route with the same path stays as documented.
"""

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

__all__ = ["HtmlPageRoute", "wants_html"]


def wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" in value.lower()
    return False


class HtmlPageRoute(APIRoute):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and not wants_html(scope):
            return Match.NONE, {}
        return match, child
