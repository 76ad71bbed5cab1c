"""Group commit for the partner webhook receiver: many deliveries, one statement, one commit.

A delivery is answered 2xx only once its row and its job are committed. Committing each
one alone costs a round trip and a commit per request and kept the receiver at about a
third of a bare endpoint's rate (bench/README.md). Here concurrent deliveries queue up
while a write is in flight and go out together in the next one:

- an idle receiver writes a lone delivery at once (no timer, no added latency); under load
  the batches grow to what arrived during the previous write, up to ``max_batch``;
- one statement stores the whole batch (``INSERT … ON CONFLICT DO NOTHING RETURNING``)
  and defers one job for all the rows it stored, in autocommit: it is its own
  transaction, so when it returns, everything it did is committed — and nothing of it if
  it failed;
- each delivery learns whether *its* bytes were new; the same bytes twice in one batch are
  written once, and the later copy is a duplicate, as if they had come one after another;
- a failed batch is retried one delivery at a time when the database refused the data
  (one poison body must not cost its neighbours a 2xx); when the database is unreachable
  every delivery of the batch gets the error, never a 2xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from onboard360.db.embedded import to_libpq_uri
from onboard360.db.pooling import psycopg_kwargs
from onboard360.jobs.queue import inbox_defer_sql
from onboard360.runtime.logging import get_logger

log = get_logger(__name__)

# One job per *statement* (jobs/queue.py's inbox_defer_sql) carries the ids of every row it
# stored: procrastinate's job row, status event row and NOTIFY are paid once per batch, not
# once per delivery (docs/decisions/0005-ingest-group-commit.md). A statement that stored
# nothing (all duplicates) defers nothing. The arrays go in binary (``%(…)b``): no quoting
# and escaping of every JSON body into an array literal, about half the client CPU per row
# (measured).
_STORE_AND_DEFER = f"""
    WITH stored AS (
        INSERT INTO inbox_events (hub, body_sha256, event_type, body)
        SELECT * FROM unnest(
            CAST(%(hubs)b AS text[]), CAST(%(digests)b AS bytea[]),
            CAST(%(event_types)b AS text[]), CAST(%(bodies)b AS jsonb[])
        )
        ON CONFLICT DO NOTHING
        RETURNING id, hub, body_sha256
    ), deferred AS ({inbox_defer_sql("stored")})
    SELECT stored.hub, stored.body_sha256 FROM stored CROSS JOIN deferred
