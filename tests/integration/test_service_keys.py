"""Exactly one API-key generation per channel per intent, with several workers at once and
with duplicate jobs in the queue."""

from __future__ import annotations

import asyncio
import json
import threading

from onboard360.sandbox.models import Faults
from tests.integration.service_http import (
    execute,
    live_channel,
    messaging_status,
    onboarded_channels,
    rows,
)
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack

CHANNELS = 16


def unfinished_jobs(stack: Stack) -> int:
    found = rows(
        stack, "SELECT count(*) AS n FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
    )
    return int(found[0]["n"])


def run_workers_together(stack: Stack, workers: int = 2) -> None:
    """``workers`` independent workers (each its own event loop, engine and procrastinate
    app), started together, each running until it finds the queue empty."""
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work() -> None:
        start.wait()
        try:
            asyncio.run(stack.worker(until_idle=True, concurrency=4))
        except BaseException as exc:  # reported in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def drain_with_workers(stack: Stack) -> None:
    # A worker that finds the queue empty for a moment stops; jobs deferred by other jobs
    # after that are taken by the next round.
    def drained() -> bool:
        run_workers_together(stack)
        return unfinished_jobs(stack) == 0

    wait_until(drained, timeout=120, what="the workers to empty the queue")


def test_many_channels_running_at_once_get_exactly_one_key_each(stack: Stack) -> None:
    hub = stack.sandbox_hub("pp")
    # Every webhook twice, shuffled: more copies of each event for the workers to race on.
    hub.faults = Faults(webhook_duplicate_rate=1.0, webhook_reorder=True)
    _created, _client, channels = onboarded_channels(stack, "pp", CHANNELS)
    for channel in channels:
        stack.sandbox.set_status(channel, "running")
    # Every webhook stored before any worker starts: processing and key jobs all race.
    wait_until(
        lambda: rows(stack, "SELECT count(*) AS n FROM inbox_events")[0]["n"] >= 3 * CHANNELS,
        timeout=90,
        what="every webhook to be stored",
    )
    drain_with_workers(stack)

    for channel in channels:
        assert stack.sandbox.channel(channel).keys_generated == 1, channel
    stored = rows(stack, "SELECT channel_id, count(*) AS n FROM api_keys GROUP BY channel_id")
    assert {row["channel_id"]: row["n"] for row in stored} == dict.fromkeys(channels, 1)
    statuses = rows(stack, "SELECT DISTINCT status FROM key_generations")
    assert [row["status"] for row in statuses] == ["stored"]
    for channel in channels[:3]:
        key = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()["api_key"]
        assert messaging_status(stack, key) == 200


def test_duplicate_key_jobs_for_one_intent_generate_once(stack: Stack) -> None:
    _created, _client, channel = live_channel(stack, "pp")
    args = json.dumps({"hub": "pp", "channel_id": channel, "intent": 1})
    for _ in range(5):
        execute(
            stack,
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('default', 'provision_key', 0, "
            "%s, NULL, CAST(%s AS jsonb), NULL)::procrastinate_job_to_defer_v1])",
            f"key:pp:{channel}",
            args,
        )
    drain_with_workers(stack)
    assert stack.sandbox.channel(channel).keys_generated == 1
    key = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()["api_key"]
    assert messaging_status(stack, key) == 200
