"""`onboard360 endpoint …` and `onboard360 events replay` as real processes on a stack."""

from __future__ import annotations

import pytest

from tests.integration.dashboard_http import onboarded, sql
from tests.integration.test_cli_service import cli
from tests.stack import Stack


def dead_events(stack: Stack) -> list[str]:
    stack.product.default_status = 500
    onboarded(stack, "pp")
    stack.product.default_status = 200
    rows = sql(stack, "SELECT id FROM product_events WHERE failed_at IS NOT NULL ORDER BY id")
    assert rows
    return [row.id for row in rows]


def ok(stack: Stack, *args: str) -> str:
    result = cli(stack, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_disable_and_enable_round_trip_holds_then_sends_the_events(stack: Stack) -> None:
    assert ok(stack, "endpoint", "status", "--product", "default") == (
        "default: enabled; 0 pending, 0 failed event(s)"
    )
    assert ok(stack, "endpoint", "disable", "-p", "default", "--reason", "deploying") == (
        "default: disabled"
    )
    again = ok(stack, "endpoint", "disable", "-p", "default")
    assert again == "default: disabled already (nothing changed)"
    onboarded(stack, "pp")
    assert stack.product.requests() == []
    status = ok(stack, "endpoint", "status", "-p", "default")
    assert "disabled since" in status
    assert "by cli: deploying" in status
    (held,) = sql(stack, "SELECT count(*) AS n FROM product_events")

    assert ok(stack, "endpoint", "enable", "-p", "default") == (
        f"default: enabled; {held.n} pending event(s) queued"
    )
    assert ok(stack, "endpoint", "enable", "-p", "default") == (
        "default: enabled already (nothing changed)"
    )
    stack.drain()
    assert len(stack.product.requests()) == held.n
    audited = sql(stack, "SELECT action, detail->>'by' AS by FROM audit_log ORDER BY id")
    assert [(r.action, r.by) for r in audited] == [
        ("endpoint-disable", "cli"),
        ("endpoint-disable", "cli"),
        ("endpoint-enable", "cli"),
        ("endpoint-enable", "cli"),
    ]


def test_replay_queues_failed_events_once(stack: Stack) -> None:
    dead = dead_events(stack)
    assert ok(stack, "events", "replay", "-p", "default") == f"{len(dead)} event(s) queued"
    assert ok(stack, "events", "replay", "-p", "default", "--status", "undelivered") == (
        "0 event(s) queued"
    )
    assert ok(stack, "events", "replay", "-p", "default", "--event", dead[0]) == (
        f"{dead[0]}: already queued (nothing changed)"
    )
    stack.drain()
    ids = [r.headers["webhook-id"] for r in stack.product.requests()]
    assert all(ids.count(event) == 4 for event in dead)  # 3 failed attempts + the replay


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--product", "nope"), 2, "no product named 'nope' is configured"),
        (("--status", "dead"), 2, "--status must be failed, undelivered or all"),
        (("--type", "channel.exploded"), 2, "--type must be one of"),
        (("--channel", "../x"), 2, "--channel is not a valid id"),
        (("--since", "yesterday"), 2, "--since is not an ISO 8601 time"),
        (("--since", "2024-05-01T00:00:00"), 2, "--since needs a UTC offset"),
        (("--since", "2000-01-01T00:00Z", "--until", "2024-01-01T00:00Z"), 2, "more than 90"),
        (("--event", "msg_nope"), 2, "--event is not an event id"),
        (("--event", "msg_" + "0" * 32), 1, "product default has no event msg_000"),
    ],
)
def test_replay_refuses_bad_input_with_one_line(
    stack: Stack, args: tuple[str, ...], code: int, message: str
) -> None:
    extra = () if "--product" in args else ("--product", "default")
    result = cli(stack, "events", "replay", *extra, *args)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    (jobs,) = sql(stack, "SELECT count(*) AS n FROM procrastinate_jobs")
    assert jobs.n == 0


def test_replay_while_disabled_says_to_enable_first(stack: Stack) -> None:
    dead = dead_events(stack)
    ok(stack, "endpoint", "disable", "-p", "default")
    result = cli(stack, "events", "replay", "-p", "default", "--event", dead[0])
    assert result.returncode == 1
    assert "enable it first" in result.stderr
    (queued,) = sql(stack, "SELECT count(*) AS n FROM procrastinate_jobs WHERE status = 'todo'")
    assert queued.n == 0
