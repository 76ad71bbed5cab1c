"""Webhook ingest with 1, 2 and 4 web processes: does throughput scale with processes?

    .venv/bin/python -m bench.scaling [--processes 1 2 4] [--duration 8] [--connections 32]

For each count N: one fresh migrated database shared by N ``onboard360 serve`` processes
(the real command, settings as ONBOARD360_* variables, each on its own port — the service
has no SO_REUSEPORT / ``--workers`` mode, and a load balancer in front of N processes is
how it would be deployed), and N ``wrk -t1`` instances started together, one per process,
splitting the same total of connections (32 / N each), each replaying its own unique
signed ``channel_created`` bodies (``bench/ingest.py``'s machinery). 2 s warm-up, then
``--duration`` seconds measured; the rate is the sum of the instances' 2xx per second.
The ratio is each N's rate over N=1's of the same run. Afterwards the same exactly-once
check as bench.ingest (every 2xx stored, each row in exactly one job).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    HOST,
    ROOT,
    cpu_seconds,
    databases,
    free_port,
    postgres_cpu_seconds,
)
from bench.ingest import _check, count_rows, ensure_wrk, run_wrk, write_bodies
from bench.rss import service_env
from bench.serve import HUB, PARTNER_ID

BODIES_PER_SECOND = 10_000  # per wrk instance, well above one process's rate here


@contextlib.contextmanager
def serve_processes(count: int, url: str, log: Path) -> Iterator[tuple[list[int], list[int], dict]]:
    """``count`` ``onboard360 serve`` processes on one database; yields (ports, pids, hub)."""
    ports = [free_port() for _ in range(count)]
    env = service_env(url, ports[0])
    hub = json.loads(env["ONBOARD360_HUBS"])[0]
    hub.update(name=HUB, partner_id=PARTNER_ID)
    env["ONBOARD360_HUBS"] = json.dumps([hub])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("ab") as out:
            for port in ports:
                argv = [sys.executable, "-m", "onboard360", "serve", "--host", HOST]
                argv += ["--port", str(port)]
                procs.append(
                    subprocess.Popen(
                        argv, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=out
                    )
                )
        deadline = time.monotonic() + 30
        for proc, port in zip(procs, ports, strict=True):
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"serve exited:\n{log.read_text(errors='replace')[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("serve did not answer /healthz within 30 s")
                time.sleep(0.1)
        yield ports, [p.pid for p in procs], hub
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def measure(count: int, args: argparse.Namespace, url: str, tmp: Path, wrk: str) -> dict[str, Any]:
    connections = args.connections if args.fixed_per_process else max(1, args.connections // count)
    with serve_processes(count, url, tmp / "serve.log") as (ports, pids, hub):
        targets = [
            f"http://{HOST}:{port}/hooks/360dialog/{HUB}/{hub['webhook_secret']}" for port in ports
        ]

        def bodies(phase: str, seconds: int) -> list[Path]:
            prefixes = []
            for n in range(count):
                prefix = tmp / f"b{count}{phase}{n}-"
                lines = max(2000, BODIES_PER_SECOND * seconds * 3 // 2)
                write_bodies(prefix, lines, hub["platform_secret"], f"{count}{phase}{n}")
                prefixes.append(prefix)
            return prefixes

        warm, measured = bodies("w", args.warmup), bodies("m", args.duration)

        def load(prefixes: list[Path], seconds: int) -> list[dict[str, Any]]:
            with ThreadPoolExecutor(count) as pool:
                return list(
                    pool.map(
                        lambda tp: run_wrk(wrk, tp[0], tp[1], seconds, connections),
                        zip(targets, prefixes, strict=True),
                    )
                )

        load(warm, args.warmup)
        time.sleep(0.5)
        before = count_rows(url)
        cpu0, pg0 = sum(cpu_seconds(p) for p in pids), postgres_cpu_seconds()
        results = load(measured, args.duration)
        cpu1, pg1 = sum(cpu_seconds(p) for p in pids), postgres_cpu_seconds()
        time.sleep(0.5)
        after = count_rows(url)
    merged = {
        key: sum(r[key] for r in results)
        for key in ("responses", "non_2xx", "sent", "socket_errors", "timeouts", "duplicates")
    }
    merged["exhausted"] = sum(r["exhausted"] for r in results)
    ok = merged["responses"] - merged["non_2xx"]
    seconds = max(r["duration_us"] for r in results) / 1e6
    per_k = 1000 / max(ok, 1)
    return {
        "processes": count,
        "connections_each": connections,
        "rate": ok / seconds,
        "per_process": [
            round((r["responses"] - r["non_2xx"]) / (r["duration_us"] / 1e6)) for r in results
        ],
        "p50_ms": max(r["p50_us"] for r in results) / 1000,
        "p99_ms": max(r["p99_us"] for r in results) / 1000,
        "app_cpu_ms_per_k": (cpu1 - cpu0) * 1000 * per_k,
        "pg_cpu_ms_per_k": (pg1 - pg0) * 1000 * per_k,
        "check": _check(merged, before, after),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32, help="total, split evenly")
    parser.add_argument(
        "--fixed-per-process",
        action="store_true",
        help="--connections per process instead of in total (load grows with N)",
    )
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    wrk = ensure_wrk()
    began = time.monotonic()
    runs = []
    with databases() as dbs, tempfile.TemporaryDirectory(prefix="o360-bench-") as tmp:
        for count in args.processes:
            name, url = dbs.fresh()
            try:
                run = measure(count, args, url, Path(tmp), wrk)
            finally:
                dbs.drop(name)
            print(
                f"{count} process(es): {run['rate']:.0f} req/s {run['per_process']}  "
                f"p50 {run['p50_ms']:.1f} ms  p99 {run['p99_ms']:.1f} ms  {run['check']}",
                flush=True,
            )
            runs.append(run)
    base = runs[0]["rate"]
    print(
        f"\n{'processes':>9} {'req/s':>7} {'× first':>8} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'app CPU':>8} {'pg CPU':>7}   (CPU: ms per 1000 answered requests)"
    )
    for run in runs:
        run["ratio"] = run["rate"] / base
        print(
            f"{run['processes']:>9} {run['rate']:>7.0f} {run['ratio']:>8.2f} {run['p50_ms']:>7.1f} "
            f"{run['p99_ms']:>7.1f} {run['app_cpu_ms_per_k']:>8.0f} {run['pg_cpu_ms_per_k']:>7.0f}"
        )
    summary = {"runs": runs, "cpus": os.cpu_count(), "seconds": round(time.monotonic() - began)}
    print(f"took {summary['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
