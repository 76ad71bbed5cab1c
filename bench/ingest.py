"""Durable webhook ingest: the partner webhook receiver against a bare endpoint doing no I/O.

    .venv/bin/python -m bench.ingest [--rounds 3] [--duration 8] [--connections 32]

Each round serves, one after the other and in the same way (one uvicorn process, uvloop,
httptools), and loads with ``wrk`` from 127.0.0.1:

- ``bare``       a FastAPI POST handler that reads the body and answers 200;
- ``per-request`` POST /hooks/360dialog/{hub}/{secret} writing each delivery in its own
                  statement and commit (web/ingest.py with ``max_batch=1``);
- ``batched``    the same receiver with its default group commit.

Bodies are unique signed ``channel_created`` events, so no request is short-circuited as
a duplicate. No worker runs: jobs pile up, and afterwards every stored row is checked to
be in exactly one job. Figures are medians over the rounds; each ratio is against the bare
endpoint of its own round. Needs ``wrk`` (installed with apt-get when missing and root).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.common import (
    HOST,
    ROOT,
    Databases,
    cpu_seconds,
    databases,
    free_port,
    libpq,
    median,
    token,
)
from bench.serve import HUB, PARTNER_ID
from onboard360.hub.signatures import webhook_signature
from onboard360.jobs.queue import INBOX_TASK
from onboard360.web.ingest import BatchLimits

LUA = ROOT / "bench" / "ingest.lua"
VARIANTS = {
    "bare": None,
    # As many statements in flight as the service engine keeps connections (pool_size).
    "per-request": BatchLimits(max_batch=1, max_in_flight=10),
    "batched": BatchLimits(),
}
TARGET_RATIO = 0.5
TARGET_P99_MS = 10.0


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found; installing Debian's package (apt-get install -y wrk)")
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    return found


def write_bodies(prefix: Path, count: int, platform_secret: str, tag: str) -> None:
    """``count`` unique signed channel_created deliveries, for one wrk thread."""
    with Path(f"{prefix}1.txt").open("w") as out:
        for n in range(count):
            body = json.dumps(
                {
                    "id": f"evt_{tag}_{n}",
                    "event": "channel_created",
                    "created_at": "2026-01-01T00:00:00Z",
                    "payload": {
                        "id": f"ch{tag}{n:09d}",
                        "client_id": f"cl{tag}{n // 3:09d}",
                        "partner_id": PARTNER_ID,
                        "status": "pending",
                        "phone_number": f"+4915{n:09d}",
                        "phone_name": "Bench",
                    },
                },
                separators=(",", ":"),
            ).encode()
            out.write(f"{webhook_signature(platform_secret, body)} {body.decode()}\n")


def run_wrk(wrk: str, url: str, prefix: Path, duration: int, connections: int) -> dict[str, Any]:
    argv = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "5s"]
    argv += ["-s", str(LUA), url, "--", str(prefix)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=duration + 30)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("WRK_RESULT "))
            return result
    raise RuntimeError(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


@dataclass
class Run:
    variant: str
    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float  # per 1000 answered requests
    postgres_cpu_ms: float
    check: str


def count_rows(url: str) -> tuple[int, int, int]:
    """(inbox rows, inbox jobs, rows not in exactly one job's ids and ids without a row)."""
    with psycopg.connect(libpq(url)) as conn:
        rows = conn.execute("SELECT count(*) FROM inbox_events").fetchone()
        jobs = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s", (INBOX_TASK,)
        ).fetchone()
        # One job per stored batch, its rows' ids in args.event_ids (web/ingest.py).
        wrong = conn.execute(
            """
            SELECT count(*) FROM (
                SELECT ids.id::bigint AS id, count(*) AS jobs
                FROM procrastinate_jobs AS job,
                     jsonb_array_elements_text(job.args->'event_ids') AS ids(id)
                WHERE job.task_name = %s GROUP BY 1
            ) j FULL JOIN inbox_events e USING (id)
            WHERE j.jobs IS DISTINCT FROM 1 OR e.id IS NULL
            """,
            (INBOX_TASK,),
        ).fetchone()
    assert rows is not None
    assert jobs is not None
    assert wrong is not None
    return rows[0], jobs[0], wrong[0]


