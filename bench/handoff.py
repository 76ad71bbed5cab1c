"""From ``channel_running`` to a stored key and a notified product, one channel at a time.

    .venv/bin/python -m bench.handoff [--channels 50]

One process, like tests/stack.py: the sandbox (no delays, no faults), the service, a
product sink that notes when each request arrives, and a worker running continuously
(procrastinate with LISTEN/NOTIFY), each on its own thread and event loop, over real HTTP
on 127.0.0.1 and a fresh database. For each channel, already onboarded and ``ready``:

    t0   the sandbox sets the channel ``running`` (it emits ``channel_running``)
    key  the encrypted key row is committed (polled every 2 ms)
    hand the product receives ``channel.activated``

The baseline of the same run: a second sandbox hub whose webhooks go straight to the bare
sink — the time from ``set_status`` to the sink receiving ``channel_running``, measured
just before each channel. Ratios are medians of the handoff over the baseline.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.common import databases, free_port, libpq, median, percentile, token
from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.config.settings import Settings
from onboard360.domain import RedirectResult, format_redirect
from onboard360.handoff import generate_secret
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.logging import configure_logging
from onboard360.runtime.serving import in_background, running
from onboard360.sandbox.app import create_app as create_sandbox
from onboard360.sandbox.models import HubSpec
from onboard360.sandbox.state import Sandbox
from onboard360.sandbox.webhooks import DeliverySettings
from onboard360.web.app import create_app as create_service
from onboard360.worker.runner import run_worker

HUB = "bench"
PARTNER_ID = "BenchHandPA"
BASELINE_PARTNER_ID = "BenchBarePA"
PRODUCT_TOKEN = token()
TARGET_P50_MS = 200.0
NO_DELAYS = DeliverySettings(max_attempts=3, retry_base_seconds=0.01, retry_max_seconds=0.05)


@dataclass
class Sink:
    """Records (arrival time, event) of every POST; waiters are woken per event key."""

    arrivals: dict[str, float] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    async def _receive(self, request: Request) -> JSONResponse:
        arrived = time.perf_counter()
        body = json.loads(await request.body())
        # Product events carry "type" and data.channel_id; partner webhooks "event" and
        # payload.id (the envelope is the sandbox's, see hub/platform.py).
        if "type" in body:
            key = f"{body['type']}:{body['data'].get('channel_id')}"
        else:
            key = f"{body['event']}:{body['payload'].get('id')}"
        with self._cond:
            self.arrivals.setdefault(key, arrived)
            self._cond.notify_all()
        return JSONResponse({"ok": True})

    def wait(self, key: str, timeout: float = 30.0) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: key in self.arrivals, timeout):
                raise TimeoutError(f"the sink never received {key}")
            return self.arrivals[key]

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])


@contextlib.contextmanager
def worker_thread(settings: Settings, database_url: str) -> Iterator[None]:
    """procrastinate's worker, continuously, on its own loop; cancelled on the way out."""
    work = functools.partial(
        run_worker, settings, database_url, install_signal_handlers=False, concurrency=4
    )
    with in_background(work, name="bench-worker"):
        yield


@dataclass
class Timing:
    baseline_ms: float
    key_ms: float
    handoff_ms: float


