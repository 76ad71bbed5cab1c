"""The audit log: one line per command an operator, the product or the CLI asked for."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t


async def audit(
    conn: AsyncConnection,
    operator_id: int | None,
    action: str,
    target: str,
    detail: dict[str, Any],
) -> None:
    """One audit line. ``detail`` names ``hub``/``client_id``/``channel_id`` when it concerns
    one, so the client page can show it; it never holds a key or a password."""
    await conn.execute(
        t.audit_log.insert().values(
            operator_id=operator_id, action=action, target=target, detail=detail, at=func.now()
        )
    )
