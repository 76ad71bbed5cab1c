"""Retries follow the test clock: moving the sandbox's clock ahead moves every job waiting
for a later time as far earlier (migration 0020), once, whichever processes follow it."""

from __future__ import annotations

from typing import Any

from tests.cli_process import run_onboard360
from tests.integration.abandon_http import advance_sandbox_clock
from tests.integration.service_http import execute, rows
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack

# A retry waiting an hour, one waiting three hours, and one job due now (left alone).
WAITING = """
INSERT INTO procrastinate_jobs (queue_name, task_name, lock, args, status, attempts,
  scheduled_at)
VALUES ('default', 'deliver_product_event', 'in-1h', '{}', 'todo', 1, now() + interval '1 hour'),
       ('default', 'deliver_product_event', 'in-3h', '{}', 'todo', 1, now() + interval '3 hours'),
       ('default', 'deliver_product_event', 'due', '{}', 'todo', 0, NULL)
"""


def due_in(stack: Stack) -> dict[str, Any]:
    """Seconds until each job is due (0 when it is; None when it never waited)."""
    found = rows(
        stack,
        "SELECT lock, CASE WHEN scheduled_at IS NOT NULL THEN"
        " greatest(0, extract(epoch FROM scheduled_at - now()))::float8 END AS s"
        " FROM procrastinate_jobs WHERE lock IN ('in-1h', 'in-3h', 'due')",
    )
    return {row["lock"]: row["s"] for row in found}


def test_moving_the_clock_brings_waiting_retries_due_once(clocked: Stack) -> None:
    execute(clocked, WAITING)
    advance_sandbox_clock(clocked, 2 * 3600)

    def moved() -> bool:
        return due_in(clocked)["in-1h"] == 0

    wait_until(moved, what="the hour-long retry to be due by the test clock")
    after = due_in(clocked)
    assert 3500 < after["in-3h"] < 3600  # two hours earlier: still an hour to go
    assert after["due"] is None
    assert rows(clocked, "SELECT ahead_seconds FROM test_clock")[0]["ahead_seconds"] >= 7200

    # Another process following the same clock (a command, a second worker) moves nothing
    # again.
    done = run_onboard360("abandon", "--dry-run", env=clocked.env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert 3500 < due_in(clocked)["in-3h"] < 3600


def test_without_a_test_clock_nothing_moves(stack: Stack) -> None:
    execute(stack, WAITING)
    advance_sandbox_clock(stack, 2 * 3600)  # the service does not follow this sandbox
    done = run_onboard360("abandon", "--dry-run", env=stack.env(), timeout=60)
    assert done.returncode == 0, done.stderr
    waits = due_in(stack)
    assert 3500 < waits["in-1h"] <= 3600
    assert rows(stack, "SELECT ahead_seconds FROM test_clock")[0]["ahead_seconds"] == 0
