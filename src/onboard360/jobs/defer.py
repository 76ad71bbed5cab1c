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

# Every job of one call in one statement: procrastinate's function takes an array.
_DEFER = text(
    """
    SELECT procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW(queue, task, priority, lock, NULL, args::jsonb, NULL)
               ::procrastinate_job_to_defer_v1
        FROM unnest(
            CAST(:queues AS text[]), CAST(:tasks AS text[]), CAST(:priorities AS int[]),
            CAST(:locks AS text[]), CAST(:args AS text[])
        ) WITH ORDINALITY AS job(queue, task, priority, lock, args, n)
        ORDER BY n
    ))
    """
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
    if not jobs:
        return
    await conn.execute(
        _DEFER,
        {
            "queues": [job.queue for job in jobs],
            "tasks": [job.task for job in jobs],
            "priorities": [job.priority for job in jobs],
            "locks": [job.lock for job in jobs],
            "args": [json.dumps(job.args) for job in jobs],
        },
    )
