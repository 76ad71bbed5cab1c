"""Retention on a real database: what is past its time goes, what is still needed stays
(an unprocessed webhook, an undelivered event's delivery log, waiting and failed key
jobs), in batches, and a dry run counts exactly what a run removes."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from bench.common import psycopg_sql
from bench.funnel import settings as funnel_settings
from bench.funnel_seed import SEED as FUNNEL_SEED
from bench.funnel_seed import seed_params

from onboard360.config.settings import Settings
from onboard360.db.pooling import one_off_async_engine
from onboard360.domain.funnel import MAX_DAYS
from onboard360.jobs.prune import prune
from onboard360.runtime.metrics import PRUNED_ROWS
from tests.integration.service_http import to_libpq_uri

OLD = "now() - interval '60 days'"
NEW = "now() - interval '1 hour'"

SEED = """
INSERT INTO inbox_events (hub, body_sha256, event_type, body, received_at, processed_at)
VALUES ('pp', 'a', 'x', '{"name": "old processed"}', OLD_AT, OLD_AT),
       ('pp', 'b', 'x', '{"name": "old unprocessed"}', OLD_AT, NULL),
       ('pp', 'c', 'x', '{"name": "new processed"}', NEW_AT, NEW_AT),
       ('pp', 'd', 'x', '{"name": "old processed 2"}', OLD_AT, OLD_AT),
       ('pp', 'e', 'x', '{"name": "old processed 3"}', OLD_AT, OLD_AT);
INSERT INTO product_events (id, product, event_type, dedupe_key, hub, client_id, channel_id,
  payload, created_at, delivered_at, failed_at, attempts)
VALUES ('delivered', 'default', 't', 'k1', 'pp', 'C1', 'CH1', '{}', OLD_AT, OLD_AT, NULL, 2),
       ('pending', 'default', 't', 'k2', 'pp', 'C1', 'CH1', '{}', OLD_AT, NULL, NULL, 3),
       ('dead', 'default', 't', 'k3', 'pp', 'C1', 'CH1', '{}', OLD_AT, NULL, OLD_AT, 24),
       ('fresh', 'default', 't', 'k4', 'pp', 'C1', 'CH1', '{}', NEW_AT, NEW_AT, NULL, 1);
INSERT INTO delivery_attempts (event_id, product, attempt, started_at, duration_ms, status)
VALUES ('delivered', 'default', 1, OLD_AT, 5, 500), ('delivered', 'default', 2, OLD_AT, 5, 200),
       ('pending', 'default', 1, OLD_AT, 5, 500), ('dead', 'default', 1, OLD_AT, 5, 500),
       ('fresh', 'default', 1, NEW_AT, 5, 200);
INSERT INTO timeline (hub, client_id, channel_id, source, kind, detail, at)
VALUES ('pp', 'C1', 'CH1', 'webhook', 'old', '{}', OLD_AT),
       ('pp', 'C1', 'CH1', 'webhook', 'new', '{}', NEW_AT);
INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status, attempts)
VALUES ('default', 'deliver_product_event', 'old-done', '{}', 'succeeded', 1),
       ('default', 'deliver_product_event', 'old-failed', '{}', 'failed', 24),
       ('default', 'provision_key', 'old-key-failed', '{}', 'failed', 12),
       ('default', 'deliver_product_event', 'recent-done', '{}', 'succeeded', 1),
       ('default', 'process_inbox_events', 'waiting', '{}', 'todo', 0);
