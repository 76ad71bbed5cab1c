"""A year of traffic beside bench/history.py's year of history, and what retention keeps of it.

The history seed writes what people read (onboardings, clients, channels, product events,
timeline); a year of traffic also leaves what only retention bounds: 360dialog's webhook
bodies (``inbox_events``, with phone numbers and emails), the delivery log
(``delivery_attempts``) and finished queue jobs. Seeded here in proportion to the history
(per timeline line one webhook; per product event one delivery attempt and one finished
delivery job), spread over the same year, everything processed and delivered.

``retention`` then reports each table's rows and size as the year left them, runs the
service's retention (``jobs/prune.py``'s ``prune`` with the default settings: bodies and
attempts 4 weeks, jobs 7 days, timeline and product events kept) and reports them again
after ``VACUUM FULL``: the size a table settles at when the daily prune runs, since plain
``VACUUM`` lets the next weeks' rows reuse what the prune freed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from bench.common import libpq, timed_inserts
from onboard360.config.settings import Settings
from onboard360.db.pooling import one_off_async_engine
from onboard360.jobs.prune import prune

TRAFFIC_TABLES = ("inbox_events", "delivery_attempts", "procrastinate_jobs")

# :name placeholders, as in bench/history_seed.py; filled from traffic_params().
TRAFFIC = [
    """
    INSERT INTO inbox_events (hub, body_sha256, event_type, body, received_at, processed_at,
      channel_id, client_id)
    SELECT :hub, sha256(convert_to('i' || n, 'UTF8')), 'channel_running',
      jsonb_build_object('type', 'channel_running', 'created_at', at,
        'data', jsonb_build_object('channel_id', 'CH' || (1 + n % :channels),
          'client_id', 'C' || (1 + n % :clients), 'status', 'running',
          'phone_number', '+4915' || lpad((1 + n % :channels)::text, 9, '0'),
          'phone_name', 'Shop ' || n, 'email', 'owner' || n || '@example.com')),
      at, at, 'CH' || (1 + n % :channels), 'C' || (1 + n % :clients)
    FROM (SELECT n, now() - make_interval(secs => (:inbox - n) * 20) AS at
          FROM generate_series(1, :inbox) n) s
    """,
    """
    INSERT INTO delivery_attempts (event_id, product, attempt, started_at, duration_ms, status)
    SELECT 'ev' || n, :product, 1, now() - make_interval(secs => (:events - n) * 20),
      40, 200
    FROM generate_series(1, :events) n
    """,
    """
    INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)
    SELECT 'default', 'deliver_product_event', jsonb_build_object('event_id', 'ev' || n),
      'succeeded', 1
    FROM generate_series(1, :events) n
    """,
    """
    INSERT INTO procrastinate_events (job_id, type, at)
    SELECT j.id, 'succeeded', now() - make_interval(secs => (:events - j.rank) * 20)
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM procrastinate_jobs) j
    """,
]


def traffic_params(history: dict[str, Any]) -> dict[str, Any]:
    """The history seed's parameters plus the traffic's own count (one webhook per line)."""
    return {**history, "inbox": history["timeline"]}


def seed_traffic(url: str, history: dict[str, Any]) -> dict[str, float]:
    """The year of traffic, then VACUUM ANALYZE of its tables; seconds per step."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        steps = timed_inserts(conn, TRAFFIC, traffic_params(history))
        for table in TRAFFIC_TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
    return steps


def sizes(url: str, tables: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """Exact rows and total bytes (with indexes and TOAST) per table."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        return {
            table: {
                "rows": int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]),  # type: ignore[index]  # noqa: S608
                "bytes": int(
                    conn.execute("SELECT pg_total_relation_size(%s)", [table]).fetchone()[0]  # type: ignore[index]
                ),
            }
            for table in tables
        }


def retention(url: str, settings: Settings) -> dict[str, Any]:
    """Sizes as the year left them, the prune's removals and time, sizes it settles at."""
    tables = (*TRAFFIC_TABLES, "procrastinate_events", "timeline", "product_events")
    before = sizes(url, tables)

    async def run() -> dict[str, int]:
        engine = one_off_async_engine(url)
        try:
            return await prune(engine, settings)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    removed = asyncio.run(run())
    seconds = time.perf_counter() - started
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM FULL {table}")
    return {"before": before, "removed": removed, "prune_s": seconds, "after": sizes(url, tables)}


def describe(result: dict[str, Any]) -> list[str]:
    """One line per table: rows and MB without retention, then with it."""
    lines = []
    for table, was in result["before"].items():
        now = result["after"][table]
        lines.append(
            f"  {table:<20}{was['rows']:>12,} rows {was['bytes'] / 2**20:>7.0f} MB  ->"
            f"{now['rows']:>12,} rows {now['bytes'] / 2**20:>7.0f} MB"
        )
    lines.append(f"  prune took {result['prune_s']:.1f} s")
    return lines
