"""Stalled-job recovery: a job whose worker died mid-run is put back in the queue.

procrastinate (v3) marks a job ``doing`` when a worker takes it, and each worker
refreshes a heartbeat row every ``worker_heartbeat_seconds``. A worker killed at any line
(``kill -9``, an OOM, a lost host) leaves its jobs ``doing`` for ever, and every later job
sharing their ``lock`` (all key jobs of a channel) waits behind them. procrastinate's
recipe, done here: find the ``doing`` jobs of workers whose heartbeat is older than
``stalled_worker_seconds`` (``JobManager.get_stalled_jobs``) and ``retry_job`` them —
when a worker starts, then periodically while it runs.

Silence while the database was down proves nothing: no worker could write a heartbeat
then. So nothing is recovered until the database has been up for ``stalled_worker_seconds``
(``pg_postmaster_start_time()``) and this worker's own last outage ended that long ago
(a failover to a replica that has run for days): a worker still finishing its jobs after
an outage — a key job storing the key it holds — is not taken for dead.

Retrying is safe because every task is idempotent: the key job, for one, re-checks its
``key_generations`` row under a row lock, so a retried job for a key already stored does
nothing, and one whose 360dialog call was cut off generates exactly once more
(docs/decisions/0002-exactly-once-keys.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import procrastinate
from procrastinate import exceptions

from onboard360.runtime.logging import get_logger

log = get_logger(__name__)


_DATABASE_UP_SECONDS = "SELECT extract(epoch FROM now() - pg_postmaster_start_time()) AS up"


async def _database_up_for(app: procrastinate.App) -> float:
    row = await app.connector.execute_query_one_async(_DATABASE_UP_SECONDS)
    return float(row["up"])


async def recover_stalled_jobs(
    app: procrastinate.App,
    stalled_after_seconds: float,
    *,
    since_outage: Callable[[], float | None] = lambda: None,
) -> list[int]:
    """Retry now every job held by a worker silent for ``stalled_after_seconds``; their ids.

    ``since_outage``: seconds since this worker's last database outage ended (None: none).
    """
    quiet = since_outage()
    if quiet is not None and quiet < stalled_after_seconds:
        return []
    if await _database_up_for(app) < stalled_after_seconds:
        return []
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_seconds)
    retried: list[int] = []
    for job in stalled:
        if job.id is None:  # pragma: no cover - rows always carry an id
            continue
        try:
            await app.job_manager.retry_job(job)
        except exceptions.ConnectorException:
            # Another worker recovered it first (it is no longer ``doing``).
            continue
        retried.append(job.id)
        log.warning(
            "stalled job retried",
            job_id=job.id,
            task=job.task_name,
            stalled_worker_id=job.worker_id,
        )
    return retried


async def keep_recovering(
    app: procrastinate.App,
    stalled_after_seconds: float,
    *,
    since_outage: Callable[[], float | None] = lambda: None,
) -> None:
    """``recover_stalled_jobs`` every half threshold, until cancelled."""
    while True:
        await asyncio.sleep(stalled_after_seconds / 2)
        try:
            await recover_stalled_jobs(app, stalled_after_seconds, since_outage=since_outage)
        except exceptions.ConnectorException:
            # The database blinked; the worker's own loop reports that. Try next round.
            continue
