"""Bulk replay and re-queue on enable, against a table of events and a long job history.

A fresh database gets ``--events`` product events (a tenth of them dead) and as many
finished deliver jobs in ``procrastinate_jobs`` (procrastinate keeps them for ever, and
the replay asks whether each event's delivery is queued). Timed, each in a transaction
rolled back afterwards so every repetition starts from the same state:

- ``read`` (**baseline**): select the 1,000 oldest dead events, nothing else;
- ``replay``: ``replay_events`` of the 1,000 oldest dead events (lock, check the queue,
  clear ``failed_at``, defer 1,000 jobs);
- ``replay_all``: ``replay_events`` of the 1,000 oldest events whatever their state;
- ``requeue``: ``requeue_pending`` after a disable: every pending event, no limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bench.common import databases
from onboard360.jobs.replay import (
    MAX_BULK,
    ReplayFilter,
    ReplayStatus,
    replay_events,
    requeue_pending,
)

PRODUCT = "default"

_SEED_EVENTS = text(
    """
    INSERT INTO product_events (id, product, event_type, dedupe_key, hub, client_id,
      channel_id, payload, created_at, delivered_at, failed_at, attempts)
    SELECT 'msg_' || md5(n::text), :product, 'channel.running', 'bench:' || n, 'pp',
      'client' || (n / 4), 'channel' || n, '{"hub": "pp"}'::jsonb,
      now() - interval '1 day' + n * interval '1 millisecond',
      CASE WHEN n % 10 IN (0, 1) THEN NULL ELSE now() END,
      CASE WHEN n % 10 = 0 THEN now() ELSE NULL END,
      CASE WHEN n % 10 = 0 THEN 22 ELSE 1 END
    FROM generate_series(1, :n) AS n
    """
)
_SEED_JOBS = text(
    """
    INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status, attempts)
    SELECT 'default', 'deliver_product_event', 'deliver:default:channel' || n,
      jsonb_build_object('event_id', 'msg_' || md5(n::text)), 'succeeded', 1
    FROM generate_series(1, :n) AS n
    """
)
_READ = text(
    "SELECT id, channel_id, client_id FROM product_events "
    "WHERE product = :product AND failed_at IS NOT NULL ORDER BY created_at, id LIMIT :limit"
)


async def timed(
    engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[Any]], repeat: int
) -> list[float]:
    """Milliseconds of ``work`` per repetition, each rolled back."""
    times = []
    for _ in range(repeat):
        async with engine.connect() as conn:
            transaction = await conn.begin()
            started = time.perf_counter()
            await work(conn)
            times.append((time.perf_counter() - started) * 1000)
            await transaction.rollback()
    return times


async def run(url: str, events: int, repeat: int) -> dict[str, Any]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(_SEED_EVENTS, {"product": PRODUCT, "n": events})
            await conn.execute(_SEED_JOBS, {"n": events})
            await conn.execute(text("ANALYZE product_events; ANALYZE procrastinate_jobs"))
        now = datetime.now(UTC)
        spec = ReplayFilter(ReplayStatus.FAILED, now - timedelta(days=2), now)

        async def read(conn: AsyncConnection) -> None:
            rows = list(await conn.execute(_READ, {"product": PRODUCT, "limit": MAX_BULK}))
            assert len(rows) == min(MAX_BULK, events // 10)

        async def replay(conn: AsyncConnection) -> None:
            assert (await replay_events(conn, PRODUCT, spec)).queued == min(MAX_BULK, events // 10)

        async def replay_all(conn: AsyncConnection) -> None:
            every = ReplayFilter(ReplayStatus.ALL, spec.since, spec.until)
            assert (await replay_events(conn, PRODUCT, every)).queued == min(MAX_BULK, events)

        async def requeue(conn: AsyncConnection) -> None:
            assert await requeue_pending(conn, PRODUCT) == events // 10

        results = {
            "read": await timed(engine, read, repeat),
            "replay": await timed(engine, replay, repeat),
            "replay_all": await timed(engine, replay_all, repeat),
        }
        results["requeue"] = await timed(engine, requeue, max(1, repeat // 3))
    finally:
        await engine.dispose()
    medians = {name: statistics.median(values) for name, values in results.items()}
    return {
        "events": events,
        "median_ms": medians,
        "ratio_to_read": {name: medians[name] / medians["read"] for name in medians},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--json", help="also write the summary to this file")
    args = parser.parse_args()
    started = time.monotonic()
    with databases() as dbs:
        _, url = dbs.fresh()
        result = asyncio.run(run(url, args.events, args.repeat))
    result["seconds"] = round(time.monotonic() - started, 1)
    print(f"{args.events} events ({args.events // 10} dead, {args.events // 10} pending)")
    print(f"{'pass':<14}{'median ms':>10}{'× read':>9}")
    for name, ms in result["median_ms"].items():
        print(f"{name:<14}{ms:>10.1f}{result['ratio_to_read'][name]:>9.1f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