def database_backends(url: str) -> list[int]:
    """The PostgreSQL backends serving the bench's database (the receiver's pool, open
    since the warm-up): their CPU is the write's cost in PostgreSQL, whatever else the
    shared server does meanwhile. WAL writer and checkpointer are not counted."""
    with psycopg.connect(libpq(url)) as conn:
        found = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in found]


def backends_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


class IngestBench:
    def __init__(self, args: argparse.Namespace, dbs: Databases, tmp: Path) -> None:
        self.args = args
        self.dbs = dbs
        self.tmp = tmp
        self.wrk = ensure_wrk()
        self.webhook_secret = token()
        self.platform_secret = token()
        self.bodies = 0  # per body file, sized from the first bare run
        self.files = 0

    def run(self, variant: str) -> Run:
        port = free_port()
        limits = VARIANTS[variant]
        if limits is None:
            return self._measure(variant, ["bare", "--port", str(port)], port, None)
        name, url = self.dbs.fresh()
        try:
            argv = ["ingest", "--port", str(port), "--database-url", url]
            # "=": a token_urlsafe secret may begin with "-", which argparse reads as an option.
            argv += [f"--webhook-secret={self.webhook_secret}"]
            argv += [f"--platform-secret={self.platform_secret}"]
            argv += ["--max-batch", str(limits.max_batch)]
            argv += ["--max-in-flight", str(limits.max_in_flight)]
            return self._measure(variant, argv, port, url)
        finally:
            self.dbs.drop(name)

    def _bodies(self, seconds: float) -> Path:
        self.files += 1
        prefix = self.tmp / f"bodies{self.files}-"
        count = max(2000, int(self.bodies * seconds / self.args.duration))
        write_bodies(prefix, count, self.platform_secret, f"{self.files:03d}")
        return prefix

    def _measure(self, variant: str, argv: list[str], port: int, url: str | None) -> Run:
        from bench.common import server_process  # noqa: PLC0415

        target = f"http://{HOST}:{port}/hooks/360dialog/{HUB}/{self.webhook_secret}"
        args = self.args
        warm = self._bodies(args.warmup) if url else self.tmp / "bare-"
        measured = self._bodies(args.duration) if url else self.tmp / "bare-"
        with server_process(argv, port, self.tmp / "server.log") as pid:
            run_wrk(self.wrk, target, warm, args.warmup, args.connections)
            time.sleep(0.5)
            before = count_rows(url) if url else (0, 0, 0)
            backends = database_backends(url) if url else []
            cpu0, pg0 = cpu_seconds(pid), backends_cpu_seconds(backends)
            result = run_wrk(self.wrk, target, measured, args.duration, args.connections)
            cpu1, pg1 = cpu_seconds(pid), backends_cpu_seconds(backends)
            time.sleep(0.5)  # requests in flight when wrk stopped still commit
            after = count_rows(url) if url else (0, 0, 0)
        ok = result["responses"] - result["non_2xx"]
        rate = ok / (result["duration_us"] / 1e6)
        if variant == "bare" and not self.bodies:
            # Enough unique bodies for a receiver as fast as the bare endpoint, and then some.
            self.bodies = int(rate * args.duration * 1.5)
        per_k = 1000 / max(ok, 1)
        return Run(
            variant,
            rate,
            result["p50_us"] / 1000,
            result["p99_us"] / 1000,
            (cpu1 - cpu0) * 1000 * per_k,
            (pg1 - pg0) * 1000 * per_k,
            _check(result, before, after) if url else "-",
        )


