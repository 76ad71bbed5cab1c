"""Idle memory: RSS of `onboard360 serve` and `onboard360 worker` once they sit idle.

    .venv/bin/python -m bench.rss [--idle 5]

Starts both commands as processes (settings as ONBOARD360_* variables like
``tests/stack.py``'s ``Stack.env()``: a fresh migrated database, one hub, one product),
waits until ``serve`` answers /healthz, lets both idle ``--idle`` seconds, then reads their
RSS and USS (psutil; USS = memory only this process holds). The service process has
answered one /healthz request; the worker has run no job. Baseline for context: a bare
``python -c "import fastapi, uvicorn"`` process, read the same way. Target: each idle
service process under 150 MB RSS.
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
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import HOST, ROOT, databases, free_port, token
from onboard360.db.embedded import to_libpq_uri
from onboard360.runtime.crypto import generate_key

TARGET_MB = 150.0
CLI = [sys.executable, "-m", "onboard360"]


def service_env(url: str, port: int) -> dict[str, str]:
    hub = {
        "name": "bench",
        "partner_id": "BenchRssPA",
        "api_key": token(),
        "webhook_secret": token(),
        "platform_secret": token(),
        "partner_api_url": "http://127.0.0.1:9/api/v2",
        "messaging_api_url": "http://127.0.0.1:9",
        "hub_url": "http://127.0.0.1:9",
    }
    return {
        "ONBOARD360_DATABASE_URL": to_libpq_uri(url),
        "ONBOARD360_PUBLIC_URL": f"http://{HOST}:{port}",
        "ONBOARD360_ENCRYPTION_KEYS": json.dumps([generate_key()]),
        "ONBOARD360_HUBS": json.dumps([hub]),
        "ONBOARD360_PRODUCTS": json.dumps([{"name": "default", "api_tokens": [token()]}]),
        "ONBOARD360_RECONCILE_CRON": "",
        "ONBOARD360_LOG_LEVEL": "warning",
    }


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def memory(pid: int) -> dict[str, float]:
    info = psutil.Process(pid).memory_full_info()
    return {"rss_mb": info.rss / 2**20, "uss_mb": info.uss / 2**20}


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://{HOST}:{port}/healthz", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError("serve did not answer /healthz within 30 s")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rss", description=__doc__)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before reading")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    log = Path(tempfile.gettempdir()) / f"o360-bench-rss-{os.getpid()}.log"
    summary: dict[str, Any] = {}
    with process(
        [sys.executable, "-c", "import fastapi, uvicorn, time; time.sleep(60)"], {}, log
    ) as bare:
        time.sleep(args.idle)
        summary["bare: import fastapi, uvicorn"] = memory(bare.pid)
    with databases() as dbs:
        _name, url = dbs.fresh()
        port = free_port()
        env = service_env(url, port)
        serve_argv = [*CLI, "serve", "--host", HOST, "--port", str(port)]
        with process(serve_argv, env, log) as serve, process([*CLI, "worker"], env, log) as worker:
            wait_healthy(serve, port, log)
            time.sleep(args.idle)
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited:\n{log.read_text(errors='replace')[-3000:]}")
            summary["onboard360 serve"] = memory(serve.pid)
            summary["onboard360 worker"] = memory(worker.pid)
    base = summary["bare: import fastapi, uvicorn"]["rss_mb"]
    print(f"\n{'process':<30} {'RSS MB':>7} {'USS MB':>7} {'× bare':>7}")
    for name, row in summary.items():
        print(
            f"{name:<30} {row['rss_mb']:>7.1f} {row['uss_mb']:>7.1f} {row['rss_mb'] / base:>7.2f}"
        )
    for name in ("onboard360 serve", "onboard360 worker"):
        met = summary[name]["rss_mb"] < TARGET_MB
        print(f"target {name} < {TARGET_MB:g} MB RSS: {'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
