"""A year of history: the overview, stage filters, search and client pages at 100,000 and
1,000,000 onboardings.

    .venv/bin/python -m bench.history [--sizes 100000 1000000] [--repeat 25]

For each size, a fresh migrated database gets a year of history in a few statements
(``bench/history_seed.py``: onboardings, clients, channels, product events and timeline
lines in the proportions of issue 16), then ``VACUUM ANALYZE`` (as autovacuum leaves a
settled table). The service (``create_app``, what ``onboard360 serve`` runs) serves it
over real HTTP on 127.0.0.1 in this process, with one hub, one product and one operator
logged in through the login form. Each call is made ``--repeat`` times after 3 warm-up
calls, one at a time on one keep-alive connection; reported: median and p95 in ms, × the
baseline's median of the same size, and the growth of the median from the smallest size
to the largest.

Baseline: ``GET /bench/select1``, a route added to the same app that runs ``SELECT 1``
through the service's own pool — an HTTP request and one database round trip, nothing else.

``--retention`` (default on) also seeds a year of traffic (webhook bodies, delivery
attempts, finished jobs: ``bench/history_retention.py``) before measuring, and after it
reports each table's rows and size without retention and with it (the service's prune,
default settings, then ``VACUUM FULL``).

``--backfill`` (default on) also times migration 0011's filling of ``onboardings.stage``
on the seeded rows: the database goes back to revision 0010 (the column, counters and
indexes dropped) and up to 0011 again; the time from the first batch to the first index
build is the backfill, the rest the concurrent index builds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
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
    time_migration,
    timed_gets,
    timed_inserts,
    token,
    with_select1,
)
from bench.history_retention import describe, retention, seed_traffic
from bench.history_seed import GROWING, HUB, PRODUCT, SEED, proportions, seed_params
from onboard360.config.hubs import ProductConfig
from onboard360.config.settings import Settings
from onboard360.db.pooling import one_off_async_engine
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.serving import running
from onboard360.services.accounts import create_operator
from onboard360.services.source import CLI
from onboard360.web.app import create_app

PRODUCT_TOKEN = token()
OPERATOR = "bench@example.test"
PASSWORD = "bench history password 16"
BATCH_STATEMENT = "SELECT id::text FROM (SELECT id FROM onboardings"  # 0011's batch bound
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')

# (label, path): the table first, then the other lists.
CALLS = (
    ("SELECT 1 (baseline)", "/bench/select1"),
    ("GET /api/v1/overview", "/api/v1/overview"),
    ("GET /dashboard", "/dashboard"),
    ("GET /api/v1/onboardings?stage=live", "/api/v1/onboardings?stage=live"),
    ("GET /api/v1/search?q=4915000012 (phone prefix)", "/api/v1/search?q=4915000012"),
    ("GET /dashboard/clients/{hub}/{id}", f"/dashboard/clients/{HUB}/C42"),
    ("GET /api/v1/search?q=C42 (client id)", "/api/v1/search?q=C42"),
    ("GET /api/v1/clients/C42/timeline", f"/api/v1/clients/C42/timeline?hub={HUB}"),
    ("GET /api/v1/onboardings", "/api/v1/onboardings"),
    ("GET /api/v1/onboardings?stage=expired", "/api/v1/onboardings?stage=expired"),
    ("GET /api/v1/onboardings?stage=action_needed", "/api/v1/onboardings?stage=action_needed"),
    ("GET /api/v1/clients", "/api/v1/clients"),
    ("GET /api/v1/channels", "/api/v1/channels"),
    ("GET /api/v1/events", "/api/v1/events"),
    ("GET /api/v1/attention?kind=stuck", "/api/v1/attention?kind=stuck"),
    ("GET /dashboard/search?q=user-4242", "/dashboard/search?q=user-4242"),
    ("GET /metrics", "/metrics"),
)
BASELINE = CALLS[0][0]


def seed(url: str, onboardings: int) -> dict[str, float]:
    """The history, then VACUUM ANALYZE; seconds per step."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        steps = timed_inserts(conn, SEED, seed_params(onboardings))
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        steps["vacuum_analyze"] = time.perf_counter() - started
    return steps


def table_sizes(url: str) -> dict[str, dict[str, int]]:
    """Rows (estimated by ANALYZE) and total bytes (with indexes) per table."""
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid) "
            "FROM pg_class c WHERE c.relname = ANY(%s) AND c.relkind = 'r'",
            [list(GROWING)],
        ).fetchall()
    return {name: {"rows": max(int(n), 0), "bytes": int(size)} for name, n, size in rows}


def backfill(url: str) -> dict[str, float]:
    """Migration 0011 again over the seeded rows: seconds of the backfill and the indexes."""
    return time_migration(url, down_to="0010", up_to="0011", batch=BATCH_STATEMENT)


