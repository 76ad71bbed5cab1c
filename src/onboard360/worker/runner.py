"""Run a worker: the procrastinate loop with the service it needs, in this event loop.

procrastinate's worker stops on the first database error (``fetch_job``, the heartbeat,
the listener). Around it, ``run_worker`` keeps one process alive through outages: on a
database error it waits with backoff until PostgreSQL answers (jobs/outage.py), then
opens a fresh connection pool and starts fetching and listening again. It ends only for
a signal (SIGTERM/SIGINT drain), a configuration error, or a bug.

procrastinate does not stop when the write of a job's outcome fails, so ``_Worker`` does
(see there): a blip short enough for the fetches and heartbeats to ride out must not leave
a job ``doing`` under a worker that is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from typing import Any

import procrastinate
from procrastinate.worker import Worker

from onboard360.config.settings import Settings
from onboard360.db.embedded import to_libpq_uri
from onboard360.db.pooling import listen_conninfo
from onboard360.hub import RetryPolicy
from onboard360.jobs.observe import observe_job
from onboard360.jobs.outage import DatabaseWatch, is_database_error, quiet_database_errors
from onboard360.jobs.scrape import serving_metrics
from onboard360.jobs.stalled import keep_recovering, recover_stalled_jobs
from onboard360.runtime.logging import get_logger
from onboard360.wiring.service import open_service
from onboard360.worker.app import RetryTuning, build_app

log = get_logger(__name__)

FETCH_POLL_SECONDS = 0.5
# A worker loop that stopped with no signal and no error (a side task lost the database
# and it was back by the time the loop ended) starts again after this pause.
RESTART_PAUSE_SECONDS = 0.5


async def run_worker(
    settings: Settings,
    database_url: str,
    *,
    concurrency: int = 10,
    until_idle: bool = False,
    retry: RetryPolicy | None = None,
    tuning: RetryTuning | None = None,
    install_signal_handlers: bool = True,
    metrics_host: str = "127.0.0.1",
    metrics_port: int | None = None,
    watch: DatabaseWatch | None = None,
) -> None:
    """Process jobs until stopped (SIGTERM/SIGINT drain gracefully), or until the queue
    is empty when ``until_idle`` (tests and one-shot runs).

    Jobs left ``doing`` by a dead worker are put back in the queue first, and then every
    ``stalled_worker_seconds / 2`` while this worker runs (jobs/stalled.py).

    With ``metrics_port``, ``GET /metrics`` and ``GET /readyz`` (503 while the database
    is away) are served there while the worker runs.
    """
    watch = watch or DatabaseWatch(to_libpq_uri(database_url))
    stopping = asyncio.Event()
    async with open_service(settings, database_url, retry=retry) as service:
        app = build_app(service, database_url, tuning)
        listens = listen_conninfo(settings, database_url) is not None
        options: dict[str, Any] = {
            "concurrency": concurrency,
            "wait": not until_idle,
            "install_signal_handlers": False,
            # A worker with no session connection to LISTEN on polls (db/pooling.py).
            "listen_notify": not until_idle and listens,
            "update_heartbeat_interval": settings.worker_heartbeat_seconds,
            "stalled_worker_timeout": settings.stalled_worker_seconds,
            "worker_middleware": [observe_job],
            # procrastinate 3.10 can lose a NOTIFY that lands while it is fetching (it
            # clears the event after the fetch); a short poll bounds that wait.
            "fetch_job_polling_interval": FETCH_POLL_SECONDS,
        }
        supervisor = _Supervisor(app, options, watch, stopping, settings.stalled_worker_seconds)
        loud_again = quiet_database_errors()
        try:
            with _stop_on_signals(supervisor.stop, enabled=install_signal_handlers):
                async with serving_metrics(
                    service.engine, metrics_host, metrics_port, ready=lambda: watch.ready
                ):
                    await supervisor.run(until_idle=until_idle)
        finally:
            loud_again()


class _Supervisor:
    def __init__(
        self,
        app: procrastinate.App,
        options: dict[str, Any],
        watch: DatabaseWatch,
        stopping: asyncio.Event,
        stalled_after: float,
    ) -> None:
        self.app = app
        self.options = options
        self.watch = watch
        self.stopping = stopping
        self.stalled_after = stalled_after
        self.worker: Worker | None = None
        self.back_at: float | None = None

    def stop(self) -> None:
        self.stopping.set()
        if self.worker is not None:
            self.worker.stop()

    def since_outage(self) -> float | None:
        return None if self.back_at is None else time.monotonic() - self.back_at

    async def run(self, *, until_idle: bool) -> None:
        while await self._database_answers():
            try:
                await self._session(until_idle=until_idle)
            except Exception as exc:
                if not is_database_error(exc):
                    raise
                self.watch.lost(exc)
                continue
            if until_idle or self.stopping.is_set():
                return
            log.warning("worker loop stopped on its own: starting it again")
            await asyncio.sleep(RESTART_PAUSE_SECONDS)

    async def _database_answers(self) -> bool:
        was_down = not self.watch.ready
        if self.stopping.is_set() or not await self.watch.wait_until_back(self.stopping):
            return False
        if was_down:
            self.back_at = time.monotonic()
        return True

    async def _session(self, *, until_idle: bool) -> None:
        """One procrastinate worker on a fresh pool, until it stops or raises."""
        async with self.app.open_async():
            await recover_stalled_jobs(self.app, self.stalled_after, since_outage=self.since_outage)
            worker = self.worker = _Worker(app=self.app, **self.options)
            if self.stopping.is_set():
                return
            recovering = (
                None
                if until_idle
                else asyncio.create_task(
                    keep_recovering(self.app, self.stalled_after, since_outage=self.since_outage),
                    name="stalled-job recovery",
                )
            )
            try:
                await worker.run()
            finally:
                self.worker = None
                if recovering is not None:
                    recovering.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await recovering
            if worker.outcome_lost is not None:
                # An outage like any other: wait until the database answers, start again.
                raise worker.outcome_lost


class _Worker(Worker):
    """procrastinate's worker, stopping when a job's outcome cannot be written.

    procrastinate stops on a database error in its fetches, heartbeats and listener, not
    when ``finish_job`` or ``retry_job`` fails: that job stays ``doing`` under a worker
    that goes on fetching and heartbeating, so stalled-job recovery never takes it, and
    every later job sharing its ``lock`` (all of one subject's deliveries, one channel's
    key jobs) waits behind it until the process restarts. A database blip shorter than
    the pool's wait does that to the jobs whose outcome was on a connection it cut.
    Stopping the session unregisters this worker (its jobs' ``worker_id`` becomes NULL)
    or, with the database still away, lets its heartbeat go stale: either way stalled-job
    recovery puts the job back, as for a worker that died.
    """

    outcome_lost: BaseException | None = None

    async def _persist_job_status(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super()._persist_job_status(*args, **kwargs)
        except Exception as exc:
            if is_database_error(exc) and self.outcome_lost is None:
                log.warning("a job's outcome was not written: restarting the worker loop")
                self.outcome_lost = exc
                self.stop()
            raise


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None], *, enabled: bool) -> Any:
    """SIGTERM/SIGINT drain the worker; a second one acts as if we were not there."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)

    def first(signum: int) -> None:
        log.info("stop requested: finishing running jobs", signal=signal.Signals(signum).name)
        for sig in signals:
            loop.remove_signal_handler(sig)
        stop()

    for sig in signals:
        loop.add_signal_handler(sig, first, sig)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
