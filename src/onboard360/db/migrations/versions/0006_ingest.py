"""Partner webhooks are processed one job per stored batch: rewrite queued per-event jobs.

Revision ID: 0006
Revises: 0005

Jobs queued before this version (``process_inbox_event`` with one ``event_id``) become
``process_inbox_events`` jobs with that one id, so no acknowledged webhook waits for a
task this version no longer has (docs/decisions/0005-ingest-group-commit.md).
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        UPDATE procrastinate_jobs
        SET task_name = 'process_inbox_events',
            args = jsonb_build_object('event_ids', jsonb_build_array((args->>'event_id')::bigint))
        WHERE task_name = 'process_inbox_event' AND status IN ('todo', 'failed')
            AND args ? 'event_id'
        """
    )


def downgrade() -> None:
    # One job per id again, for the version that knows only the per-event task.
    op.execute(
        """
        SELECT procrastinate_defer_jobs_v1(ARRAY(
            SELECT ROW(job.queue_name, 'process_inbox_event', job.priority, NULL, NULL,
                       jsonb_build_object('event_id', ids.id::bigint), NULL)
                   ::procrastinate_job_to_defer_v1
            FROM procrastinate_jobs AS job,
                 jsonb_array_elements_text(job.args->'event_ids') AS ids(id)
            WHERE job.task_name = 'process_inbox_events' AND job.status = 'todo'
        ));
        DELETE FROM procrastinate_jobs WHERE task_name = 'process_inbox_events' AND status = 'todo';
        """
    )
