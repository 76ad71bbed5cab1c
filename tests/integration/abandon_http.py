"""Helpers for the abandonment and resume tests: sweeps as workers run them, what the
product heard, the marks, and clocks moved back."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx

from onboard360.handoff import verify
from onboard360.jobs.abandon import SweepReport, sweep
from onboard360.wiring.service import open_service
from tests.integration.service_http import execute, rows
from tests.stack import FAST_RETRY, Stack

ABANDONED = "onboarding.abandoned"


def run_sweeps(stack: Stack, sweeps: int = 1, *, batch: int = 500) -> list[SweepReport]:
    """``sweeps`` sweeps at once, as that many workers would run them."""

    async def run() -> list[SweepReport]:
        async with open_service(stack.settings, stack.database_url, retry=FAST_RETRY) as service:
            return list(await asyncio.gather(*(sweep(service, batch=batch) for _ in range(sweeps))))

    return asyncio.run(run())


def announced(stack: Stack) -> list[dict[str, Any]]:
    """Every onboarding.abandoned the product received, its signature checked."""
    stack.drain()
    secret = stack.settings.products[0].webhook_secrets[0]
    for request in stack.product.requests():
        verify(secret, request.headers, request.body, now=int(time.time()))
    return [e for e in stack.product_events() if e["type"] == ABANDONED]


def marks(stack: Stack) -> list[dict[str, Any]]:
    return rows(
        stack,
        "SELECT id::text, abandoned_at, abandoned_step, abandoned_reason, stage "
        "FROM onboardings WHERE abandoned_at IS NOT NULL ORDER BY id",
    )


def stored_events(stack: Stack) -> list[dict[str, Any]]:
    query = "SELECT dedupe_key, payload FROM product_events WHERE event_type = %s"
    return rows(stack, query, ABANDONED)


def expire(stack: Stack, onboarding_id: str, ago: timedelta = timedelta(minutes=5)) -> None:
    execute(
        stack, "UPDATE onboardings SET expires_at = now() - %s WHERE id = %s", ago, onboarding_id
    )


def redirected_ago(stack: Stack, hours: float) -> None:
    execute(
        stack,
        "UPDATE onboardings SET redirected_at = now() - %s WHERE redirected_at IS NOT NULL",
        timedelta(hours=hours),
    )


def abandon(stack: Stack, onboarding_id: str) -> None:
    """Let the attempt's expiry pass, then run the abandonment sweep: marked and announced."""
    expire(stack, onboarding_id)
    run_sweeps(stack)


def resume(stack: Stack, onboarding_id: str) -> dict[str, Any]:
    """``POST /api/v1/onboardings/{id}/resume``: the fresh attempt of the same journey."""
    answer = stack.api.post(f"/api/v1/onboardings/{onboarding_id}/resume")
    assert answer.status_code == 201, answer.text
    fresh: dict[str, Any] = answer.json()
    return fresh


def advance_sandbox_clock(stack: Stack, seconds: float) -> None:
    moved = httpx.patch(
        f"{stack.sandbox_url}/sandbox/clock", json={"advance_seconds": seconds}, timeout=10
    )
    assert moved.status_code == 200, moved.text
