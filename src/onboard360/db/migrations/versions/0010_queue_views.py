"""The queue's "is a key job waiting or running?" as SQL functions other queries call.

Revision ID: 0010
Revises: 0009

``key_job_queued(hub, channel_id, intent)`` is true while a ``provision_key`` job for
that intent is waiting or running; ``key_job_failed(…)`` while one has failed for good.
Reconcile, the dashboard's retry and its needs-attention lists ask this instead of each
reading ``procrastinate_jobs`` (jobs/queue.py is the one module that names the queue in
Python; this migration is its SQL side). The task name and the columns are those of the
pinned procrastinate (3.10): a rename of either is a new migration re-creating these.

A live job is found through procrastinate's partial index on todo/doing jobs, so the
check stays cheap however many finished jobs the table keeps.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _function(name: str, statuses: str) -> str:
    return f"""
        CREATE FUNCTION {name}(p_hub text, p_channel_id text, p_intent int)
        RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT EXISTS (
                SELECT 1 FROM procrastinate_jobs j
                WHERE j.task_name = 'provision_key' AND j.status IN ({statuses})
                  AND j.args->>'hub' = p_hub AND j.args->>'channel_id' = p_channel_id
                  AND (j.args->>'intent')::int = p_intent)
        $$
    """  # noqa: S608 - names and statuses are this migration's constants


def upgrade() -> None:
    op.execute(_function("key_job_queued", "'todo', 'doing'"))
    op.execute(_function("key_job_failed", "'failed'"))


def downgrade() -> None:
    op.execute("DROP FUNCTION key_job_failed(text, text, int)")
    op.execute("DROP FUNCTION key_job_queued(text, text, int)")
