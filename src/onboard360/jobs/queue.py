"""The one door to procrastinate's queue: task names, job specs, defer, what is queued.

Only this module (and migrations 0010, which holds the SQL functions below, and 0020,
whose ``follow_test_clock`` moves waiting jobs for a test clock) names procrastinate's
tables and functions; everything else builds a ``JobSpec`` with one of
the constructors here and hands it to ``defer`` on the connection of the transaction
that writes the row asking for the job, so the job exists exactly when that row does (no
dual write). Jobs are deferred through procrastinate's own ``JobManager`` on that
external connection (3.10 accepts one), so the enqueue SQL is procrastinate's.

Inside other queries, "is a key job waiting or running for this intent?" is the SQL
function ``key_job_queued(hub, channel_id, intent)`` and "did one fail?" is
``key_job_failed(…)`` (migration 0010): callers stay plain SQL and import nothing.

Upgrading procrastinate (pinned to 3.10 in pyproject) must check, in this module only:

- ``JobManager(connector).batch_defer_jobs_async(jobs, connection=…)`` still takes an
  external psycopg connection, and ``procrastinate.jobs.Job`` keeps its fields;
- ``procrastinate_defer_jobs_v1`` and ``procrastinate_job_to_defer_v1`` (the receiver's
  one-statement store-and-defer, ``inbox_defer_sql``) keep their name and field order;
- ``procrastinate_jobs`` keeps ``task_name``, ``status`` (todo, doing, failed), ``args``;
  if not, a new migration re-creates ``key_job_queued``/``key_job_failed`` (0010) and
  ``follow_test_clock`` (0020, which also needs ``scheduled_at``);
- the registered tasks' parameters still match the constructors
  (tests/unit/jobs/test_queue_constructors.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import procrastinate
from procrastinate.jobs import Job as ProcrastinateJob
from procrastinate.manager import JobManager
from sqlalchemy import Boolean, ColumnElement, func, text
from sqlalchemy.ext.asyncio import AsyncConnection

# ---- task names: the only place they are spelled ------------------------------------------

# One job per group-committed batch of partner webhooks (web/ingest.py, jobs/inbox.py).
INBOX_TASK: Final = "process_inbox_events"
PROVISION_TASK: Final = "provision_key"
DELIVER_TASK: Final = "deliver_product_event"
MESSAGING_TASK: Final = "configure_messaging"
VERIFY_TASK: Final = "verify_redirect"
# Periodic only (procrastinate defers it from the cron): no constructor.
RECONCILE_TASK: Final = "reconcile"
# Periodic (key_check_every_minutes), and deferred by key_health_job for a run now.
KEY_HEALTH_TASK: Final = "check_keys"
PRUNE_TASK: Final = "prune"
# Periodic only (abandon_cron): the abandonment sweep (jobs/abandon.py).
ABANDON_TASK: Final = "abandon_onboardings"
# Every task of ours (tests/unit/jobs/test_queue_constructors.py checks it against the app).
ALL_TASKS: Final = (
    INBOX_TASK,
    PROVISION_TASK,
    DELIVER_TASK,
    MESSAGING_TASK,
    VERIFY_TASK,
    RECONCILE_TASK,
    KEY_HEALTH_TASK,
    PRUNE_TASK,
    ABANDON_TASK,
)

DEFAULT_QUEUE: Final = "default"


@dataclass(frozen=True)
class JobSpec:
    """One job to defer: built only by the constructors below."""

    task: str
    args: Mapping[str, Any] = field(default_factory=dict)
    # Jobs sharing a lock never run at the same time (procrastinate's ``lock``).
    lock: str | None = None
    # At most one job with this lock waits in the queue (procrastinate's queueing lock).
    queueing_lock: str | None = None
    queue: str = DEFAULT_QUEUE
    priority: int = 0


# ---- one constructor per task: its arguments are the task's parameters ---------------------


def key_lock(hub: str, channel_id: str) -> str:
    """The lock that serialises every key job of one channel (provision, messaging)."""
    return f"key:{hub}:{channel_id}"


def inbox_job(event_ids: Sequence[int]) -> JobSpec:
    """Process stored partner webhooks (the receiver defers it in SQL: inbox_defer_sql)."""
    return JobSpec(INBOX_TASK, {INBOX_EVENT_IDS: list(event_ids)})


def provision_job(hub: str, channel_id: str, intent: int) -> JobSpec:
    """Generate the key of one intent (at most one per intent: the key_generations ledger)."""
    args = {"hub": hub, "channel_id": channel_id, "intent": intent}
    return JobSpec(PROVISION_TASK, args, lock=key_lock(hub, channel_id))


def deliver_job(product: str, event_id: str, subject: str) -> JobSpec:
    """Hand one event to the product; one subject's events go one at a time, in order."""
    return JobSpec(DELIVER_TASK, {"event_id": event_id}, lock=f"deliver:{product}:{subject}")


def messaging_job(hub: str, channel_id: str) -> JobSpec:
    """Point the channel's messaging webhook at the product (after its key, same lock)."""
    args = {"hub": hub, "channel_id": channel_id}
    return JobSpec(MESSAGING_TASK, args, lock=key_lock(hub, channel_id))


def verify_job(hub: str, onboarding_id: str | None, query: str, client_id: str) -> JobSpec:
    """Verify and apply a redirect 360dialog could not be asked about; one per client."""
    args = {"hub": hub, "onboarding_id": onboarding_id, "query": query}
    return JobSpec(VERIFY_TASK, args, lock=f"bind:{hub}:{client_id}")