class HandoffBench:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.sink = Sink()
        self.sandbox = Sandbox()
        self.webhook_secret = token()
        self.platform_secret = token()
        self.api_key = token()

    @contextlib.contextmanager
    def stack(self) -> Iterator[None]:
        service_port = free_port()
        service_url = f"http://127.0.0.1:{service_port}"
        with running(self.sink.app()) as sink_url:
            specs = [
                HubSpec(
                    partner_id=PARTNER_ID,
                    redirect_url=f"{service_url}/connect/{HUB}",
                    webhook_url=f"{service_url}/hooks/360dialog/{HUB}/{self.webhook_secret}",
                    api_key=self.api_key,
                    platform_secret=self.platform_secret,
                    auto_advance=False,
                ),
                HubSpec(
                    partner_id=BASELINE_PARTNER_ID,
                    redirect_url=f"{sink_url}/done",
                    webhook_url=f"{sink_url}/partner",
                    api_key=token(),
                    platform_secret=token(),
                    auto_advance=False,
                ),
            ]
            sandbox_app = create_sandbox(specs, sandbox=self.sandbox, webhook_settings=NO_DELAYS)
            with running(sandbox_app) as sandbox_url:
                self.settings = self._settings(service_url, sandbox_url, sink_url)
                app = create_service(self.settings, self.database_url)
                with (
                    running(app, port=service_port),
                    worker_thread(self.settings, self.database_url),
                    httpx.Client(
                        base_url=service_url,
                        headers={"Authorization": f"Bearer {PRODUCT_TOKEN}"},
                        timeout=10,
                    ) as self.api,
                    psycopg.connect(libpq(self.database_url), autocommit=True) as self.db,
                ):
                    yield

    def _settings(self, service_url: str, sandbox_url: str, sink_url: str) -> Settings:
        hub = HubConfig(
            name=HUB,
            partner_id=PARTNER_ID,
            api_key=SecretStr(self.api_key),
            platform_secret=SecretStr(self.platform_secret),
            webhook_secret=SecretStr(self.webhook_secret),
            hub_url=sandbox_url,
            partner_api_url=f"{sandbox_url}/api/v2",
            messaging_api_url=sandbox_url,
        )
        product = ProductConfig(
            webhook_url=f"{sink_url}/product",
            webhook_secrets=[SecretStr(generate_secret())],
            api_tokens=[SecretStr(PRODUCT_TOKEN)],
        )
        return Settings(
            public_url=service_url,
            encryption_keys=[SecretStr(generate_key())],
            hubs=[hub],
            products=[product],
            log_level="warning",
        )

    def onboard(self, n: int) -> str:
        """A channel onboarded through the service and ``ready`` in the sandbox, settled."""
        answer = self.api.post(
            "/api/v1/onboardings", json={"hub": HUB, "external_user_id": f"user-{n}"}
        )
        answer.raise_for_status()
        state = httpx.URL(answer.json()["connect_url"]).params["start"]
        client = self.sandbox.create_client(PARTNER_ID, f"Client {n}", f"c{n}@example.test")
        channel = self.sandbox.create_channel(client.id, f"+49151{n:07d}").id
        query = format_redirect(RedirectResult(client.id, (channel,), (), state))
        self.api.get(f"/connect/{HUB}?{query}").raise_for_status()
        self.sandbox.set_status(channel, "ready")
        self._settle()
        return channel

    def _settle(self, timeout: float = 30.0) -> None:
        """Until the sandbox has delivered everything and no job waits or runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            idle = self.sandbox.dispatcher.pending == 0  # type: ignore[attr-defined]
            row = self.db.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
            ).fetchone()
            if idle and row is not None and row[0] == 0:
                return
            time.sleep(0.01)
        raise TimeoutError("the stack did not settle")

    def baseline(self, n: int) -> float:
        client = self.sandbox.create_client(BASELINE_PARTNER_ID, f"Bare {n}", f"b{n}@example.test")
        channel = self.sandbox.create_channel(client.id, f"+49152{n:07d}").id
        self.sandbox.set_status(channel, "ready")
        self.sink.wait(f"channel_ready:{channel}")
        t0 = time.perf_counter()
        self.sandbox.set_status(channel, "running")
        return self.sink.wait(f"channel_running:{channel}") - t0

    def measure(self, channel: str) -> tuple[float, float]:
        t0 = time.perf_counter()
        self.sandbox.set_status(channel, "running")
        key_at = self._poll_key(channel)
        handed = self.sink.wait(f"channel.activated:{channel}")
        return key_at - t0, handed - t0

    def _poll_key(self, channel: str, timeout: float = 30.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.db.execute(
                "SELECT 1 FROM api_keys WHERE hub = %s AND channel_id = %s", (HUB, channel)
            ).fetchone()
            if row is not None:
                return time.perf_counter()
            time.sleep(0.002)
        raise TimeoutError(f"no key stored for {channel}")

    def job_breakdown(self) -> dict[str, dict[str, float]]:
        """Per task, median ms from deferred to started (queue wait) and started to done."""
        rows = self.db.execute(
            """
            SELECT j.task_name, count(*),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY s.at - d.at),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY f.at - s.at)
            FROM procrastinate_jobs j
            JOIN procrastinate_events d ON d.job_id = j.id AND d.type = 'deferred'
            JOIN procrastinate_events s ON s.job_id = j.id AND s.type = 'started'
            JOIN procrastinate_events f ON f.job_id = j.id AND f.type = 'succeeded'
            GROUP BY 1 ORDER BY 1
            """
        ).fetchall()
        return {
            task: {
                "jobs": count,
                "wait_ms": wait.total_seconds() * 1000,
                "run_ms": run.total_seconds() * 1000,
            }
            for task, count, wait, run in rows
        }

    def check(self, channels: list[str]) -> str:
        """Exactly one key generation per channel, in the sandbox and in the database."""
        generated = [self.sandbox.channel(c).keys_generated for c in channels]
        rows = self.db.execute("SELECT count(*) FROM api_keys WHERE hub = %s", (HUB,)).fetchone()
        stored = rows[0] if rows else -1
        if set(generated) != {1} or stored != len(channels):
            return f"WRONG: generated per channel {sorted(set(generated))}, {stored} keys stored"
        return f"ok ({len(channels)} channels, one key each)"


def summarise(timings: list[Timing], check: str, seconds: float) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50": percentile(values, 50),
            "p90": percentile(values, 90),
            "max": max(values),
        }

    result = {
        "channels": len(timings),
        "baseline_ms": stats([t.baseline_ms for t in timings]),
        "key_ms": stats([t.key_ms for t in timings]),
        "handoff_ms": stats([t.handoff_ms for t in timings]),
        "check": check,
        "seconds": round(seconds),
    }
    base = result["baseline_ms"]["p50"]
    result["key_ratio"] = result["key_ms"]["p50"] / base
    result["handoff_ratio"] = result["handoff_ms"]["p50"] / base
    print(f"\n{'ms':<28} {'p50':>8} {'p90':>8} {'max':>8}")
    labels = (
        ("baseline_ms", "baseline (webhook → sink)"),
        ("key_ms", "running → key stored"),
        ("handoff_ms", "running → product notified"),
    )
    for name, label in labels:
        row = result[name]
        print(f"{label:<28} {row['p50']:>8.1f} {row['p90']:>8.1f} {row['max']:>8.1f}")
    print(
        f"\nmedian ratios to the baseline: key {result['key_ratio']:.1f}×, "
        f"handoff {result['handoff_ratio']:.1f}×"
    )
    p50 = result["handoff_ms"]["p50"]
    verdict = "met" if p50 < TARGET_P50_MS else "NOT met"
    print(f"target (running → handoff p50 < {TARGET_P50_MS:g} ms): {verdict}")
    print(f"check: {check}; took {result['seconds']} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handoff", description=__doc__)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--json", help="also write the summary to this file")
    args = parser.parse_args()
    configure_logging("warning", "console")
    started = time.monotonic()
    timings: list[Timing] = []
    with databases() as dbs:
        _, url = dbs.fresh()
        bench = HandoffBench(url)
        with bench.stack():
            # Warm-up: first requests, first jobs, prepared statements; checked, not timed.
            warm = bench.onboard(0)
            bench.baseline(0)
            bench.measure(warm)
            channels = [warm]
            for n in range(1, args.channels + 1):
                channel = bench.onboard(n)
                baseline = bench.baseline(n)
                key, handoff = bench.measure(channel)
                timings.append(Timing(baseline * 1000, key * 1000, handoff * 1000))
                channels.append(channel)
            check = bench.check(channels)
            jobs = bench.job_breakdown()
    result = summarise(timings, check, time.monotonic() - started)
    print("\njobs (medians; procrastinate_events, transaction start times):")
    for task, row in jobs.items():
        print(
            f"  {task:<24} {row['jobs']:>4} jobs  queue wait {row['wait_ms']:7.1f} ms"
            f"  run {row['run_ms']:7.1f} ms"
        )
    result["jobs"] = jobs
    result["median_baseline_ms"] = median([t.baseline_ms for t in timings])
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
