import psycopg
from alembic import command
from sqlalchemy import create_engine, inspect

from onboard360.db.embedded import to_libpq_uri
from onboard360.db.migrate import alembic_config, current_revision, head_revision, upgrade
from onboard360.jobs.queue import INBOX_TASK


def test_cloned_database_is_at_head(database_url: str) -> None:
    assert head_revision() is not None
    assert current_revision(database_url) == head_revision()


def test_inbox_table_exists(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert "inbox_events" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_queued_per_event_inbox_jobs_become_batch_jobs(database_url: str) -> None:
    # A queue left by the version before 0006, which deferred one job per webhook.
    command.downgrade(alembic_config(database_url), "0005")
    with psycopg.connect(to_libpq_uri(database_url), autocommit=True) as conn:
        conn.execute(
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('default', 'process_inbox_event', 0,"
            " NULL, NULL, '{\"event_id\": 7}'::jsonb, NULL)::procrastinate_job_to_defer_v1])"
        )
    upgrade(database_url)
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        jobs = conn.execute("SELECT task_name, args, status FROM procrastinate_jobs").fetchall()
    assert jobs == [(INBOX_TASK, {"event_ids": [7]}, "todo")]
