"""`onboard360 sync` as a user runs it: killed mid-run it continues, and one at a time."""

from __future__ import annotations

import asyncio
import subprocess

from onboard360.jobs.checkpoints import hub_sync_lock
from onboard360.runtime import failpoints
from onboard360.wiring.service import open_service
from tests.cli_process import run_onboard360
from tests.integration.service_http import rows
from tests.stack import FAST_RETRY, Stack


def cli(stack: Stack, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return run_onboard360(*args, env={**stack.env(), **extra_env}, timeout=60)


def lost_ready_channels(stack: Stack, count: int) -> list[str]:
    stack.sandbox_hub("pp").faults.webhook_drop_rate = 1.0
    client = stack.sandbox.create_client(stack.hub("pp").partner_id, "Lost", "l@example.test")
    ids = [stack.sandbox.create_channel(client.id, f"+4917{n:09d}").id for n in range(count)]
    for channel_id in ids:
        stack.sandbox.set_status(channel_id, "ready")
    return ids


def test_sync_killed_after_a_page_continues_from_the_next_one(stack: Stack) -> None:
    ids = lost_ready_channels(stack, 5)
    killed = cli(
        stack,
        *("sync", "--hub", "pp", "--page-size", "2"),
        ONBOARD360_FAILPOINTS=failpoints.SYNC_PAGE_COMMITTED,
    )
    assert killed.returncode == failpoints.EXIT_CODE, killed.stderr
    assert len(rows(stack, "SELECT * FROM channels WHERE hub = 'pp'")) == 2

    resumed = cli(stack, "sync", "--hub", "pp", "--page-size", "2")

    assert resumed.returncode == 0, resumed.stderr
    assert "pp: continued the interrupted sync run" in resumed.stdout
    assert "from channel 2" in resumed.stdout
    assert "pp: 3 channels, 3 changed, 0 unusable, 0 key jobs requeued, 2 API calls" in (
        resumed.stdout
    )
    stored = rows(stack, "SELECT channel_id FROM channels WHERE hub = 'pp'")
    assert sorted(r["channel_id"] for r in stored) == sorted(ids)


def sync_while_another_holds_the_hub(stack: Stack) -> subprocess.CompletedProcess[str]:
    """`onboard360 sync --hub pp` while this process holds the hub's sync lock."""

    async def while_another_runs() -> subprocess.CompletedProcess[str]:
        async with (
            open_service(stack.settings, stack.database_url, retry=FAST_RETRY) as svc,
            hub_sync_lock(svc.engine, "pp"),
        ):
            return await asyncio.to_thread(cli, stack, "sync", "--hub", "pp")

    return asyncio.run(while_another_runs())


def test_sync_of_a_hub_another_sync_holds_says_so_and_changes_nothing(stack: Stack) -> None:
    lost_ready_channels(stack, 2)

    refused = sync_while_another_holds_the_hub(stack)

    assert refused.returncode == 1
    assert "pp: another sync of hub 'pp' is running" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert rows(stack, "SELECT * FROM channels WHERE hub = 'pp'") == []
