"""Many rows as one parameter: a JSON array PostgreSQL reads with ``json_to_recordset``.

A statement that reads its rows from one parameter has the same text whatever the
number of rows (compiled once, one round trip), and one ``json.dumps`` of the whole batch
costs far less than binding an array per column (psycopg escapes every array element
with a regular expression). ``jsonb`` columns take nested objects as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def recordset(columns: Mapping[str, str], *, param: str = "rows", alias: str = "u") -> str:
    """``json_to_recordset(...) AS alias(column type, ...)`` reading the parameter."""
    fields = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    return f"json_to_recordset(CAST(:{param} AS json)) AS {alias}({fields})"


def rows_param(rows: Iterable[Mapping[str, Any]]) -> str:
    """The value of a ``recordset`` parameter."""
    return json.dumps(list(rows), separators=(",", ":"))
