"""What the key health tests share: one run of the check as a worker runs it, a key revoked
out of band at the sandbox, and what the channel and the product show of it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from prometheus_client import REGISTRY

from onboard360.jobs.key_health import KeyCheckReport, check_keys
from onboard360.wiring.service import open_service
from tests.integration.service_http import execute, rows
from tests.stack import FAST_RETRY, Stack


def run_check(stack: Stack, period_hours: float = 24, **hub_changes: Any) -> KeyCheckReport:
    """One run of the periodic job, as a worker would (its batch: a whole period's);
    ``hub_changes`` change hub pp's settings for this run."""
    hubs = [h.model_copy(update=hub_changes if h.name == "pp" else {}) for h in stack.settings.hubs]
    update = {"hubs": hubs, "key_check_period_hours": period_hours}
    settings = stack.settings.model_copy(update=update)

    async def run() -> KeyCheckReport:
        async with open_service(settings, stack.database_url, retry=FAST_RETRY) as service:
            # A run interval as long as the period: every due channel is in this batch.
            return await check_keys(service, every_minutes=int(period_hours * 60))

    return asyncio.run(run())


def revoke_out_of_band(stack: Stack, client_id: str, *, granted: bool = False) -> None:
    """The client takes API-key permission away in its own hub: 360dialog revokes the keys
    and tells nobody (the sandbox's control API, no webhook). ``granted``: it gives it back
    (the revoked keys stay revoked)."""
    answer = httpx.post(
        f"{stack.sandbox_url}/sandbox/clients/{client_id}/api-key-permission",
        json={"granted": granted},
    )
    assert answer.status_code == 200, answer.text


def due_again(stack: Stack) -> None:
    """As if a period had passed: every key is due for its next check."""
    execute(stack, "UPDATE channels SET key_checked_at = now() - interval '2 days'")


def checks(hub: str, outcome: str) -> float:
    labels = {"hub": hub, "outcome": outcome}
    return REGISTRY.get_sample_value("onboard360_key_checks_total", labels) or 0.0


def health(stack: Stack, channel: str) -> dict[str, Any]:
    (row,) = rows(
        stack,
        "SELECT blocker, key_status, key_intent, key_checked_at, key_check_outcome, "
        "key_good_at FROM channels WHERE channel_id = %s",
        channel,
    )
    return row


def events_of(stack: Stack, kind: str, channel: str) -> list[dict[str, Any]]:
    return [
        e
        for e in stack.product_events()
        if e["type"] == kind and e["data"]["channel_id"] == channel
    ]
