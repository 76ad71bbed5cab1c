"""Reconciliation recovers what lost webhooks never told us."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from onboard360.jobs.reconcile import SyncReport, reconcile_hub
from onboard360.service import open_service
from tests.stack import FAST_RETRY, Stack, running_stack


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with running_stack(database_url) as s:
        yield s


def sync(stack: Stack, hub: str, page_size: int = 1000) -> SyncReport:
    async def run() -> SyncReport:
        async with open_service(stack.settings, stack.database_url, retry=FAST_RETRY) as svc:
            return await reconcile_hub(svc, stack.hub(hub), page_size=page_size)

    return asyncio.run(run())


def lost_channels(stack: Stack, hub: str, count: int, *, status: str = "running") -> list[str]:
    """Channels whose webhooks were all dropped on the way to us."""
    stack.sandbox_hub(hub).faults.webhook_drop_rate = 1.0
    client = stack.sandbox.create_client(stack.hub(hub).partner_id, "Lost", "lost@example.test")
    ids = [stack.sandbox.create_channel(client.id, f"+4917{n:09d}").id for n in range(count)]
    for channel_id in ids:
        stack.sandbox.set_status(channel_id, status)
    return ids


def test_sync_finds_channels_whose_webhooks_were_lost_and_provisions_them(stack: Stack) -> None:
    ids = lost_channels(stack, "pp", 5)
    stack.settle()
    assert stack.api.get(f"/api/v1/channels/{ids[0]}").status_code == 404

    report = sync(stack, "pp", page_size=2)
    stack.drain()

    assert (report.channels_seen, report.api_calls) == (5, 3)
    for channel_id in ids:
        assert stack.api.get(f"/api/v1/channels/{channel_id}").json()["api_key_available"]
        assert stack.sandbox.channel(channel_id).keys_generated == 1


def test_sync_twice_changes_nothing_the_second_time(stack: Stack) -> None:
    ids = lost_channels(stack, "pp", 3)
    sync(stack, "pp")
    stack.drain()
    again = sync(stack, "pp")
    stack.drain()
    assert again.channels_changed == 0
    assert all(stack.sandbox.channel(c).keys_generated == 1 for c in ids)


def test_sync_does_not_provision_direct_payment_without_permission(stack: Stack) -> None:
    ids = lost_channels(stack, "dp", 2)
    sync(stack, "dp")
    stack.drain()
    assert all(stack.sandbox.channel(c).keys_generated == 0 for c in ids)
    reason = stack.api.get(f"/api/v1/channels/{ids[0]}").json()["reason"]
    assert "Direct Payment" in reason


def test_sync_requeues_a_key_job_that_gave_up(stack: Stack) -> None:
    ids = lost_channels(stack, "pp", 1)
    sync(stack, "pp")
    stack.sandbox_hub("pp").faults.api_5xx_rate = 1.0
    stack.drain()  # every attempt fails: the job gives up
    assert stack.sandbox.channel(ids[0]).keys_generated == 0
    stack.sandbox_hub("pp").faults.api_5xx_rate = 0.0

    again = sync(stack, "pp")
    stack.drain()

    assert again.keys_requeued == 1
    assert stack.sandbox.channel(ids[0]).keys_generated == 1