def settings() -> Settings:
    hub = offline_hub(HUB, "BenchHistPA")
    product = ProductConfig(name=PRODUCT, api_tokens=[SecretStr(PRODUCT_TOKEN)])
    return Settings(
        public_url="http://127.0.0.1:8000",
        encryption_keys=[SecretStr(generate_key())],
        hubs=[hub],
        products=[product],
        metrics_public=True,
        log_level="warning",
    )


def app_with_baseline(url: str) -> FastAPI:
    return with_select1(create_app(settings(), url))


def make_operator(url: str) -> None:
    async def run() -> None:
        engine = one_off_async_engine(url)
        try:
            await create_operator(engine, OPERATOR, PASSWORD, source=CLI)
        finally:
            await engine.dispose()

    asyncio.run(run())


def log_in(http: httpx.Client) -> None:
    page = http.get("/dashboard/login")
    fields = dict(HIDDEN_RE.findall(page.text))
    answer = http.post("/dashboard/login", data={**fields, "email": OPERATOR, "password": PASSWORD})
    if answer.status_code != 303 or "failed" in answer.headers.get("location", ""):
        raise RuntimeError(f"login refused: {answer.status_code} {answer.headers}")


def measure(base_url: str, repeat: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    headers = {"Authorization": f"Bearer {PRODUCT_TOKEN}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        log_in(http)
        for label, path in CALLS:
            times, _ = timed_gets(http, path, warmups=3, repeat=repeat)
            results[label] = {"median_ms": median(times), "p95_ms": percentile(times, 95)}
    return results


def run_size(
    onboardings: int, repeat: int, with_backfill: bool, with_retention: bool
) -> dict[str, Any]:
    with databases() as dbs:
        _, url = dbs.fresh()
        started = time.perf_counter()
        steps = seed(url, onboardings)
        if with_retention:
            steps.update(seed_traffic(url, seed_params(onboardings)))
        seconds = time.perf_counter() - started
        print(f"{onboardings:,} onboardings seeded in {seconds:.1f} s: {_steps(steps)}", flush=True)
        make_operator(url)
        with running(app_with_baseline(url)) as base_url:
            calls = measure(base_url, repeat)
        base = calls[BASELINE]["median_ms"]
        for label, call in calls.items():
            print(
                f"  {label:<48}{call['median_ms']:>8.1f}{call['p95_ms']:>8.1f}"
                f"{call['median_ms'] / base:>8.1f}",
                flush=True,
            )
        result: dict[str, Any] = {
            "onboardings": onboardings,
            "proportions": proportions(onboardings),
            "seed_s": steps,
            "tables": table_sizes(url),
            "calls": calls,
        }
        if with_retention:
            result["retention"] = retention(url, settings())
            print(f"  retention at {onboardings:,}: without it -> with it", flush=True)
            print("\n".join(describe(result["retention"])), flush=True)
        if with_backfill:
            result["backfill"] = backfill(url)
            fill = result["backfill"]
            print(
                f"  migration 0011 over {onboardings:,} rows: backfill {fill['backfill_s']:.1f} s"
                f" ({fill['batches']:.0f} batches), indexes {fill['indexes_s']:.1f} s",
                flush=True,
            )
        return result


def _steps(steps: dict[str, float]) -> str:
    return ", ".join(f"{name} {s:.1f} s" for name, s in steps.items())


def report(results: list[dict[str, Any]]) -> None:
    first, last = results[0], results[-1]
    header = f"{'call':<48}" + "".join(
        f"{'p50 ' + _short(r['onboardings']):>11}{'p95':>8}{'× sel1':>8}" for r in results
    )
    if len(results) > 1:
        header += f"{'growth':>8}{'g/sel1':>8}"
    print(header)
    for label, _path in CALLS:
        line = f"{label:<48}"
        for r in results:
            call, base = r["calls"][label], r["calls"][BASELINE]["median_ms"]
            line += f"{call['median_ms']:>11.1f}{call['p95_ms']:>8.1f}"
            line += f"{call['median_ms'] / base:>8.1f}"
        if len(results) > 1:
            growth = last["calls"][label]["median_ms"] / first["calls"][label]["median_ms"]
            base_growth = (
                last["calls"][BASELINE]["median_ms"] / first["calls"][BASELINE]["median_ms"]
            )
            line += f"{growth:>8.2f}{growth / base_growth:>8.2f}"
        print(line)
    for r in results:
        sizes = ", ".join(
            f"{name} {t['rows']:,} rows {t['bytes'] / 2**20:.0f} MB"
            for name, t in sorted(r["tables"].items())
        )
        print(f"{_short(r['onboardings'])}: {sizes}")


def _short(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--no-backfill", dest="backfill", action="store_false")
    parser.add_argument("--no-retention", dest="retention", action="store_false")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    started = time.monotonic()
    results = [run_size(n, args.repeat, args.backfill, args.retention) for n in args.sizes]
    report(results)
    print(f"took {time.monotonic() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
