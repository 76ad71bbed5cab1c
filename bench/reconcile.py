"""Reconciliation of a hub with many channels (100,000 by default) against the sandbox.

    .venv/bin/python -m bench.reconcile [--channels 100000] [--page-size 1000]

This process serves the sandbox (in-process, on its own thread, every request counted)
and seeds one hub with N ``ready`` channels, one per client, without webhooks
(``POST /sandbox/hubs/{pid}/seed``). Each measurement then runs in a **fresh child
process** (``python -m bench.reconcile --child MODE``, settings from ONBOARD360_*
variables like ``onboard360 sync``), so its peak RSS (``ru_maxrss``) is its own:

- ``page``   the baseline: page through the same N channels with ``PartnerAPI.channels_page``
             (same page size, same HTTP client), no database;
- ``first``  ``reconcile_hub`` on a fresh migrated database: the service knows none of the
             channels (first sync after install, or after losing every webhook);
- ``again``  ``reconcile_hub`` once more, nothing changed at 360dialog: the steady state of
             the periodic sync (idempotent, should write nothing).

``ready`` channels are permitted but not running, so no key is generated: the figures are
the sync itself, not key provisioning. No worker runs; jobs the sync defers stay queued and
are counted. Ratios are each pass's wall time over the baseline's, same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.common import ROOT, databases, libpq, token
from onboard360.db.embedded import to_libpq_uri

HUB = "bench"
PARTNER_ID = "BenchSyncPA"
TARGET_SECONDS = 60.0
TARGET_CALLS_PER_100 = 1.0
ASGIApp = Callable[..., Awaitable[None]]


class Counting:
    """ASGI wrapper counting the sandbox's HTTP requests (path prefix → count)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.partner_api = 0
        self.other = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            if scope["path"].startswith("/api/v2/"):
                self.partner_api += 1
            else:
                self.other += 1
        await self.app(scope, receive, send)


def _rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: that survives exec, so a child
    started from this big parent (the sandbox holds N channels) would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _child(mode: str, page_size: int) -> dict[str, Any]:
    from onboard360.config.settings import Settings  # noqa: PLC0415
    from onboard360.jobs.reconcile import reconcile_hub  # noqa: PLC0415
    from onboard360.runtime.logging import configure_logging  # noqa: PLC0415
    from onboard360.wiring.service import open_service  # noqa: PLC0415

    settings = Settings()  # ONBOARD360_* from the parent
    configure_logging(settings.log_level)
    hub = settings.hubs[0]
    async with open_service(settings, os.environ["BENCH_SQLALCHEMY_URL"]) as service:
        rss_before = _rss_mb()
        started = time.perf_counter()
        if mode == "page":
            api = service.partner_api(hub)
            seen = calls = offset = 0
            while True:
                page = await api.channels_page(sort="created_at", limit=page_size, offset=offset)
                calls += 1
                seen += len(page.items)
                offset += len(page.items)
                if not page.items or offset >= page.total:
                    break
            answer: dict[str, Any] = {"seen": seen, "changed": 0, "api_calls": calls}
        else:
            report = await reconcile_hub(service, hub, page_size=page_size)
            answer = {
                "seen": report.channels_seen,
                "changed": report.channels_changed,
                "unusable": report.unusable,
                "api_calls": report.api_calls,
                "keys_requeued": report.keys_requeued,
            }
        answer["seconds"] = time.perf_counter() - started
    answer["rss_before_mb"] = rss_before
    answer["peak_rss_mb"] = _rss_mb()
    return answer


def run_child(mode: str, env: dict[str, str], page_size: int, profile: Path | None) -> dict:
    argv = [sys.executable]
    if profile is not None:
        argv += ["-m", "cProfile", "-o", str(profile)]
    argv += ["-m", "bench.reconcile", "--child", mode, "--page-size", str(page_size)]
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        check=False,
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"child {mode} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["process_seconds"] = wall
    return result


