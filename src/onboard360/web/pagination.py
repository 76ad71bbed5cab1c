"""Cursor pagination for every list of the product API: ``?limit=1..500&cursor=<opaque>``.

A page is ``{"data": [...], "has_more": bool, "next_cursor": str | null}``. The cursor
(a keyset position of *this* list) and the pages themselves are db/paging.py's; a cursor
that is not one is a 400 ``invalid_cursor`` (``InvalidCursor``, answered by web/app.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from onboard360.db.paging import MAX_CURSOR, InvalidCursor, Keyset, fetch_page
from onboard360.web.errors import ApiError
from onboard360.web.strict import QueryInt

__all__ = ["Cursor", "Keyset", "Limit", "Page", "cursor_refusal", "fetch_page", "page"]

T = TypeVar("T")

Limit = Annotated[QueryInt, Query(ge=1, le=500, description="items per page (1–500)")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR,
        description="next_cursor of the previous page; omit for the first page",
    ),
]


class Page(BaseModel, Generic[T]):
    data: list[T]
    has_more: bool = Field(description="another page follows")
    next_cursor: str | None = Field(description="pass as ?cursor= to get the next page")


def cursor_refusal(exc: InvalidCursor) -> ApiError:
    """The API's answer to a cursor that is no position of the list it was sent to."""
    return ApiError(400, "invalid_cursor", str(exc))


def page(data: list[Any], next_cursor: str | None) -> dict[str, Any]:
    """The answer of every list: ``{"data", "has_more", "next_cursor"}``."""
    return {"data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}
