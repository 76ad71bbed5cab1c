"""Keyset pages of a query, and the opaque cursor that says where the next page starts.

The cursor is a keyset position — the sort key of a page's last item — as base64url JSON,
tagged with the list it belongs to: pages stay stable while rows are inserted (nothing is
skipped or repeated the way an offset would), and any cursor that does not decode to a
position of *this* list (garbage, truncated, edited, another list's) is ``InvalidCursor``,
which the API answers as a 400 ``invalid_cursor`` (web/pagination.py). A cursor is not a
secret nor a capability: every page is still filtered by the caller's hubs, so an edited
but well-formed cursor only moves the position.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

MAX_CURSOR = 512

# What a keyset column may hold, and how it travels in JSON.
_KINDS: dict[type, str] = {str: "s", int: "i", datetime: "t", UUID: "u"}
_PARSE: dict[str, Callable[[Any], Any]] = {
    "s": str,
    "i": int,
    "t": datetime.fromisoformat,
    "u": UUID,
}


class InvalidCursor(ValueError):
    """cursor: not a next_cursor of this list; start without it"""

    def __init__(self) -> None:
        super().__init__(self.__doc__)


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
    """The position in ``cursor``, or ``InvalidCursor`` that says nothing of it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("l") != keyset.name:
            raise InvalidCursor
        parts = data["k"]
        if not isinstance(parts, list) or len(parts) != len(keyset.types):
            raise InvalidCursor
        values = [_value(part, kind) for part, kind in zip(parts, keyset.types, strict=True)]
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor from None
    return values


def _value(part: Any, kind: type) -> Any:
    tag, value = part
    if tag != _KINDS[kind] or not isinstance(value, int if kind is int else str):
        raise InvalidCursor
    if kind is int and not -(2**63) <= value < 2**63:
        raise InvalidCursor
    if isinstance(value, str):
        if len(value) > MAX_CURSOR:
            raise InvalidCursor
        _storable(value)
    parsed = _PARSE[tag](value)
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        raise InvalidCursor
    return parsed


def _storable(value: str) -> None:
    """Text PostgreSQL can compare: no NUL, no unpaired UTF-16 surrogate (ValueError)."""
    if "\x00" in value:
        raise InvalidCursor
    value.encode("utf-8")  # UnicodeEncodeError, a ValueError, on a lone surrogate


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