def db_counts(url: str) -> dict[str, Any]:
    with psycopg.connect(libpq(url)) as conn:
        one = conn.execute(
            """SELECT (SELECT count(*) FROM channels), (SELECT count(*) FROM clients),
                      (SELECT count(*) FROM timeline), (SELECT count(*) FROM key_generations),
                      pg_database_size(current_database())"""
        ).fetchone()
        jobs = conn.execute(
            "SELECT task_name, count(*) FROM procrastinate_jobs GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert one is not None
    return {
        "channels": one[0],
        "clients": one[1],
        "timeline": one[2],
        "key_generations": one[3],
        "db_mb": round(one[4] / 2**20),
        "jobs": {name: n for name, n in jobs},
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__)
    parser.add_argument("--channels", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--status", default="ready", help="status of the seeded channels")
    parser.add_argument("--profile", type=Path, help="cProfile each pass into FILE.<pass>.prof")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--child", choices=["page", "first", "again"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = asyncio.run(_child(args.child, args.page_size))
        print("RESULT " + json.dumps(result), flush=True)
        return

    from onboard360.runtime.crypto import generate_key  # noqa: PLC0415
    from onboard360.runtime.serving import running  # noqa: PLC0415
    from onboard360.sandbox.app import create_app as create_sandbox  # noqa: PLC0415
    from onboard360.sandbox.models import HubSpec  # noqa: PLC0415
    from onboard360.sandbox.state import Sandbox  # noqa: PLC0415

    began = time.monotonic()
    api_key = token()
    spec = HubSpec(
        partner_id=PARTNER_ID,
        redirect_url="http://127.0.0.1:9/connect/bench",
        api_key=api_key,
        platform_secret=token(),
        auto_advance=False,
    )
    counting = Counting(create_sandbox([spec], sandbox=Sandbox()))
    summary: dict[str, Any] = {"channels": args.channels, "page_size": args.page_size}
    with databases() as dbs, running(counting) as sandbox_url:
        t0 = time.perf_counter()
        seeded = httpx.post(
            f"{sandbox_url}/sandbox/hubs/{PARTNER_ID}/seed",
            json={"clients": args.channels, "status": args.status, "webhooks": False},
            timeout=600,
        )
        seeded.raise_for_status()
        print(
            f"seeded {seeded.json()['channels_created']} {args.status} channels "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        _name, url = dbs.fresh()
        hub = {
            "name": HUB,
            "partner_id": PARTNER_ID,
            "api_key": api_key,
            "webhook_secret": token(),
            "platform_secret": spec.platform_secret,
            "hub_url": sandbox_url,
            "partner_api_url": f"{sandbox_url}/api/v2",
            "messaging_api_url": sandbox_url,
        }
        env = {
            "ONBOARD360_DATABASE_URL": to_libpq_uri(url),
            "BENCH_SQLALCHEMY_URL": url,
            "ONBOARD360_PUBLIC_URL": "http://127.0.0.1:9",
            "ONBOARD360_ENCRYPTION_KEYS": json.dumps([generate_key()]),
            "ONBOARD360_HUBS": json.dumps([hub]),
            "ONBOARD360_PRODUCTS": json.dumps([{"name": "default"}]),
            "ONBOARD360_RECONCILE_CRON": "",
            "ONBOARD360_LOG_LEVEL": "warning",
        }
        for mode in ("page", "first", "again"):
            before = counting.partner_api
            profile = args.profile.with_suffix(f".{mode}.prof") if args.profile else None
            result = run_child(mode, env, args.page_size, profile)
            result["sandbox_requests"] = counting.partner_api - before
            if mode != "page":
                result["db"] = db_counts(url)
            summary[mode] = result
            print(f"{mode:<6} {json.dumps(result)}", flush=True)
    report(summary)
    summary["seconds"] = round(time.monotonic() - began)
    print(f"took {summary['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


def report(summary: dict[str, Any]) -> None:
    base = summary["page"]["seconds"]
    n = summary["channels"]
    print(
        f"\n{'pass':<32} {'s':>7} {'× page':>7} {'calls':>6} {'calls/100 ch':>12} "
        f"{'changed':>8} {'peak RSS MB':>11}"
    )
    names = {
        "page": "baseline: page through (no DB)",
        "first": "first pass (service knows none)",
        "again": "again, nothing changed",
    }
    for mode, label in names.items():
        r = summary[mode]
        print(
            f"{label:<32} {r['seconds']:>7.1f} {r['seconds'] / base:>7.2f} "
            f"{r['api_calls']:>6} {100 * r['api_calls'] / max(n, 1):>12.2f} "
            f"{r['changed']:>8} {r['peak_rss_mb']:>11.0f}"
        )
    for mode in ("first", "again"):
        r = summary[mode]
        ok = r["seconds"] < TARGET_SECONDS and 100 * r["api_calls"] / n < TARGET_CALLS_PER_100
        print(
            f"target {mode} (< {TARGET_SECONDS:g} s, < {TARGET_CALLS_PER_100:g} call per 100 "
            f"channels): {'met' if ok else 'NOT met'}; db after: {r['db']}"
        )


if __name__ == "__main__":
    main()
