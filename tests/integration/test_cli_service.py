"""The service's CLI commands against a running stack: rotate-key, and refusals."""

from __future__ import annotations

import subprocess

from tests.cli_process import run_onboard360
from tests.integration.dashboard_http import sql
from tests.stack import Stack


def cli(
    stack: Stack, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_onboard360(*args, env={**stack.env(), **(extra_env or {})}, timeout=60)


def live_channel(stack: Stack) -> str:
    channel = stack.redirect_running_channel()
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 1
    return channel


def test_rotate_key_makes_exactly_one_more_key(stack: Stack) -> None:
    channel = live_channel(stack)
    result = cli(stack, "rotate-key", channel)
    assert result.returncode == 0, result.stderr
    assert "key #2" in result.stdout
    stack.settle()
    assert stack.sandbox.channel(channel).keys_generated == 2
    events = [e["type"] for e in stack.product_events()]
    assert events.count("channel.key_rotated") == 1


def test_rotate_key_of_unknown_channel_is_one_clear_line(stack: Stack) -> None:
    result = cli(stack, "rotate-key", "NOSUCHCHANNEL")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no such channel"


def test_serve_refuses_to_start_without_encryption_keys(stack: Stack) -> None:
    result = cli(stack, "serve", extra_env={"ONBOARD360_ENCRYPTION_KEYS": "[]"})
    assert result.returncode == 2
    assert "encryption_keys is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_refuses_a_malformed_encryption_key_without_echoing_it(stack: Stack) -> None:
    result = cli(stack, "worker", extra_env={"ONBOARD360_ENCRYPTION_KEYS": '["not-a-fernet-key"]'})
    assert result.returncode == 2
    assert "not-a-fernet-key" not in result.stderr
    assert "Traceback" not in result.stderr


def test_sync_command_reports_what_it_did(stack: Stack) -> None:
    stack.sandbox_hub("pp").faults.webhook_drop_rate = 1.0
    client = stack.sandbox.create_client(stack.hub("pp").partner_id, "Lost", "l@example.test")
    stack.sandbox.create_channel(client.id, "+4917000000001")
    result = cli(stack, "sync", "--hub", "pp", "--page-size", "10")
    assert result.returncode == 0, result.stderr
    assert "pp: 1 channels, 1 changed" in result.stdout
    assert "1 API calls" in result.stdout


def test_sync_of_an_unknown_hub_is_refused(stack: Stack) -> None:
    result = cli(stack, "sync", "--hub", "nope")
    assert result.returncode == 2
    assert "no hub named 'nope'" in result.stderr


def test_a_cli_rotation_shows_cli_on_the_timeline(stack: Stack) -> None:
    channel = live_channel(stack)
    assert cli(stack, "rotate-key", channel).returncode == 0
    sources = sql(
        stack,
        "SELECT source FROM timeline WHERE channel_id = :c AND kind = 'KeyRotationRequested'",
        c=channel,
    )
    assert [row.source for row in sources] == ["cli"]
