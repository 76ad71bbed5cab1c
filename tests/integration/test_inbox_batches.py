"""One processing job per group-committed batch of partner webhooks: every stored row is
in exactly one job, each event takes effect once however often its job runs, and one
failing event neither blocks nor repeats its neighbours."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from onboard360.db.pooling import one_off_async_engine
from onboard360.jobs.queue import INBOX_TASK, defer, inbox_job
from onboard360.web.ingest import BatchLimits, open_inbox_writer
from onboard360.web.partner_webhooks import delivery_of
from tests.integration.service_http import event_body, execute, rows, snapshot
from tests.stack import Stack


def store_together(stack: Stack, bodies: Sequence[bytes]) -> list[bool]:
    """Hand ``bodies`` to one receiver's writer at once; each one's duplicate flag.

    With one write in flight, the first is written alone at once and all the others,
    which arrived meanwhile, together in the next statement.
    """

    async def store() -> list[bool]:
        limits = BatchLimits(max_in_flight=1)
        async with open_inbox_writer(stack.database_url, limits) as writer:
            return list(await asyncio.gather(*(writer.store(delivery_of("pp", b)) for b in bodies)))

    return asyncio.run(store())


def notes(count: int) -> list[bytes]:
    # An event type onboard360 does not know: each processing puts one line on the timeline.
    return [event_body("partner_note", {"n": n}) for n in range(count)]


def inbox_ids(stack: Stack) -> list[int]:
    return [row["id"] for row in rows(stack, "SELECT id FROM inbox_events ORDER BY id")]


def inbox_jobs(stack: Stack) -> list[dict[str, Any]]:
    query = "SELECT status, attempts, args FROM procrastinate_jobs WHERE task_name = %s ORDER BY id"
    return rows(stack, query, INBOX_TASK)


def test_deliveries_written_together_share_one_job(stack: Stack) -> None:
    bodies = notes(8)
    answers = store_together(stack, [*bodies, bodies[3]])
    assert answers == [False] * 8 + [True]  # the copy is stored once and acknowledged
    ids = inbox_ids(stack)
    assert len(ids) == 8
    jobs = inbox_jobs(stack)
    assert [job["args"] for job in jobs] == [{"event_ids": ids[:1]}, {"event_ids": ids[1:]}]


def test_a_statement_of_duplicates_defers_no_job(stack: Stack) -> None:
    bodies = notes(3)
    store_together(stack, bodies)
    jobs = inbox_jobs(stack)
    assert store_together(stack, bodies) == [True, True, True]
    assert inbox_jobs(stack) == jobs


def test_a_batch_job_run_again_changes_nothing(stack: Stack) -> None:
    store_together(stack, notes(4))
    stack.drain()
    ids = inbox_ids(stack)
    assert len(rows(stack, "SELECT id FROM timeline")) == 4
    before = snapshot(stack)

    async def defer_again() -> None:
        engine = one_off_async_engine(stack.database_url)
        try:
            async with engine.begin() as conn:
                await defer(conn, inbox_job(ids))
        finally:
            await engine.dispose()

    asyncio.run(defer_again())
    stack.drain()

    assert snapshot(stack) == before
    assert [job["status"] for job in inbox_jobs(stack)] == ["succeeded"] * 3


def test_a_failing_event_is_retried_alone_and_its_neighbours_run_once(stack: Stack) -> None:
    store_together(stack, notes(4))
    ids = inbox_ids(stack)
    # The database refuses to mark the third event processed, the first time only (a
    # sequence is not rolled back with the failed transaction).
    execute(
        stack,
        f"""
        CREATE SEQUENCE fail_once;
        CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.processed_at IS NOT NULL AND nextval('fail_once') = 1 THEN
                RAISE EXCEPTION 'refused once';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_once BEFORE UPDATE ON inbox_events
            FOR EACH ROW WHEN (NEW.id = {ids[2]:d}) EXECUTE FUNCTION fail_once();
        """,
    )
    stack.drain()

    done = rows(stack, "SELECT id, processed_at FROM inbox_events ORDER BY id")
    assert all(row["processed_at"] is not None for row in done)
    # Its batch neighbour after it was processed by the first attempt, before the retry.
    assert done[3]["processed_at"] < done[2]["processed_at"]
    lines = rows(stack, "SELECT detail FROM timeline ORDER BY id")
    assert sorted(line["detail"]["inbox_id"] for line in lines) == ids  # once each
    jobs = inbox_jobs(stack)
    # The second batch's job ran twice: the retry was for the refused event alone.
    assert [(job["status"], job["attempts"]) for job in jobs] == [
        ("succeeded", 1),
        ("succeeded", 2),
    ]
