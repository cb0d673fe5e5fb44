"""Path parameters shared by routes: stored row ids, bounded to what the database can hold."""

from typing import Annotated

from fastapi import Path

__all__ = ["MAX_ROW_ID", "RowId"]

MAX_ROW_ID = 2**63 - 1  # a signed 64-bit key: a larger id cannot exist, and SQLite cannot even bind it

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a stored id")]
