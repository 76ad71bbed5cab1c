"""A worker rides out PostgreSQL restarts in the same process: it waits, says so once,
answers not-ready meanwhile, and resumes fetching and listening when the server is back.

The server is the test's own (tests/private_postgres.py), stopped with ``pg_ctl stop -m
immediate``: every connection is cut, as in a crash or a failover.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from procrastinate.exceptions import ConnectorException
from procrastinate.manager import JobManager
from prometheus_client import REGISTRY

from onboard360.db.embedded import to_libpq_uri
from onboard360.drill.postgres import PrivatePostgres
from onboard360.jobs.outage import DatabaseWatch, OutageBackoff
from onboard360.runtime.serving import free_port
from tests.e2e.service_stack import worker_running
from tests.integration.test_cli_shutdown import queue_delivery
from tests.private_postgres import private_database
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack, running_stack

pytestmark = pytest.mark.xdist_group("private_postgres")


@pytest.fixture
def private() -> Iterator[tuple[PrivatePostgres, str]]:
    with private_database() as found:
        yield found


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def key_stored(stack: Stack, channel: str) -> bool:
    answer = stack.api.get(f"/api/v1/channels/{channel}/api-key")
    return answer.status_code == 200


def readiness(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_a_worker_waits_for_a_restarted_database_and_resumes(
    private: tuple[PrivatePostgres, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server, url = private
    watch = DatabaseWatch(to_libpq_uri(url), backoff=OutageBackoff(first=0.1, cap=0.5))
    port = free_port()
    ready = f"http://127.0.0.1:{port}/readyz"
    outages = metric("onboard360_worker_database_outages_total")
    seconds = metric("onboard360_worker_database_outage_seconds_total")
    with (
        running_stack(url, worker_heartbeat_seconds=0.5, stalled_worker_seconds=1.0) as stack,
        worker_running(stack, watch=watch, metrics_port=port),
    ):
        first = stack.redirect_running_channel("pp", "+4915100000001")
        wait_until(lambda: key_stored(stack, first), timeout=30, what="the first key")
        assert readiness(ready) == 200
        for _ in range(2):
            server.stop()
            wait_until(lambda: readiness(ready) == 503, timeout=15, what="not ready")
            time.sleep(1.0)
            server.start()
            wait_until(lambda: readiness(ready) == 200, timeout=30, what="ready again")
        # The same worker, with no restart, takes the next channel through to its key.
        second = stack.redirect_running_channel("pp", "+4915100000002")
        wait_until(lambda: key_stored(stack, second), timeout=30, what="the second key")
    assert stack.sandbox.channel(first).keys_generated == 1
    assert stack.sandbox.channel(second).keys_generated == 1
    assert metric("onboard360_worker_database_outages_total") - outages == 2
    assert metric("onboard360_worker_database_outage_seconds_total") - seconds >= 2.0
    # structlog prints, or hands its lines to the stdlib root logger once configured.
    said = caplog.text + capsys.readouterr().out
    assert said.count("database unreachable") == 2, said
    assert said.count("database back") == 2, said


def job_status(database_url: str, event_id: str) -> str | None:
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        row = conn.execute(
            "SELECT status::text FROM procrastinate_jobs WHERE args->>'event_id' = %s",
            (event_id,),
        ).fetchone()
    return row[0] if row else None


def test_a_job_whose_outcome_write_was_cut_off_runs_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A blip shorter than the pool's wait: the worker's fetches and heartbeats ride it out,
    # but the write of one job's outcome was on a connection the blip cut.
    cut: list[int] = []
    finish = JobManager.finish_job

    async def cut_once(self: JobManager, job: Any, *args: Any, **kwargs: Any) -> None:
        if not cut:
            cut.append(job.id)
            raise ConnectorException("lost") from psycopg.OperationalError("server closed")
        await finish(self, job, *args, **kwargs)

    monkeypatch.setattr(JobManager, "finish_job", cut_once)
    with (
        running_stack(
            database_url, worker_heartbeat_seconds=0.5, stalled_worker_seconds=1.0
        ) as stack,
        worker_running(stack),
    ):
        queue_delivery(database_url, "msg_outcome_cut")
        wait_until(lambda: cut, timeout=15, what="the cut outcome write")
        wait_until(
            lambda: job_status(database_url, "msg_outcome_cut") == "succeeded",
            timeout=15,
            what="the job run again",
        )
