"""The funnel over a year of journeys: ``GET /api/v1/funnel`` for the last 7, 30 and 365
days and a page of ``/funnel/days``, at 100,000 and 1,000,000 onboardings.

The funnel keeps each past day's counts (db/queries/funnel.py, migration 0019), so three
kinds of call are timed: the **first** question over a year, which counts and keeps its
363 past days (one call, on the freshly seeded table); the questions after it, which add
up kept days and count yesterday and today; and a year's question after a change to one
journey of an old day (each time another day; the change is made untimed before the
call), which counts that day again.

    .venv/bin/python -m bench.funnel [--sizes 100000 1000000] [--repeat 15]

For each size, a fresh migrated database gets a year of journeys (``bench/funnel_seed.py``:
first attempts evenly over 365 days on two hubs, one in 33 resumed), then ``VACUUM
ANALYZE`` (as autovacuum leaves a settled table: the index-only scans need the visibility
map). The service (``create_app``) serves it over real HTTP on 127.0.0.1 in this process.
Each call is made ``--repeat`` times after 2 warm-up calls, one at a time on one
keep-alive connection; reported: median and p95 in ms and × the baseline's median.

``--migration`` also times migration 0018 on the seeded rows: the database goes back to
0017 (the column and the indexes dropped) and up to 0018 again; reported: the backfill of
``returning_client`` (from the first batch to the first index build) and the concurrent
index builds.

Baseline: ``GET /bench/select1``, a route added to the same app that runs ``SELECT 1``
through the service's own pool — an HTTP request and one database round trip.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from pydantic import SecretStr

from bench.common import (
    databases,
    libpq,
    median,
    offline_hub,
    percentile,
    psycopg_sql,
    time_migration,
    timed_gets,
    token,
    with_select1,
)
from bench.funnel_seed import HUBS, PRODUCT, SEED, seed_params
from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.config.settings import Settings
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.serving import running
from onboard360.web.app import create_app

PRODUCT_TOKEN = token()


def calls() -> list[tuple[str, str]]:
    today = datetime.now(UTC).date()

    def since(days: int) -> str:
        return f"from={(today - timedelta(days=days - 1)).isoformat()}&to={today.isoformat()}"

    return [
        ("SELECT 1 (baseline)", "/bench/select1"),
        ("GET /api/v1/funnel 7 days", f"/api/v1/funnel?{since(7)}"),
        ("GET /api/v1/funnel 30 days", f"/api/v1/funnel?{since(30)}"),
        ("GET /api/v1/funnel 365 days", f"/api/v1/funnel?{since(365)}"),
        (
            "GET /api/v1/funnel 30 d, direct, returning",
            f"/api/v1/funnel?{since(30)}&billing=direct&client=returning",
        ),
        ("GET /api/v1/funnel/days 365 d (31 days)", f"/api/v1/funnel/days?{since(365)}"),
    ]


BASELINE = "SELECT 1 (baseline)"


def seed(url: str, onboardings: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        for statement in SEED:
            conn.execute(psycopg_sql(statement), seed_params(onboardings))
        conn.execute("VACUUM ANALYZE onboardings")
    return time.perf_counter() - started


def migration(url: str) -> dict[str, float]:
    """Migration 0018 again over the seeded rows: seconds of the backfill and the indexes."""
    return time_migration(
        url, down_to="0017", up_to="0018", batch="UPDATE onboardings SET returning"
    )


TRIGGERS = ", ".join(f"onboardings_funnel_stale_{e}" for e in ("insert", "update", "delete"))


def trigger_cost(url: str, updates: int = 2000, rounds: int = 3) -> dict[str, float]:
    """Microseconds per one-row UPDATE of an onboarding (autocommit, one round trip
    each), with migration 0019's triggers on and off, interleaved over ``rounds``: of a
    journey started today (the steady state: no mark) and of one started 30 days ago
    (a mark appended each time)."""
    today = datetime.now(UTC).date()
    update = "UPDATE onboardings SET popup_closed_at = popup_closed_at WHERE id = %s"
    found: dict[str, list[float]] = {}
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        ids = {
            age: conn.execute(
                "SELECT id FROM onboardings WHERE created_at >= %s ORDER BY created_at LIMIT 1",
                (today - timedelta(days=days),),
            ).fetchone()[0]  # type: ignore[index]
            for age, days in (("today", 0), ("30 days ago", 30))
        }
        for _ in range(rounds):
            for on in (True, False):
                for name in TRIGGERS.split(", "):
                    switch = "ENABLE" if on else "DISABLE"
                    conn.execute(f"ALTER TABLE onboardings {switch} TRIGGER {name}")
                for age, row in ids.items():
                    started = time.perf_counter()
                    for _ in range(updates):
                        conn.execute(update, (row,))
                    took = (time.perf_counter() - started) / updates * 1e6
                    found.setdefault(f"{age}, triggers {'on' if on else 'off'}", []).append(took)
        conn.execute("DELETE FROM funnel_stale")
    return {label: median(times) for label, times in found.items()}


def sizes(url: str) -> dict[str, int]:
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        found = conn.execute(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname IN "
            "('onboardings', 'onboardings_funnel', 'onboardings_resumed', 'funnel_counts')"
        ).fetchall()
    return {name: int(size) for name, size in found}


def settings() -> Settings:
    def hub(name: str, billing: str) -> HubConfig:
        return offline_hub(name, f"BenchFunnel{name}PA", billing)

    return Settings(
        public_url="http://127.0.0.1:8000",
        encryption_keys=[SecretStr(generate_key())],
        hubs=[hub(HUBS[0], "partner"), hub(HUBS[1], "direct")],
        products=[ProductConfig(name=PRODUCT, api_tokens=[SecretStr(PRODUCT_TOKEN)])],
        log_level="warning",
    )


def app_with_baseline(url: str) -> FastAPI:
    return with_select1(create_app(settings(), url))


FIRST = "GET /api/v1/funnel 365 days, first (keeps)"
AFTER_CHANGE = "GET /api/v1/funnel 365 d, an old day changed"


def _year() -> str:
    today = datetime.now(UTC).date()
    return f"/api/v1/funnel?from={(today - timedelta(days=364)).isoformat()}&to={today}"


def change_an_old_day(url: str) -> Callable[[int], None]:
    """Before the i-th call: touch one journey started 30 + i days ago (0019's trigger
    marks its day stale)."""

    def change(i: int) -> None:
        day = datetime.now(UTC).date() - timedelta(days=30 + i)
        with psycopg.connect(libpq(url), autocommit=True) as conn:
            conn.execute(
                "UPDATE onboardings SET popup_closed_at = popup_closed_at WHERE id = ("
                " SELECT id FROM onboardings WHERE hub = %s AND created_at >= %s"
                " ORDER BY created_at LIMIT 1)",
                (HUBS[0], day),
            )

    return change


def measure(base_url: str, url: str, repeat: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    headers = {"Authorization": f"Bearer {PRODUCT_TOKEN}"}

    def record(label: str, times: list[float], answer: httpx.Response) -> None:
        body = answer.json()
        results[label] = {
            "median_ms": median(times),
            "p95_ms": percentile(times, 95),
            "journeys": body.get("journeys") if isinstance(body, dict) else None,
        }

    with httpx.Client(base_url=base_url, headers=headers, timeout=300) as http:
        record(FIRST, *timed_gets(http, _year(), warmups=0, repeat=1))
        for label, path in calls():
            record(label, *timed_gets(http, path, warmups=2, repeat=repeat))
        changed = timed_gets(http, _year(), warmups=0, repeat=repeat, before=change_an_old_day(url))
        record(AFTER_CHANGE, *changed)
    return results


def run_size(onboardings: int, repeat: int, with_migration: bool = False) -> dict[str, Any]:
    with databases() as dbs:
        _, url = dbs.fresh()
        seconds = seed(url, onboardings)
        print(f"{onboardings:,} journeys seeded in {seconds:.1f} s", flush=True)
        with running(app_with_baseline(url)) as base_url:
            measured = measure(base_url, url, repeat)
        base = measured[BASELINE]["median_ms"]
        for label, call in measured.items():
            print(
                f"  {label:<44}{call['median_ms']:>9.1f}{call['p95_ms']:>9.1f}"
                f"{call['median_ms'] / base:>8.1f}  journeys {call['journeys']}",
                flush=True,
            )
        result: dict[str, Any] = {
            "onboardings": onboardings,
            "sizes": sizes(url),
            "calls": measured,
            "trigger_us": (cost := trigger_cost(url)),
        }
        for age in ("today", "30 days ago"):
            on, off = cost[f"{age}, triggers on"], cost[f"{age}, triggers off"]
            print(
                f"  one-row UPDATE of a journey started {age}: {on:.0f} µs with 0019's "
                f"trigger, {off:.0f} µs without (× {on / off:.2f})",
                flush=True,
            )
        if with_migration:
            result["migration"] = took = migration(url)
            print(
                f"  migration 0018 over {onboardings:,} journeys: backfill "
                f"{took['backfill_s']:.1f} s ({took['batches']:.0f} batches), "
                f"indexes {took['indexes_s']:.1f} s",
                flush=True,
            )
        return result


def report(results: list[dict[str, Any]]) -> None:
    header = f"{'call':<44}" + "".join(
        f"{'p50 ' + _short(r['onboardings']):>11}{'p95':>9}{'× sel1':>8}" for r in results
    )
    print(header)
    for label in results[0]["calls"]:
        line = f"{label:<44}"
        for r in results:
            call, base = r["calls"][label], r["calls"][BASELINE]["median_ms"]
            line += f"{call['median_ms']:>11.1f}{call['p95_ms']:>9.1f}"
            line += f"{call['median_ms'] / base:>8.1f}"
        print(line)
    for r in results:
        print(
            f"{_short(r['onboardings'])}: "
            + ", ".join(f"{n} {b / 2**20:.0f} MB" for n, b in sorted(r["sizes"].items()))
        )


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.funnel", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--migration", action="store_true", help="also time migration 0018")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    started = time.monotonic()
    results = [run_size(n, args.repeat, args.migration) for n in args.sizes]
    report(results)
    print(f"took {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