def key_health_job() -> JobSpec:
    """One run of the key health check (jobs/key_health.py): never two at once, and at
    most one waiting, whether deferred here or by the cron."""
    return JobSpec(KEY_HEALTH_TASK, {}, lock=KEY_HEALTH_TASK, queueing_lock=KEY_HEALTH_TASK)


# ---- defer -----------------------------------------------------------------------------------


@functools.cache
def _manager() -> JobManager:
    # Never opened: with an external connection the connector only adapts the arguments.
    return JobManager(procrastinate.PsycopgConnector())


async def defer(conn: AsyncConnection, *jobs: JobSpec) -> None:
    """Enqueue ``jobs`` in ``conn``'s transaction, in this order, in one statement."""
    if not jobs:
        return
    raw = (await conn.get_raw_connection()).driver_connection
    await _manager().batch_defer_jobs_async(
        [
            ProcrastinateJob(
                queue=job.queue,
                priority=job.priority,
                lock=job.lock,
                queueing_lock=job.queueing_lock,
                task_name=job.task,
                task_kwargs=dict(job.args),
            )
            for job in jobs
        ],
        connection=raw,
    )


# The inbox job's one argument; the receiver builds it in SQL from the rows it stored.
INBOX_EVENT_IDS: Final = "event_ids"


def inbox_defer_sql(stored: str) -> str:
    """SQL deferring one inbox job for every ``id`` of the relation ``stored`` (none when
    it is empty): the receiver stores a batch and defers its job in one statement, so
    procrastinate's job row, event row and NOTIFY are paid once per batch."""
    return f"""
        SELECT procrastinate_defer_jobs_v1(ARRAY(
            SELECT ROW('{DEFAULT_QUEUE}', '{INBOX_TASK}', 0, NULL, NULL,
                       jsonb_build_object('{INBOX_EVENT_IDS}', jsonb_agg(id ORDER BY id)),
                       NULL)::procrastinate_job_to_defer_v1
            FROM {stored} HAVING count(*) > 0
        )) AS job_ids
    """  # noqa: S608 - every name is a constant of this module


# ---- what is queued ----------------------------------------------------------------------

_QUEUED_DELIVERIES = text(
    f"""
    SELECT j.args->>'event_id' AS event_id FROM procrastinate_jobs j
    WHERE j.task_name = '{DELIVER_TASK}' AND j.status IN ('todo', 'doing')
      AND j.args->>'event_id' = ANY(CAST(:ids AS text[]))
    """  # noqa: S608 - the task name is a constant
)


async def queued_deliveries(conn: AsyncConnection, event_ids: Sequence[str]) -> set[str]:
    """Which of these events have a delivery job waiting or running."""
    result = await conn.execute(_QUEUED_DELIVERIES, {"ids": list(event_ids)})
    return {row.event_id for row in result}


def key_job_queued(
    hub: ColumnElement[str], channel_id: ColumnElement[str], intent: ColumnElement[int]
) -> ColumnElement[bool]:
    """True while a key job for this intent waits or runs (the SQL function of 0010)."""
    return func.key_job_queued(hub, channel_id, intent, type_=Boolean)


# Finished jobs pile up for ever (procrastinate keeps them), so only the live and the
# failed ones are counted.
_COUNTS = text(
    "SELECT task_name, status::text AS status, count(*) AS n FROM procrastinate_jobs "
    "WHERE status IN ('todo', 'doing', 'failed') GROUP BY task_name, status"
)


@dataclass(frozen=True)
class JobCount:
    task: str
    status: str  # todo, doing or failed
    count: int


async def job_counts(conn: AsyncConnection) -> list[JobCount]:
    """Jobs waiting, running and failed, per task (for the metrics)."""
    return [JobCount(row.task_name, row.status, row.n) for row in await conn.execute(_COUNTS)]


# ---- retention -------------------------------------------------------------------------------

# Finished jobs with no event since the cutoff, oldest first. Never a waiting or running
# job, and never a failed key job: ``key_job_failed`` (the dashboard's "provisioning
# failed") reads those. procrastinate's events go with their job (ON DELETE CASCADE), its
# periodic-defer rows are unlinked by its own trigger.
_FINISHED = f"""
  SELECT j.id FROM procrastinate_jobs j
  WHERE j.id > :after
    AND (j.status IN ('succeeded', 'cancelled', 'aborted')
      OR (j.status = 'failed' AND j.task_name <> '{PROVISION_TASK}'))
    AND NOT EXISTS (SELECT 1 FROM procrastinate_events e
      WHERE e.job_id = j.id AND e.at >= :cutoff)"""  # noqa: S608 - fixed SQL
_COUNT_FINISHED = text(f"SELECT count(*) FROM ({_FINISHED}) j")  # noqa: S608 - fixed SQL
_DELETE_FINISHED = text(
    f"""
    DELETE FROM procrastinate_jobs WHERE id IN (
      {_FINISHED} ORDER BY j.id LIMIT :batch FOR UPDATE OF j SKIP LOCKED)
    RETURNING id
    """  # noqa: S608 - fixed SQL
)


# The queue's table as retention names it (metrics, logs, `onboard360 prune`).
JOBS_TABLE: Final = "procrastinate_jobs"


async def count_finished_jobs(conn: AsyncConnection, cutoff: datetime) -> int:
    """How many finished jobs ``delete_finished_jobs`` would remove."""
    return int(await conn.scalar(_COUNT_FINISHED, {"after": 0, "cutoff": cutoff}) or 0)


async def delete_finished_jobs(
    conn: AsyncConnection, cutoff: datetime, after: int, batch: int
) -> list[int]:
    """Remove up to ``batch`` finished jobs with ids above ``after``; their ids."""
    params = {"after": after, "cutoff": cutoff, "batch": batch}
    return [row.id for row in await conn.execute(_DELETE_FINISHED, params)]
