"""Reconciliation recovers what lost webhooks never told us."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from onboard360.db import codec
from onboard360.domain import KeyStatus
from onboard360.jobs.checkpoints import SyncAlreadyRunning, hub_sync_lock
from onboard360.jobs.reconcile import Progress, SyncReport, reconcile_hub
from onboard360.wiring.service import open_service
from tests.integration.service_http import (
    execute,
    get_redirect,
    redirect_query,
    rows,
    sandbox_channels,
    state_of,
)
from tests.stack import FAST_RETRY, Stack


def sync(
    stack: Stack, hub: str, page_size: int = 1000, progress: Progress | None = None
) -> SyncReport:
    async def run() -> SyncReport:
        async with open_service(stack.settings, stack.database_url, retry=FAST_RETRY) as svc:
            return await reconcile_hub(svc, stack.hub(hub), page_size=page_size, progress=progress)

    return asyncio.run(run())


class Interrupted(Exception):
    """Raised from the progress callback: the sync stops right after a committed page."""


def stop_after(position: int) -> Progress:
    def progress(reached: int, _total: int) -> None:
        if reached >= position:
            raise Interrupted(reached)

    return progress


def checkpoint(stack: Stack, hub: str) -> dict[str, Any]:
    found = rows(stack, "SELECT * FROM sync_checkpoints WHERE hub = %s", hub)
    assert len(found) == 1
    return found[0]


def lost_channels(
    stack: Stack, hub: str, count: int, *, status: str = "running", onboarded: bool = False
) -> list[str]:
    """Channels whose webhooks were all dropped on the way to us.

    ``onboarded``: the client came through one of our onboardings (its redirect arrived,
    so onboard360 may key the numbers); otherwise they are a client from before
    onboard360 or from a direct link, whose keys someone else holds.
    """
    stack.sandbox_hub(hub).faults.webhook_drop_rate = 1.0
    state = state_of(stack.start_onboarding(hub)) if onboarded else None
    client = stack.sandbox.create_client(stack.hub(hub).partner_id, "Lost", "lost@example.test")
    ids = [stack.sandbox.create_channel(client.id, f"+4917{n:09d}").id for n in range(count)]
    for channel_id in ids:
        stack.sandbox.set_status(channel_id, status)
    if state is not None:
        assert get_redirect(stack, hub, redirect_query(state, client.id, ids)).status_code == 200
    return ids


def test_sync_finds_channels_whose_webhooks_were_lost_and_provisions_them(stack: Stack) -> None:
    ids = lost_channels(stack, "pp", 5, onboarded=True)
    stack.settle()
    assert stack.api.get(f"/api/v1/channels/{ids[0]}").json()["status"] is None

    report = sync(stack, "pp", page_size=2)
    stack.drain()

    assert (report.channels_seen, report.api_calls) == (5, 3)
    for channel_id in ids:
        assert stack.api.get(f"/api/v1/channels/{channel_id}").json()["api_key_available"]
        assert stack.sandbox.channel(channel_id).keys_generated == 1


@pytest.mark.parametrize("hub", ["pp", "dp"])
def test_sync_never_keys_a_channel_onboard360_did_not_onboard(stack: Stack, hub: str) -> None:
    """A client from before onboard360: its running numbers are recorded, not keyed (a new
    key would revoke the one the partner's current system holds)."""
    ids = lost_channels(stack, hub, 2)
    sync(stack, hub)
    stack.drain()
    assert sync(stack, hub).channels_changed == 0
    stack.drain()
    assert all(stack.sandbox.channel(c).keys_generated == 0 for c in ids)
    assert rows(stack, "SELECT * FROM key_generations") == []
    seen = stack.api.get(f"/api/v1/channels/{ids[0]}").json()
    assert (seen["status"], seen["api_key_available"], seen["blocker"]) == (
        "running",
        False,
        "not_entitled",
    )
    assert "not onboarded through onboard360" in seen["reason"]


def test_sync_twice_changes_nothing_the_second_time(stack: Stack) -> None:
    ids = lost_channels(stack, "pp", 3, onboarded=True)
    sync(stack, "pp")
    stack.drain()
    again = sync(stack, "pp")
    stack.drain()
    assert again.channels_changed == 0
    assert all(stack.sandbox.channel(c).keys_generated == 1 for c in ids)


def test_sync_requeues_a_key_job_that_gave_up(stack: Stack) -> None:
    ids = lost_channels(stack, "pp", 1, onboarded=True)
    sync(stack, "pp")
    stack.sandbox_hub("pp").faults.api_5xx_rate = 1.0
    stack.drain()  # every attempt fails: the job gives up
    assert stack.sandbox.channel(ids[0]).keys_generated == 0
    stack.sandbox_hub("pp").faults.api_5xx_rate = 0.0

    again = sync(stack, "pp")
    stack.drain()

    assert again.keys_requeued == 1
    assert stack.sandbox.channel(ids[0]).keys_generated == 1


def test_an_interrupted_sync_continues_after_its_last_committed_page(stack: Stack) -> None:
    ids = lost_channels(stack, "pp", 7, status="ready")
    with pytest.raises(Interrupted):
        sync(stack, "pp", page_size=2, progress=stop_after(4))
    stopped = checkpoint(stack, "pp")
    assert (stopped["next_offset"], stopped["finished_at"]) == (4, None)

    resumed = sync(stack, "pp", page_size=2)

    assert (resumed.resumed, resumed.started_at_offset) == (True, 4)
    assert resumed.run_id == stopped["run_id"].hex
    assert (resumed.channels_seen, resumed.channels_changed, resumed.api_calls) == (3, 3, 2)
    # Every channel went through the sync exactly once across the two runs.
    seen = rows(
        stack,
        "SELECT channel_id, count(*) AS n FROM timeline WHERE hub = 'pp' AND source = 'sync' "
        "GROUP BY channel_id",
    )
    assert {r["channel_id"]: r["n"] for r in seen} == dict.fromkeys(ids, 1)
    created = rows(
        stack, "SELECT channel_id FROM product_events WHERE event_type = %s", "channel.created"
    )
    assert sorted(r["channel_id"] for r in created) == sorted(ids)
    done = checkpoint(stack, "pp")
    assert done["finished_at"] is not None
    assert done["next_offset"] == 7


def test_a_sync_after_a_finished_one_starts_from_the_beginning(stack: Stack) -> None:
    lost_channels(stack, "pp", 3, status="ready")
    first = sync(stack, "pp", page_size=2)
    again = sync(stack, "pp", page_size=2)
    assert (again.resumed, again.started_at_offset) == (False, 0)
    assert again.run_id != first.run_id
    assert (again.channels_seen, again.channels_changed, again.api_calls) == (3, 0, 2)


def test_a_second_sync_of_the_same_hub_is_turned_away(stack: Stack) -> None:
    lost_channels(stack, "pp", 2, status="ready")
    lost_channels(stack, "dp", 1, status="ready")

    async def while_another_runs() -> tuple[str, SyncReport]:
        async with open_service(stack.settings, stack.database_url, retry=FAST_RETRY) as svc:
            async with hub_sync_lock(svc.engine, "pp"):
                with pytest.raises(SyncAlreadyRunning) as refused:
                    await reconcile_hub(svc, stack.hub("pp"))
                other_hub = await reconcile_hub(svc, stack.hub("dp"))
            return str(refused.value), other_hub

    message, other_hub = asyncio.run(while_another_runs())

    assert "another sync of hub 'pp' is running" in message
    assert rows(stack, "SELECT * FROM channels WHERE hub = 'pp'") == []
    assert other_hub.channels_changed == 1
    assert sync(stack, "pp").channels_changed == 2  # the lock went with the first sync


def test_sync_applies_a_change_the_stored_state_has_not_settled(stack: Stack) -> None:
    """A stored state a key may be generated for (written by an older version, say) is
    not "unchanged" for the sync: the snapshot goes through the transition, which
    provisions it."""
    ids = lost_channels(stack, "pp", 1, onboarded=True)
    sync(stack, "pp")
    stack.sandbox_hub("pp").faults.api_5xx_rate = 1.0
    stack.drain()  # the key job gives up; now make the stored state look unprovisioned
    stack.sandbox_hub("pp").faults.api_5xx_rate = 0.0
    stored = codec.channel_from_json(
        rows(stack, "SELECT state FROM channels WHERE channel_id = %s", ids[0])[0]["state"]
    )
    unsettled = replace(stored, key=KeyStatus.NONE)
    execute(
        stack,
        "UPDATE channels SET state = %s, key_status = 'none', blocker = NULL WHERE channel_id = %s",
        Jsonb(codec.channel_to_json(unsettled)),
        ids[0],
    )
    execute(stack, "DELETE FROM key_generations WHERE channel_id = %s", ids[0])

    again = sync(stack, "pp")
    stack.drain()

    assert again.channels_changed == 1
    assert stack.sandbox.channel(ids[0]).keys_generated == 1


def shared_running_channel(stack: Stack, hub: str, *, permission: bool) -> str:
    """A running number the client shared in the popup; under Direct Payment with API-key
    permission granted or denied there (the sandbox client's permission)."""
    created = stack.start_onboarding(hub)
    _, (channel,) = sandbox_channels(stack, hub, permission=permission)
    stack.sandbox.set_status(channel, "running")
    popup_visit(stack, hub, channel, share=True, state=state_of(created))
    return channel


def popup_visit(
    stack: Stack, hub: str, channel: str, *, share: bool, state: str | None = None
) -> None:
    """The client's redirect from a popup visit that shares or revokes ``channel``."""
    client = stack.sandbox.channel(channel).client_id
    listed, revoked = ([channel], []) if share else ([], [channel])
    state = state or state_of(stack.start_onboarding(hub))
    query = redirect_query(state, client, listed, revoked)
    assert get_redirect(stack, hub, query).status_code == 200


def generations(stack: Stack, channel: str) -> list[tuple[int, str]]:
    found = rows(
        stack,
        "SELECT intent, status FROM key_generations WHERE channel_id = %s ORDER BY intent",
        channel,
    )
    return [(row["intent"], row["status"]) for row in found]


def refusals(stack: Stack, channel: str) -> int:
    found = rows(
        stack,
        "SELECT count(*) AS n FROM product_events "
        "WHERE channel_id = %s AND event_type = 'channel.permission_refused'",
        channel,
    )
    return int(found[0]["n"])


def test_sync_never_lifts_a_refusal(stack: Stack) -> None:
    channel = shared_running_channel(stack, "dp", permission=False)
    stack.settle()
    assert generations(stack, channel) == [(1, "refused")]

    sync(stack, "dp")
    stack.drain()

    # Only the client's next popup visit (or an operator's confirmation) lifts it.
    assert generations(stack, channel) == [(1, "refused")]
    assert stack.api.get(f"/api/v1/channels/{channel}").json()["permission"] == "refused"


def test_a_refusal_asked_before_a_newer_redirect_is_followed_by_one_more_attempt(
    stack: Stack,
) -> None:
    hub = stack.sandbox_hub("dp")
    channel = shared_running_channel(stack, "dp", permission=False)
    hub.faults.api_5xx_rate = 1.0  # after the redirect was verified
    stack.settle()  # every attempt of intent 1 fails: the job gives up, the intent is wanted
    hub.faults.api_5xx_rate = 0.0
    assert generations(stack, channel) == [(1, "pending")]
    # The client visits the popup again (denying API-key permission once more); then the
    # job of intent 1, asked before that visit, is requeued and 360dialog refuses it.
    popup_visit(stack, "dp", channel, share=True)

    assert sync(stack, "dp").keys_requeued == 1
    stack.drain()

    # Intent 1's refusal may predate the visit: one new attempt, whose refusal counts.
    assert generations(stack, channel) == [(1, "refused"), (2, "refused")]
    assert refusals(stack, channel) == 1
    assert stack.api.get(f"/api/v1/channels/{channel}").json()["permission"] == "refused"
    assert stack.sandbox.channel(channel).keys_generated == 0


def test_a_key_job_requeued_after_a_revoking_redirect_makes_no_key(stack: Stack) -> None:
    hub = stack.sandbox_hub("dp")
    channel = shared_running_channel(stack, "dp", permission=True)
    hub.faults.api_5xx_rate = 1.0  # after the redirect was verified
    stack.settle()  # the job of intent 1 gives up
    hub.faults.api_5xx_rate = 0.0
    popup_visit(stack, "dp", channel, share=False)

    sync(stack, "dp")
    stack.drain()

    assert generations(stack, channel) == [(1, "discarded")]
    assert stack.sandbox.channel(channel).keys_generated == 0
    assert rows(stack, "SELECT id FROM api_keys WHERE channel_id = %s", channel) == []
    events = rows(stack, "SELECT event_type FROM product_events WHERE channel_id = %s", channel)
    types = {row["event_type"] for row in events}
    assert "channel.permission_revoked" in types
    assert types.isdisjoint({"channel.activated", "channel.permission_granted"})
