"""The one write a browser causes before its redirect: it opened an attempt's popup."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from onboard360.db.queries.onboardings import record_popup_opened


async def popup_opened(
    engine: AsyncEngine, onboarding_id: uuid.UUID, cookie_sha256: bytes, at: datetime
) -> None:
    """Record, in its own transaction, that the browser holding the cookie of this digest
    opened the attempt's popup at ``at``: from now on that browser holds the attempt."""
    async with engine.begin() as conn:
        await record_popup_opened(conn, onboarding_id, cookie_sha256, at)
