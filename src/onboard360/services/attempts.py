"""The writes a browser causes before its redirect: it opened an attempt's popup, or the
connect page saw the popup blocked or closed before the redirect came back."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from onboard360.db.queries.onboardings import (
    onboardings_by_ids,
    record_popup_opened,
    stamp_popup_step,
)
from onboard360.domain.attempts import EXPIRED, PopupStep, is_expired, popup_step_refusal
from onboard360.services.refusals import OnboardingRefused


async def popup_opened(
    engine: AsyncEngine, onboarding_id: uuid.UUID, cookie_sha256: bytes, at: datetime
) -> None:
    """Record, in its own transaction, that the browser holding the cookie of this digest
    opened the attempt's popup at ``at``: from now on that browser holds the attempt."""
    async with engine.begin() as conn:
        await record_popup_opened(conn, onboarding_id, cookie_sha256, at)


async def popup_step(
    engine: AsyncEngine, hub: str, onboarding_id: uuid.UUID, step: PopupStep, at: datetime
) -> datetime:
    """Record that the connect page saw ``step`` at ``at``; the stamp the attempt keeps
    (the first one: a repeated or replayed call changes nothing). Raises
    OnboardingRefused (409: the redirect already came back, or a window never opened was
    closed; 410: expired; 400: no such attempt on this hub), having changed nothing."""
    async with engine.begin() as conn:
        rows = await onboardings_by_ids(conn, hub, [onboarding_id], lock=True)
        if not rows:
            raise OnboardingRefused()
        if is_expired(rows[0], at):
            raise OnboardingRefused(EXPIRED, status=410)
        why = popup_step_refusal(rows[0], step)
        if why is not None:
            raise OnboardingRefused(why, status=409)
        return await stamp_popup_step(conn, onboarding_id, f"{step.value}_at", at)
