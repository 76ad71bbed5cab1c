"""The abandonment sweep (jobs/abandon.py) over a year of history.

On a database seeded like bench.history (``bench/history_seed.py``: 5 in 6 onboardings
never came back, the rest redirected, most of them live), one after the other:

1. **first sweep**: every attempt of the history that expired or stopped short is a
   candidate once (migration 0016 adds the indexes to a database that has history): the
   sweep marks them in batches, telling the product only of those that went stale within
   ``abandon_notify_within_hours``;
2. **idle sweep**, twice: nothing left to do — what a worker pays every ``abandon_cron``
   (the first one after the mass marking also steps over the index entries it left dead);
3. **a busy run**: 1,000 attempts that expired a minute ago, each marked and announced.

Every time is also given over the median of ``SELECT 1`` through the same engine, measured
in the same run (the machine is shared). Then ``EXPLAIN ANALYZE`` of each candidate pick
with migration 0016's indexes and without them (dropped), on the idle database.

    .venv/bin/python -m bench.abandon [--onboardings 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from pydantic import SecretStr
from sqlalchemy import text

from bench.common import databases, libpq, median, offline_hub, psycopg_sql
from bench.history import seed
from bench.history_seed import HUB, PRODUCT
from onboard360.config.hubs import ProductConfig
from onboard360.config.settings import Settings
from onboard360.jobs import abandon
from onboard360.runtime.crypto import generate_key
from onboard360.wiring.service import open_service

FRESH = """
    INSERT INTO onboardings (id, hub, product, external_user_id, state_sha256, created_at,
      expires_at, stage)
    SELECT gen_random_uuid(), 'pp', 'default', 'fresh-' || n, decode(md5('f' || n), 'hex'),
      now() - interval '61 minutes', now() - interval '1 minute', 'waiting_for_popup'
    FROM generate_series(1, 1000) n
"""
INDEXES = ("onboardings_expiring", "onboardings_stalling")


def settings() -> Settings:
    """One hub (nothing calls 360dialog) and a product without an endpoint: the events
    are stored, no delivery job is made."""
    hub = offline_hub(HUB, "BenchAbandPA")
    return Settings(
        encryption_keys=[SecretStr(generate_key())],
        hubs=[hub],
        products=[ProductConfig(name=PRODUCT)],
        log_level="warning",
    )


async def _select1(service: Any) -> float:
    times = []
    for _ in range(30):
        started = time.perf_counter()
        async with service.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        times.append((time.perf_counter() - started) * 1000)
    return median(times[5:])


async def _timed_sweep(service: Any) -> dict[str, float]:
    started = time.perf_counter()
    report = await abandon.sweep(service)
    return {
        "ms": (time.perf_counter() - started) * 1000,
        "abandoned": report.abandoned,
        "notified": report.notified,
    }


def _explain(url: str) -> dict[str, float]:
    """Execution time (ms) of each pick as EXPLAIN ANALYZE reports it (in a rolled-back
    transaction: the picks lock rows)."""
    now = datetime.now(UTC)
    params = {
        "hub": "pp",
        "batch": abandon.BATCH,
        "now": now,
        "due": now - timedelta(hours=72),
        "after_at": datetime.min.replace(tzinfo=UTC),
        "after_id": uuid.UUID(int=0),
    }
    found = {}
    with psycopg.connect(libpq(url)) as conn:
        for kind, pick in abandon.PICKS.items():
            sql = psycopg_sql(pick)
            (plan,) = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params).fetchone()
            plan = json.loads(plan) if isinstance(plan, str) else plan
            found[kind] = plan[0]["Execution Time"]
            conn.rollback()
    return found


async def _run(url: str) -> dict[str, Any]:
    async with open_service(settings(), url) as service:
        base = await _select1(service)
        first = await _timed_sweep(service)
        idle = await _timed_sweep(service)
        idle_again = await _timed_sweep(service)
        base_after = await _select1(service)
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute(FRESH)
        busy = await _timed_sweep(service)
    return {
        "select1_ms": base,
        "select1_after_ms": base_after,
        "first": first,
        "idle": idle,
        "idle_again": idle_again,
        "busy_1000": busy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onboardings", type=int, default=100_000)
    args = parser.parse_args()
    with databases() as dbs:
        _, url = dbs.fresh()
        seed(url, args.onboardings)
        result = asyncio.run(_run(url))
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute("ANALYZE onboardings")
        with_indexes = _explain(url)
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            for index in INDEXES:
                conn.execute(f"DROP INDEX {index}")
            conn.execute("ANALYZE onboardings")
        without = _explain(url)
    base = result["select1_ms"]
    print(f"{args.onboardings:,} onboardings; SELECT 1 median {base:.2f} ms", flush=True)
    for name in ("first", "idle", "idle_again", "busy_1000"):
        run = result[name]
        print(
            f"  sweep {name:<10} {run['ms']:>10.1f} ms  × sel1 {run['ms'] / base:>10.0f}"
            f"  abandoned {run['abandoned']:>7}  announced {run['notified']:>7}",
            flush=True,
        )
    for kind in abandon.PICKS:
        print(
            f"  pick {kind:<8} with 0016 {with_indexes[kind]:.2f} ms, without"
            f" {without[kind]:.2f} ms (× {without[kind] / with_indexes[kind]:.0f})",
            flush=True,
        )
    print(json.dumps({**result, "explain_with": with_indexes, "explain_without": without}))


if __name__ == "__main__":
    main()
