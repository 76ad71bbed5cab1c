"""SIGTERM drains: `serve` and `worker` exit 0, and a job running at that moment completes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from onboard360.db.embedded import to_libpq_uri
from onboard360.db.pooling import one_off_async_engine
from onboard360.handoff import generate_secret
from onboard360.jobs.queue import DELIVER_TASK, defer, deliver_job
from onboard360.runtime.crypto import generate_key
from onboard360.runtime.serving import free_port, running
from tests.sandbox_fixtures import wait_until

EXIT_TIMEOUT = 30


def start(database_url: str, *args: str, **env: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARD360_")}
    clean.update(
        ONBOARD360_DATABASE_URL=to_libpq_uri(database_url),
        ONBOARD360_ENCRYPTION_KEYS=json.dumps([generate_key()]),
        ONBOARD360_RECONCILE_CRON="",
        ONBOARD360_LOG_FORMAT="json",
        **env,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "onboard360", *args],
        env=clean,
        cwd=Path(__file__).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=EXIT_TIMEOUT)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def terminated(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=EXIT_TIMEOUT)
    return proc.returncode, stderr


def test_serve_exits_0_on_sigterm(
    database_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    proc = start(database_url, "serve", "--port", str(port))
    processes.append(proc)
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), what="serve to answer")
    code, stderr = terminated(proc)
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_idle_worker_serves_metrics_and_exits_0_on_sigterm(
    database_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    proc = start(database_url, "worker", "--metrics-port", str(port))
    processes.append(proc)
    url = f"http://127.0.0.1:{port}/metrics"
    wait_until(lambda: answers(url), what="the worker's metrics endpoint")
    assert "onboard360_database_up 1.0" in httpx.get(url).text
    code, stderr = terminated(proc)
    assert code == 0, stderr
    assert "Traceback" not in stderr


class Gate:
    """A product endpoint that holds each delivery until released."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()

    def app(self) -> Starlette:
        async def hook(_request: Request) -> Response:
            self.arrived.set()
            await asyncio.to_thread(self.release.wait, EXIT_TIMEOUT)
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


def queue_delivery(database_url: str, event_id: str) -> None:
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        conn.execute(
            "INSERT INTO product_events (id, product, event_type, dedupe_key, payload, attempts)"
            " VALUES (%s, 'default', 'client.created', %s, '{}', 0)",
            (event_id, event_id),
        )

    async def enqueue() -> None:
        engine = one_off_async_engine(database_url)
        try:
            async with engine.begin() as conn:
                await defer(conn, deliver_job("default", event_id, event_id))
        finally:
            await engine.dispose()

    asyncio.run(enqueue())


def test_sigterm_lets_the_running_job_finish(
    database_url: str, processes: list[subprocess.Popen[str]]
) -> None:
    gate = Gate()
    with running(gate.app()) as product_url:
        products = [
            {
                "name": "default",
                "webhook_url": f"{product_url}/hook",
                "webhook_secrets": [generate_secret()],
            }
        ]
        queue_delivery(database_url, "msg_drain_test")
        proc = start(database_url, "worker", ONBOARD360_PRODUCTS=json.dumps(products))
        processes.append(proc)
        assert gate.arrived.wait(EXIT_TIMEOUT), "the worker never started the delivery"
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)  # still draining: the delivery is held at the product
        gate.release.set()
        _, stderr = proc.communicate(timeout=EXIT_TIMEOUT)
    assert proc.returncode == 0, stderr
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        delivered = conn.execute(
            "SELECT delivered_at IS NOT NULL FROM product_events WHERE id = 'msg_drain_test'"
        ).fetchone()
        status = conn.execute(
            "SELECT status::text FROM procrastinate_jobs WHERE task_name = %s", (DELIVER_TASK,)
        ).fetchone()
    assert delivered == (True,)
    assert status == ("succeeded",)
