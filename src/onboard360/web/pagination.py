"""Cursor pagination for every list of the product API: ``?limit=1..500&cursor=<opaque>``.

A page is ``{"data": [...], "has_more": bool, "next_cursor": str | null}``. The cursor is
a keyset position — the sort key of the page's last item — as base64url JSON, tagged with
the list it belongs to: pages stay stable while rows are inserted (nothing is skipped or
repeated the way an offset would), and any cursor that does not decode to a position of
*this* list (garbage, truncated, edited, another list's) is a 400 ``invalid_cursor``.
A cursor is not a secret nor a capability: every page is still filtered by the caller's
hubs, so an edited but well-formed cursor only moves the position.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.web.errors import ApiError
from onboard360.web.strict import QueryInt, storable_text

T = TypeVar("T")
MAX_CURSOR = 512

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


# What a keyset column may hold, and how it travels in JSON.
_KINDS: dict[type, str] = {str: "s", int: "i", datetime: "t", UUID: "u"}
_PARSE: dict[str, Callable[[Any], Any]] = {
    "s": str,
    "i": int,
    "t": datetime.fromisoformat,
    "u": UUID,
}


@dataclass(frozen=True)
class Keyset:
    """How one list is ordered: its name (in the cursor), its sort columns, the direction.

    The columns together must be unique and never NULL, so a position is exact.
    """

    name: str
    columns: Sequence[ColumnElement[Any]]
    types: Sequence[type]
    descending: bool = False

    def order(self) -> list[ColumnElement[Any]]:
        return [c.desc() if self.descending else c.asc() for c in self.columns]

    def after(self, position: Sequence[Any]) -> ColumnElement[bool]:
        row, values = tuple_(*self.columns), tuple_(*position)
        return row < values if self.descending else row > values


def encode_cursor(keyset: Keyset, values: Sequence[Any]) -> str:
    parts = [
        [_KINDS[kind], str(value) if kind is not int else value]
        for kind, value in zip(keyset.types, values, strict=True)
    ]
    raw = json.dumps({"l": keyset.name, "k": parts}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(keyset: Keyset, cursor: str) -> list[Any]:
    """The position in ``cursor``, or a 400 ``invalid_cursor`` that says nothing of it."""
    refusal = ApiError(
        400, "invalid_cursor", "cursor: not a next_cursor of this list; start without it"
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("l") != keyset.name:
            raise refusal
        parts = data["k"]
        if not isinstance(parts, list) or len(parts) != len(keyset.types):
            raise refusal
        values = []
        for part, kind in zip(parts, keyset.types, strict=True):
            tag, value = part
            if tag != _KINDS[kind] or not isinstance(value, int if kind is int else str):
                raise refusal
            if kind is int and not -(2**63) <= value < 2**63:
                raise refusal
            if isinstance(value, str):
                if len(value) > MAX_CURSOR:
                    raise refusal
                storable_text(value)  # ValueError: a NUL or a lone surrogate
            parsed = _PARSE[tag](value)
            if isinstance(parsed, datetime) and parsed.tzinfo is None:
                raise refusal
            values.append(parsed)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise refusal from None
    return values


async def fetch_page(
    conn: AsyncConnection, query: Select[Any], keyset: Keyset, limit: int, cursor: str | None
) -> tuple[list[Row[Any]], str | None]:
    """One page of ``query`` (already filtered to what the caller may see): its rows, and
    the cursor of the next page (None on the last)."""
    if cursor is not None:
        query = query.where(keyset.after(decode_cursor(keyset, cursor)))
    query = query.order_by(*keyset.order()).limit(limit + 1)
    rows = list(await conn.execute(query))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(keyset, [rows[-1]._mapping[c] for c in keyset.columns])


def page(data: list[Any], next_cursor: str | None) -> dict[str, Any]:
    """The answer of every list: ``{"data", "has_more", "next_cursor"}``."""
    return {"data": data, "has_more": next_cursor is not None, "next_cursor": next_cursor}
