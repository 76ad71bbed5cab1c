"""A key 360dialog made is never lost to a database error, and never requested twice by
one job attempt (docs/decisions/0002).

- The key request times out after 360dialog made the key: the client does not repeat it;
  the job records an unknown outcome and fails this attempt: one generation.
- The database restarts while 360dialog makes the key: the job keeps the key in memory
  and stores that very key once PostgreSQL is back: one generation, a working key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from onboard360.drill.postgres import PrivatePostgres
from onboard360.hub import RetryPolicy
from onboard360.sandbox.models import Faults
from onboard360.worker.app import RetryTuning
from tests.e2e.service_stack import worker_running
from tests.integration.service_http import messaging_status, rows
from tests.private_postgres import private_database
from tests.sandbox_fixtures import wait_until
from tests.stack import FAST_RETRY, Stack, running_stack

API_KEYS = "/partners/{id}/channels/{id}/api_keys"


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def key_requests() -> float:
    return sum(
        metric("onboard360_hub_api_requests_total", method="POST", path=API_KEYS, status=s)
        for s in ("error", "200", "201", "500", "502", "503")
    )


def test_a_key_request_answered_too_late_is_not_repeated_by_the_attempt(stack: Stack) -> None:
    # 360dialog makes the key 1.5 s after the request; the client gives up after 0.5 s.
    stack.sandbox_hub("pp").faults = Faults(api_latency_seconds=1.5)
    channel = stack.redirect_running_channel("pp")
    requests, unknown = (
        key_requests(),
        metric("onboard360_key_generation_outcome_unknown_total", hub="pp"),
    )
    # A client patient enough to retry a repeatable call four times; the job is tried
    # twice (procrastinate: one retry).
    stack.settle_with(
        retry=RetryPolicy(request_timeout=0.5, attempts=4, wait_initial=0, wait_max=0),
        tuning=RetryTuning(exponential_wait=0, hub_attempts=1),
    )
    time.sleep(2.0)  # long past the sandbox's last answer
    (generation,) = rows(
        stack,
        "SELECT status, attempts, last_error FROM key_generations WHERE channel_id = %s",
        channel,
    )
    assert (generation["status"], generation["attempts"]) == ("pending", 2)
    assert "may have done it" in generation["last_error"]
    # One request, and so one key made (unseen), per attempt: never a second one within.
    assert key_requests() - requests == 2
    assert stack.sandbox.channel(channel).keys_generated == 2
    assert metric("onboard360_key_generation_outcome_unknown_total", hub="pp") - unknown == 2
    kinds = [
        r["kind"] for r in rows(stack, "SELECT kind FROM timeline WHERE channel_id = %s", channel)
    ]
    assert kinds.count("key_outcome_unknown") == 2
    assert "key_stored" not in kinds


@pytest.fixture
def private() -> Iterator[tuple[PrivatePostgres, str]]:
    with private_database() as found:
        yield found


@pytest.mark.xdist_group("private_postgres")
def test_a_made_key_is_stored_when_the_database_comes_back(
    private: tuple[PrivatePostgres, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, url = private
    retries = metric("onboard360_key_store_retries_total", hub="pp")
    with (
        running_stack(url, worker_heartbeat_seconds=0.5, stalled_worker_seconds=1.0) as stack,
        worker_running(stack, retry=FAST_RETRY),
    ):
        # 360dialog takes 3 s to make each key: the database goes away meanwhile.
        stack.sandbox_hub("pp").faults = Faults(api_latency_seconds=3.0)
        channel = stack.redirect_running_channel("pp")
        wait_until(
            lambda: rows(
                stack,
                "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'provision_key' "
                "AND status = 'doing'",
            ),
            timeout=30,
            what="the key job to start",
        )
        time.sleep(1.0)  # it locks its rows and calls 360dialog, which answers in 3 s
        server.stop()
        wait_until(
            lambda: stack.sandbox.channel(channel).keys_generated == 1,
            timeout=10,
            what="360dialog to make the key while the database is down",
        )
        time.sleep(1.0)  # the job has the key and cannot commit it
        server.start()
        stored = wait_until(
            lambda: stack.api.get(f"/api/v1/channels/{channel}/api-key").json().get("api_key"),
            timeout=60,
            what="the key to be stored",
        )
        stack.sandbox_hub("pp").faults = Faults()
        assert messaging_status(stack, stored) == 200  # the very key 360dialog made
    assert stack.sandbox.channel(channel).keys_generated == 1
    assert metric("onboard360_key_store_retries_total", hub="pp") - retries == 1
    said = caplog.text + capsys.readouterr().out
    assert "keeping it in memory" in said
    assert stored not in said
