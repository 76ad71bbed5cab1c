"""Everything the verdict is judged on, read once the run has settled.

Four witnesses that do not share code paths: the sandbox (what 360dialog saw: channels,
key generations, every webhook attempt), the service's database (inbox, channels, jobs),
the service's API (the key the product would get) and the product process (what it was
handed). Plus the workers' own logs, for the stalled jobs they recovered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.rows import dict_row

from onboard360.drill.product import key_sha

LIFECYCLE_EVENTS = ("client_created", "channel_created", "channel_ready", "channel_running")
DELIVERY_LOG_LIMIT = 10_000
STALLED_LOG_EVENT = "stalled job retried"


@dataclass
class SandboxChannel:
    channel_id: str
    partner_id: str
    client_id: str
    status: str
    shared: bool
    client_permission: bool
    keys_generated: int

    @property
    def permitted(self) -> bool:
        return self.status == "running" and self.shared and self.client_permission


@dataclass
class Evidence:
    channels: dict[str, SandboxChannel] = field(default_factory=dict)
    # every delivery attempt of the sandbox's log, per hub
    attempts: list[dict[str, Any]] = field(default_factory=list)
    log_truncated: bool = False
    inbox: list[dict[str, Any]] = field(default_factory=list)
    service_channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs_by_status: dict[str, dict[str, int]] = field(default_factory=dict)
    failed_jobs: list[dict[str, Any]] = field(default_factory=list)
    # channel id -> provision_key jobs of it that a stalled-job recovery put back in the queue
    stalled_key_jobs: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stalled_jobs: int = 0
    # channel id -> key requests that got no clear answer (timeline key_outcome_unknown)
    outcome_unknown: dict[str, int] = field(default_factory=dict)
    # channel id -> what GET /api/v1/channels/{id}/api-key answered: ("ok", sha, webhook url)
    api_keys: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    product: dict[str, Any] = field(default_factory=dict)
    product_recheck: dict[str, str] = field(default_factory=dict)


async def gather_sandbox(sandbox: httpx.AsyncClient, partner_ids: list[str], ev: Evidence) -> None:
    for pid in partner_ids:
        counts = (await sandbox.get(f"/sandbox/hubs/{pid}/key-counts")).json()["key_counts"]
        details = await _bounded(
            [sandbox.get(f"/sandbox/channels/{cid}") for cid in counts], limit=20
        )
        channels = [answer.json() for answer in details]
        client_ids = sorted({c["client_id"] for c in channels})
        clients = await _bounded(
            [sandbox.get(f"/sandbox/clients/{cid}") for cid in client_ids], limit=20
        )
        permission = {c.json()["id"]: bool(c.json()["api_key_permission"]) for c in clients}
        for channel in channels:
            ev.channels[channel["id"]] = SandboxChannel(
                channel_id=channel["id"],
                partner_id=pid,
                client_id=channel["client_id"],
                status=channel["status"],
                shared=bool(channel["shared"]),
                client_permission=permission[channel["client_id"]],
                keys_generated=int(counts[channel["id"]]),
            )
        for event in LIFECYCLE_EVENTS:
            params = {"partner_id": pid, "event": event, "limit": DELIVERY_LOG_LIMIT}
            found = (await sandbox.get("/sandbox/deliveries", params=params)).json()
            ev.attempts.extend(found["deliveries"])
            ev.log_truncated |= len(found["deliveries"]) >= DELIVERY_LOG_LIMIT


async def _bounded(calls: list[Any], limit: int) -> list[httpx.Response]:
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Any) -> httpx.Response:
        async with semaphore:
            answer: httpx.Response = await call
            answer.raise_for_status()
            return answer

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def connect(database_url: str, patience: float = 60.0) -> psycopg.AsyncConnection[Any]:
    """A connection, retried while the server refuses (a shared server may be at its
    max_connections for a moment)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return await psycopg.AsyncConnection.connect(database_url, row_factory=dict_row)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def gather_database(database_url: str, run_dir: Path, ev: Evidence) -> None:
    async with await connect(database_url) as conn:
        ev.inbox = await _all(
            conn,
            "SELECT hub, body->>'id' AS event_id, event_type, processed_at IS NOT NULL AS done,"
            " error FROM inbox_events",
        )
        rows = await _all(
            conn,
            "SELECT hub, channel_id, status, permission, key_status, key_intent FROM channels",
        )
        ev.service_channels = {row["channel_id"]: row for row in rows}
        for row in await _all(
            conn,
            "SELECT task_name, status::text AS status, count(*) AS n FROM procrastinate_jobs"
            " GROUP BY 1, 2",
        ):
            ev.jobs_by_status.setdefault(row["task_name"], {})[row["status"]] = row["n"]
        ev.failed_jobs = await _all(
            conn,
            "SELECT id, task_name, args, attempts FROM procrastinate_jobs WHERE status = 'failed'",
        )
        recovered = stalled_job_ids(run_dir)
        ev.stalled_jobs = len(recovered)
        key_jobs = {
            row["id"]: row["channel_id"]
            for row in await _all(
                conn,
                "SELECT id, args->>'channel_id' AS channel_id FROM procrastinate_jobs"
                " WHERE task_name = 'provision_key' AND id = ANY(%(ids)s)",
                {"ids": recovered},
            )
        }
        for job_id in recovered:
            if job_id in key_jobs:
                ev.stalled_key_jobs[key_jobs[job_id]] += 1


async def _all(
    conn: psycopg.AsyncConnection[Any], query: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    cursor = await conn.execute(query, params)  # type: ignore[arg-type]
    return list(await cursor.fetchall())


def stalled_job_ids(run_dir: Path) -> list[int]:
    """The job id of every ``stalled job retried`` line of every worker log of the run."""
    found: list[int] = []
    for log in sorted(run_dir.glob("worker-*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if STALLED_LOG_EVENT not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == STALLED_LOG_EVENT and isinstance(entry.get("job_id"), int):
                found.append(entry["job_id"])
    return found


async def gather_api_keys(
    service: httpx.AsyncClient, sandbox: httpx.AsyncClient, ev: Evidence
) -> None:
    """For every channel: the key the product API hands out, and whether the sandbox takes it
    (and where its messaging webhook points)."""

    async def one(channel_id: str) -> None:
        answer = await service.get(f"/api/v1/channels/{channel_id}/api-key")
        if answer.status_code != 200:
            ev.api_keys[channel_id] = (f"http_{answer.status_code}", None, None)
            return
        key = answer.json()["api_key"]
        check = await sandbox.get("/v1/configs/webhook", headers={"D360-API-KEY": key})
        if check.status_code != 200:
            ev.api_keys[channel_id] = (f"sandbox_{check.status_code}", key_sha(key), None)
            return
        ev.api_keys[channel_id] = ("ok", key_sha(key), check.json().get("url"))

    semaphore = asyncio.Semaphore(10)

    async def bounded(channel_id: str) -> None:
        async with semaphore:
            await one(channel_id)

    await asyncio.gather(*(bounded(cid) for cid in ev.channels))


async def gather_product(product: httpx.AsyncClient, ev: Evidence) -> None:
    ev.product_recheck = (await product.post("/recheck")).json()["checks"]
    ev.product = (await product.get("/report")).json()