INSERT INTO procrastinate_events (job_id, type, at)
SELECT id, 'succeeded', CASE WHEN lock = 'recent-done' THEN NEW_AT ELSE OLD_AT END
FROM procrastinate_jobs;
""".replace("OLD_AT", OLD).replace("NEW_AT", NEW)


_INBOX = "SELECT body->>'name' FROM inbox_events ORDER BY 1"


def _remaining(url: str) -> dict[str, list[Any]]:
    with psycopg.connect(to_libpq_uri(url)) as conn:
        return {
            "inbox": [
                r[0] for r in conn.execute("SELECT body->>'name' FROM inbox_events ORDER BY 1")
            ],
            "attempts": conn.execute(
                "SELECT event_id, attempt FROM delivery_attempts ORDER BY 1, 2"
            ).fetchall(),
            "events": [r[0] for r in conn.execute("SELECT id FROM product_events ORDER BY 1")],
            "timeline": [r[0] for r in conn.execute("SELECT kind FROM timeline ORDER BY 1")],
            "jobs": [r[0] for r in conn.execute("SELECT lock FROM procrastinate_jobs ORDER BY 1")],
            "job_events": [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT j.lock FROM procrastinate_events e "
                    "JOIN procrastinate_jobs j ON j.id = e.job_id ORDER BY 1"
                )
            ],
        }


def _prune(url: str, settings: Settings, *, dry_run: bool = False) -> dict[str, int]:
    async def run() -> dict[str, int]:
        engine = one_off_async_engine(url)
        try:
            return await prune(engine, settings, dry_run=dry_run, batch=1)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def seeded(database_url: str) -> str:
    with psycopg.connect(to_libpq_uri(database_url), autocommit=True) as conn:
        conn.execute(SEED)
    return database_url


def test_defaults_remove_old_bodies_attempts_and_jobs_and_keep_what_is_needed(
    seeded: str,
) -> None:
    settings = Settings()
    before = PRUNED_ROWS.labels("inbox_events")._value.get()
    would = _prune(seeded, settings, dry_run=True)
    assert _remaining(seeded)["inbox"] == [
        "new processed",
        "old processed",
        "old processed 2",
        "old processed 3",
        "old unprocessed",
    ]
    removed = _prune(seeded, settings)
    assert (
        removed
        == would
        == {
            "inbox_events": 3,
            "delivery_attempts": 2,
            "procrastinate_jobs": 2,
        }
    )
    assert PRUNED_ROWS.labels("inbox_events")._value.get() - before == 3
    left = _remaining(seeded)
    assert left["inbox"] == ["new processed", "old unprocessed"]
    # The undelivered events keep their delivery log; the delivered one lost its old one.
    assert left["attempts"] == [("dead", 1), ("fresh", 1), ("pending", 1)]
    assert left["events"] == ["dead", "delivered", "fresh", "pending"]
    assert left["timeline"] == ["new", "old"]
    # The waiting job, the failed key job ("provisioning failed") and a recent job stay.
    assert left["jobs"] == ["old-key-failed", "recent-done", "waiting"]
    assert left["job_events"] == ["old-key-failed", "recent-done", "waiting"]
    assert _prune(seeded, settings) == dict.fromkeys(removed, 0)


def test_timeline_and_delivered_events_only_when_a_setting_says_so(seeded: str) -> None:
    settings = Settings(retention_timeline_days=30, retention_product_events_days=30)
    removed = _prune(seeded, settings)
    assert removed["timeline"] == 1
    assert removed["product_events"] == 1
    left = _remaining(seeded)
    assert left["timeline"] == ["new"]
    assert left["events"] == ["dead", "fresh", "pending"]
    assert left["attempts"] == [("dead", 1), ("fresh", 1), ("pending", 1)]


def test_a_run_counts_the_funnels_stale_days_again_and_keeps_the_year(database_url: str) -> None:
    """Journeys changed on past days leave marks (migration 0019); a run counts those days
    again and the marks go, so they never pile up where nobody asks for the funnel; with
    hubs configured it keeps every past day of the last year, so questions find them."""
    with psycopg.connect(to_libpq_uri(database_url), autocommit=True) as conn:
        for statement in FUNNEL_SEED:  # a year of journeys, written now: every day marked
            conn.execute(psycopg_sql(statement), seed_params(300))
        marked = conn.execute(
            "SELECT count(DISTINCT (hub, day)) FROM funnel_stale WHERE day < current_date - 1"
        ).fetchone()
    assert marked is not None
    assert 100 < marked[0] < 2 * 365  # days without a journey are not marked

    _prune(database_url, Settings(), dry_run=True)  # a dry run counts nothing again
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        assert conn.execute("SELECT count(*) FROM funnel_stale").fetchone() != (0,)

    _prune(database_url, Settings())  # no hub configured: the stale days only
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        left = conn.execute("SELECT count(*) FROM funnel_stale WHERE day < current_date - 1")
        assert left.fetchone() == (0,)
        days = conn.execute("SELECT count(*) FROM funnel_days_kept").fetchone()
        assert days == marked  # the marked days only, none between them
        kept = conn.execute(
            "SELECT coalesce(sum(n), 0) FROM funnel_counts WHERE name = 'started'"
        ).fetchone()
        journeys = conn.execute(
            "SELECT count(*) FROM onboardings WHERE journey_id IS NULL"
            " AND created_at < date_trunc('day', now() AT TIME ZONE 'UTC') - interval '1 day'"
            " AND created_at >= (SELECT min(day) FROM funnel_days_kept)"
        ).fetchone()
    assert kept == journeys

    _prune(database_url, funnel_settings())  # hubs pp and dp: their whole past year
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        days = conn.execute("SELECT hub, count(*) FROM funnel_days_kept GROUP BY 1 ORDER BY 1")
        assert days.fetchall() == [("dp", MAX_DAYS), ("pp", MAX_DAYS)]