def _check(result: dict[str, Any], before: tuple[int, int, int], after: tuple[int, int, int]):
    """Every 2xx stored and enqueued exactly once (requests cut off by wrk may be stored)."""
    stored = after[0] - before[0]
    accepted = result["responses"] - result["non_2xx"]
    problems = []
    if result["exhausted"] or result["duplicates"]:
        problems.append(f"{result['duplicates']} duplicate answers (bodies ran out?)")
    if result["non_2xx"] or result["socket_errors"] or result["timeouts"]:
        problems.append(
            f"{result['non_2xx']} non-2xx, {result['socket_errors']} socket errors, "
            f"{result['timeouts']} timeouts"
        )
    if not accepted <= stored <= result["sent"]:
        problems.append(f"{accepted} accepted but {stored} stored of {result['sent']} sent")
    if after[2]:
        problems.append(f"{after[0]} rows, {after[1]} jobs, {after[2]} not in exactly one job")
    per_job = stored / max(after[1] - before[1], 1)
    return "; ".join(problems) or (
        f"ok ({accepted} accepted, {stored} stored, each in one job; {per_job:.1f} rows/job)"
    )


def report(runs: list[list[Run]], args: argparse.Namespace, wanted: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {"connections": args.connections, "rounds": len(runs)}
    print(
        f"\n{'variant':<12} {'req/s':>8} {'× bare':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'app CPU':>8} {'pg CPU':>7}   (CPU: ms per 1000 answered requests; medians)"
    )
    for variant in wanted:
        mine = [r for rnd in runs for r in rnd if r.variant == variant]
        ratios = [
            next(r.rate for r in rnd if r.variant == variant)
            / next(r.rate for r in rnd if r.variant == "bare")
            for rnd in runs
        ]
        row = {
            "rate": median([r.rate for r in mine]),
            "ratio": median(ratios),
            "ratios": [round(x, 3) for x in ratios],
            "p50_ms": median([r.p50_ms for r in mine]),
            "p99_ms": median([r.p99_ms for r in mine]),
            "app_cpu_ms_per_k": median([r.server_cpu_ms for r in mine]),
            "pg_cpu_ms_per_k": median([r.postgres_cpu_ms for r in mine]),
            "checks": [r.check for r in mine],
        }
        summary[variant] = row
        print(
            f"{variant:<12} {row['rate']:>8.0f} {row['ratio']:>7.2f} {row['p50_ms']:>7.2f} "
            f"{row['p99_ms']:>7.2f} {row['app_cpu_ms_per_k']:>8.0f} "
            f"{row['pg_cpu_ms_per_k']:>7.0f}"
        )
    print()
    for variant in wanted:
        for n, check in enumerate(summary[variant]["checks"], 1):
            if check != "-":
                print(f"check {variant} round {n}: {check}")
    batched = summary["batched"]
    met = batched["ratio"] >= TARGET_RATIO and batched["p99_ms"] < TARGET_P99_MS
    print(
        f"\ntarget (batched ≥ {TARGET_RATIO}× bare, p99 < {TARGET_P99_MS:g} ms): "
        f"{'met' if met else 'NOT met'}; per-round ratios {batched['ratios']}"
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    parser.add_argument("--only", choices=list(VARIANTS), action="append")
    parser.add_argument("--max-batch", type=int, default=BatchLimits.max_batch)
    parser.add_argument("--max-in-flight", type=int, default=BatchLimits.max_in_flight)
    args = parser.parse_args()
    VARIANTS["batched"] = BatchLimits(args.max_batch, args.max_in_flight)
    wanted = ["bare", *[v for v in VARIANTS if v != "bare" and (not args.only or v in args.only)]]
    runs: list[list[Run]] = []
    started = time.monotonic()
    with databases() as dbs, tempfile.TemporaryDirectory(prefix="o360-bench-") as tmp:
        (Path(tmp) / "bare-1.txt").write_text('x {"event":"channel_created"}\n')
        bench = IngestBench(args, dbs, Path(tmp))
        for n in range(1, args.rounds + 1):
            rnd = []
            for variant in wanted:
                run = bench.run(variant)
                print(
                    f"round {n} {variant:<12} {run.rate:8.0f} req/s  p50 {run.p50_ms:.2f} ms"
                    f"  p99 {run.p99_ms:.2f} ms  {run.check}",
                    flush=True,
                )
                rnd.append(run)
            runs.append(rnd)
    summary = report(runs, args, wanted)
    summary["seconds"] = round(time.monotonic() - started)
    print(f"took {summary['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
