"""A worker's view of the database going away and coming back.

A managed PostgreSQL fails over, restarts for maintenance, or drops connections for a few
seconds; a worker must not exit for that (under Kubernetes, exits in a longer outage
become CrashLoopBackOff and leave no worker for minutes after the database is back).
``DatabaseWatch`` tells a database error from any other one, waits with backoff and jitter
until PostgreSQL answers, says once in the log that the database is gone and once that it
is back, counts outages and their length, and answers the worker's readiness meanwhile.

A configuration error is not an outage: a refused password or a database that does not
exist (SQLSTATE class 28, 3D000) ends the worker with that error.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import psycopg_pool
from procrastinate import exceptions as queue_errors
from sqlalchemy import exc as sa_errors

from onboard360.runtime import metrics
from onboard360.runtime.logging import get_logger

log = get_logger(__name__)

# SQLSTATEs that say the settings are wrong, not that the server is away.
_CONFIG_STATES = ("28", "3D000")


class DatabaseMisconfigured(Exception):
    """PostgreSQL answered, and refused us: wrong credentials or no such database."""


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _sqlstate(exc: BaseException) -> str | None:
    for cause in _causes(exc):
        state = getattr(cause, "sqlstate", None)
        if state:
            return str(state)
    return None


def is_config_error(exc: BaseException) -> bool:
    state = _sqlstate(exc) or ""
    return any(state.startswith(prefix) for prefix in _CONFIG_STATES)


def is_database_error(exc: BaseException) -> bool:
    """A lost or refused connection to PostgreSQL (anything else is a bug to surface)."""
    if is_config_error(exc):
        return False
    for cause in _causes(exc):
        if isinstance(
            cause,
            (
                psycopg.OperationalError,
                psycopg.InterfaceError,
                psycopg_pool.PoolTimeout,
                sa_errors.OperationalError,
                sa_errors.InterfaceError,
                ConnectionError,
            ),
        ):
            return True
        if isinstance(cause, sa_errors.DBAPIError) and cause.connection_invalidated:
            return True
    # procrastinate wraps every driver error; "Database error." with no cause left is a
    # connection it could not get.
    return isinstance(exc, queue_errors.ConnectorException) and not isinstance(
        exc, queue_errors.UniqueViolation
    )


@dataclass(frozen=True)
class OutageBackoff:
    """Waits between probes of a database that is away: doubling, capped, with jitter."""

    first: float = 0.25
    cap: float = 5.0
    jitter: float = 0.5  # each wait is scaled by a random factor in [1 - jitter, 1]

    def wait(self, failures: int, rng: random.Random) -> float:
        base = min(self.first * 2 ** min(failures, 30), self.cap)
        return base * (1 - self.jitter * rng.random())


@dataclass
class DatabaseWatch:
    """One worker process's outage state; ``ready`` is its readiness answer."""

    conninfo: str
    backoff: OutageBackoff = field(default_factory=OutageBackoff)
    probe_timeout: float = 3.0
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    down_since: float | None = None

    @property
    def ready(self) -> bool:
        return self.down_since is None

    def lost(self, exc: BaseException) -> None:
        """The database went away (said once per outage)."""
        if self.down_since is not None:
            return
        self.down_since = self.clock()
        metrics.DATABASE_OUTAGES.inc()
        log.warning("database unreachable: jobs pause until it answers", error=type(exc).__name__)

    async def probe(self) -> bool:
        """Whether PostgreSQL answers a query now (raises DatabaseMisconfigured)."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.conninfo, connect_timeout=max(1, int(self.probe_timeout)), autocommit=True
            )
        except psycopg.Error as exc:
            if is_config_error(exc):
                raise DatabaseMisconfigured(_first_line(exc)) from None
            return False
        try:
            async with asyncio.timeout(self.probe_timeout):
                await conn.execute("SELECT 1")
        except (psycopg.Error, TimeoutError):
            return False
        finally:
            await conn.close()
        return True

    async def wait_until_back(self, stopping: asyncio.Event) -> bool:
        """Probe with backoff until the database answers (True) or ``stopping`` is set."""
        failures = 0
        while not stopping.is_set():
            if await self.probe():
                self._back()
                return True
            if self.down_since is None:
                self.lost(ConnectionError("no answer"))
            wait = self.backoff.wait(failures, self.rng)
            failures += 1
            try:
                await asyncio.wait_for(stopping.wait(), timeout=wait)
            except TimeoutError:
                continue
        return False

    def _back(self) -> None:
        if self.down_since is None:
            return
        seconds = self.clock() - self.down_since
        self.down_since = None
        metrics.DATABASE_OUTAGE_SECONDS.inc(seconds)
        log.warning("database back: jobs resume", outage_seconds=round(seconds, 2))


class QuietDatabaseErrors(logging.Filter):
    """Drops procrastinate's own error lines for a lost database connection (its
    listener and side tasks, each with a traceback): ``DatabaseWatch`` says it once."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return error is None or not is_database_error(error)


_QUIETED = ("procrastinate.worker", "procrastinate.utils", "procrastinate.manager")


def quiet_database_errors() -> Callable[[], None]:
    """Install QuietDatabaseErrors on procrastinate's loggers; the undo."""
    quiet = QuietDatabaseErrors()
    loggers = [logging.getLogger(name) for name in _QUIETED]
    for logger in loggers:
        logger.addFilter(quiet)
    # psycopg_pool narrates every failed reconnection at WARNING.
    pool = logging.getLogger("psycopg.pool")
    level = pool.level
    pool.setLevel(logging.ERROR)

    def undo() -> None:
        for logger in loggers:
            logger.removeFilter(quiet)
        pool.setLevel(level)

    return undo


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
