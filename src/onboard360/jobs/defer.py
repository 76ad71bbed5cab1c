"""Enqueue procrastinate jobs inside the caller's transaction (no dual write).

procrastinate's own ``defer_async`` uses its own connection; calling its SQL function on
our connection makes the job exist exactly when the row that asks for it does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

DEFAULT_QUEUE = "default"

_DEFER = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, :priority, :lock, NULL, "
    "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1])"
)


@dataclass(frozen=True)
class Job:
    task: str
    args: dict[str, Any]
    # Jobs sharing a lock never run at the same time (procrastinate's `lock`).
    lock: str | None = None
    queue: str = DEFAULT_QUEUE
    priority: int = 0


async def defer(conn: AsyncConnection, *jobs: Job) -> None:
    for job in jobs:
        await conn.execute(
            _DEFER,
            {
                "queue": job.queue,
                "task": job.task,
                "priority": job.priority,
                "lock": job.lock,
                "args": json.dumps(job.args),
            },
        )