"""  # noqa: S608 - no value is formatted in
# Where the app's state may hold BatchLimits for the writer (benchmarks, tests).
LIMITS_STATE = "inbox_batch_limits"


class StoreFailed(Exception):
    """The delivery could not be stored; it was not acknowledged and may be sent again."""


@dataclass(frozen=True)
class BatchLimits:
    # Deliveries per statement; 1 turns batching off (one statement and commit each).
    max_batch: int = 200
    # Statements in flight at once, each on its own connection.
    max_in_flight: int = 2
    # How long a write waits for a connection before its deliveries get a 503.
    connect_timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class Delivery:
    hub: str
    body_sha256: bytes
    event_type: str | None
    body_json: str  # the body's validated JSON text (web/json_body.py), what jsonb will hold


@dataclass
class _Waiting:
    delivery: Delivery
    answer: asyncio.Future[bool]  # True when the bytes were already stored (a duplicate)


@dataclass
class InboxWriter:
    """Stores deliveries through its own small pool, on the event loop that opened it."""

    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]]
    limits: BatchLimits = field(default_factory=BatchLimits)
    _queue: list[_Waiting] = field(default_factory=list)
    _in_flight: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def store(self, delivery: Delivery) -> bool:
        """Store ``delivery`` and enqueue its job; True if the same bytes were stored before.

        Returns only after the commit; raises StoreFailed when nothing was committed.
        """
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(delivery, answer))
        self._start_writes()
        return await answer

    def _start_writes(self) -> None:
        while self._queue and self._in_flight < self.limits.max_in_flight:
            batch = self._queue[: self.limits.max_batch]
            del self._queue[: self.limits.max_batch]
            self._in_flight += 1
            task = asyncio.create_task(self._write(batch), name="inbox-write")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _write(self, batch: list[_Waiting]) -> None:
        try:
            try:
                _answer(batch, await self._insert(batch))
            except psycopg.DatabaseError as exc:
                if len(batch) == 1 or isinstance(exc, psycopg.OperationalError):
                    raise
                # The database refused the data: find the delivery it refused.
                log.warning("inbox batch refused, storing one by one", size=len(batch))
                for waiting in batch:
                    await self._write_alone(waiting)
        except Exception as exc:  # every waiter must hear back, whatever went wrong
            log.exception("inbox write failed", size=len(batch), error=type(exc).__name__)
            _fail(batch, exc)
        finally:
            self._in_flight -= 1
            self._start_writes()

    async def _write_alone(self, waiting: _Waiting) -> None:
        try:
            _answer([waiting], await self._insert([waiting]))
        except psycopg.DatabaseError as exc:
            log.warning("inbox delivery refused", hub=waiting.delivery.hub, error=str(exc)[:200])
            _fail([waiting], exc)

    async def _insert(self, batch: list[_Waiting]) -> set[tuple[str, bytes]]:
        """Write each distinct (hub, digest) once; answers the ones that were new."""
        rows = list({(w.delivery.hub, w.delivery.body_sha256): w.delivery for w in batch}.values())
        params = {
            "hubs": [d.hub for d in rows],
            "digests": [d.body_sha256 for d in rows],
            "event_types": [d.event_type for d in rows],
            "bodies": [d.body_json for d in rows],
        }
        # Autocommit: the one statement is its own transaction, committed when it returns.
        async with self.pool.connection(timeout=self.limits.connect_timeout) as conn:
            cursor = await conn.execute(_STORE_AND_DEFER, params)
            return {(hub, bytes(digest)) for hub, digest in await cursor.fetchall()}


def _answer(batch: list[_Waiting], new: set[tuple[str, bytes]]) -> None:
    for waiting in batch:
        key = (waiting.delivery.hub, waiting.delivery.body_sha256)
        # The first delivery of new bytes takes the "new"; any later copy is a duplicate.
        fresh = key in new
        new.discard(key)
        if not waiting.answer.done():  # its request may have been cancelled meanwhile
            waiting.answer.set_result(not fresh)


def _fail(batch: list[_Waiting], exc: Exception) -> None:
    for waiting in batch:
        if not waiting.answer.done():
            waiting.answer.set_exception(StoreFailed(type(exc).__name__))


@asynccontextmanager
async def open_inbox_writer(
    database_url: str,
    limits: BatchLimits | None = None,
    connect_kwargs: dict[str, Any] | None = None,
) -> AsyncIterator[InboxWriter]:
    """A writer with its own small pool on ``database_url``, closed on the way out;
    ``connect_kwargs`` go to each psycopg connection (db/pooling.py)."""
    limits = limits or BatchLimits()
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        to_libpq_uri(database_url),
        # Connected on first use, like the engine: an app that gets no webhook holds none.
        min_size=0,
        max_size=limits.max_in_flight,
        kwargs={**(connect_kwargs or {}), "autocommit": True},
        name="inbox",
        open=False,
    )
    await pool.open(wait=False)  # like the engine: a database that is down fails requests
    try:
        yield InboxWriter(pool, limits)
    finally:
        await pool.close()


@asynccontextmanager
async def inbox_writer(app: Any) -> AsyncIterator[None]:
    """The receiver's lifespan: a writer on the service's database in ``app.state``.

    Runs inside the app's own lifespan (FastAPI nests a router's lifespan in the app's),
    so the service exists already and outlives the writer.
    """
    service = app.state.service
    url = service.engine.url.render_as_string(hide_password=False)
    limits = getattr(app.state, LIMITS_STATE, None)
    async with open_inbox_writer(url, limits, psycopg_kwargs(service.settings)) as writer:
        app.state.inbox_writer = writer
        yield
