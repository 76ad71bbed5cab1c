"""A worker killed between 360dialog's answer and our commit: the job is recovered from the
dead worker, exactly one more key is generated, and the key we store is the live one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from onboard360.runtime import failpoints
from tests.integration.service_http import (
    get_redirect,
    messaging_status,
    redirect_query,
    rows,
    sandbox_channels,
    state_of,
)
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack, running_stack

# Short thresholds so a dead worker is noticed in about a second.
HEARTBEAT = 0.2
STALLED_AFTER = 1.0


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with running_stack(
        database_url, worker_heartbeat_seconds=HEARTBEAT, stalled_worker_seconds=STALLED_AFTER
    ) as s:
        yield s


def worker_process(stack: Stack, *, failpoint: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARD360_")}
    env.update(stack.env())
    env.update(
        ONBOARD360_WORKER_HEARTBEAT_SECONDS=str(HEARTBEAT),
        ONBOARD360_STALLED_WORKER_SECONDS=str(STALLED_AFTER),
        ONBOARD360_LOG_FORMAT="json",
    )
    if failpoint:
        env[failpoints.ENV_VAR] = failpoint
    return subprocess.Popen(
        [sys.executable, "-m", "onboard360", "worker", "--concurrency", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    if process.poll() is None:
        process.terminate()
    return process.communicate(timeout=30)


def key_job(stack: Stack) -> dict[str, object]:
    (job,) = rows(
        stack, "SELECT status, attempts FROM procrastinate_jobs WHERE task_name = 'provision_key'"
    )
    return job


def test_crash_after_the_hub_answered_costs_exactly_one_more_key(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    answer = get_redirect(stack, "pp", redirect_query(state_of(created), client, [channel]))
    assert answer.status_code == 200
    wait_until(
        lambda: rows(stack, "SELECT count(*) AS n FROM inbox_events")[0]["n"] >= 3,
        timeout=60,
        what="the sandbox's webhooks to be stored",
    )

    doomed = worker_process(stack, failpoint=failpoints.KEY_GENERATED)
    try:
        assert doomed.wait(timeout=60) == failpoints.EXIT_CODE
    finally:
        _out, crash_log = stop(doomed)
    # 360dialog made a key; we never stored it, and the job is stuck with the dead worker.
    assert stack.sandbox.channel(channel).keys_generated == 1
    assert rows(stack, "SELECT count(*) AS n FROM api_keys")[0]["n"] == 0
    (generation,) = rows(stack, "SELECT status FROM key_generations")
    assert generation["status"] == "pending"
    assert key_job(stack)["status"] == "doing"

    survivor = worker_process(stack)
    try:
        wait_until(
            lambda: rows(stack, "SELECT status FROM key_generations")[0]["status"] == "stored",
            timeout=60,
            what="the recovered key job to store the key",
        )
        wait_until(
            lambda: key_job(stack)["status"] == "succeeded", timeout=60, what="the job to finish"
        )
    finally:
        _out, survivor_log = stop(survivor)

    assert stack.sandbox.channel(channel).keys_generated == 2
    key = stack.api.get(f"/api/v1/channels/{channel}/api-key").json()
    assert key["key_version"] == 1
    assert key["api_key"] == stack.sandbox.channel(channel).current_key().value  # type: ignore[union-attr]
    assert messaging_status(stack, key["api_key"]) == 200
    assert "stalled job retried" in survivor_log
    for secret in (key["api_key"], *(k.value for k in stack.sandbox.channel(channel).api_keys)):
        assert secret not in crash_log + survivor_log
