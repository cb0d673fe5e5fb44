"""The ``limit`` and ``cursor`` query parameters of every list route (see ``services/paging.py``).

A list route takes ``page: PageDep`` and returns ``Page[ItemView]`` built by the service with
``page_of`` or ``select_page``/``rows_page``; the client passes ``next_cursor`` back as ``cursor``
until it is null.
"""

from typing import Annotated

from fastapi import Depends, Query

from pump_service.services.paging import DEFAULT_PAGE_LIMIT, MAX_CURSOR_LENGTH, MAX_PAGE_LIMIT, PageRequest

__all__ = ["PageDep"]


def _page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_LIMIT, description=f"page size (at most {MAX_PAGE_LIMIT})")
    ] = DEFAULT_PAGE_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page")
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


PageDep = Annotated[PageRequest, Depends(_page_request)]
