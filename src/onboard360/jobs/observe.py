"""What every job logs and counts: a procrastinate worker middleware.

Each job runs in its own asyncio task (procrastinate creates one per job), so the ids
bound here reach every log line of that job — ours, and procrastinate's own "job failed"
line after it — and no other job's. Only ids are bound, never a payload.
"""

from __future__ import annotations

import time
from typing import Any

from procrastinate import JobContext
from procrastinate.middleware import AsyncCallNext
from structlog.contextvars import bind_contextvars

from onboard360.jobs.queue import INBOX_EVENT_IDS, INBOX_TASK
from onboard360.runtime import metrics

# Task arguments worth a log field, under the name a person would grep for.
_LOGGED_ARGS = {
    "event_id": "event_id",
    "hub": "hub",
    "channel_id": "channel_id",
    "intent": "key_intent",
}


def job_fields(context: JobContext) -> dict[str, Any]:
    job = context.job
    fields: dict[str, Any] = {"job_id": job.id, "task": job.task_name, "attempt": job.attempts}
    for arg, field in _LOGGED_ARGS.items():
        if arg in job.task_kwargs:
            fields[field] = job.task_kwargs[arg]
    # A batch of partner webhooks: its size here, each event's inbox row id is bound while
    # that event is processed (jobs/inbox.py).
    if job.task_name == INBOX_TASK and INBOX_EVENT_IDS in job.task_kwargs:
        fields["inbox_events"] = len(job.task_kwargs[INBOX_EVENT_IDS])
    return fields


async def observe_job(call_next: AsyncCallNext, context: JobContext, _worker: Any) -> Any:
    # Not reset afterwards on purpose: procrastinate logs the job's outcome after the
    # middleware returns, in this same task, and that line should carry the ids too.
    bind_contextvars(**job_fields(context))
    task = context.job.task_name
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = await call_next()
        outcome = "succeeded"
        return result
    finally:
        metrics.JOBS_RUN.labels(task, outcome).inc()
        metrics.JOB_DURATION.labels(task).observe(time.perf_counter() - started)
