"""`onboard360 sandbox clock` moves the sandbox's one clock (lifecycle step delays end
sooner), and `onboard360 sandbox listen` prints partner webhooks as they are sent."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from onboard360.cli.app import app
from tests.sandbox_fixtures import (
    create_hub,
    hub_with_channel,
    running_sandbox,
    running_sink,
    wait_until,
)

runner = CliRunner()


@pytest.fixture
def base() -> Iterator[str]:
    with running_sandbox() as url:
        yield url


def clock(base: str, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["sandbox", "clock", "--url", base, *args])
    assert result.exit_code == 0, result.output
    view: dict[str, object] = json.loads(result.stdout)
    return view


def test_advance_moves_a_waiting_channel_through_its_step_delays_at_once(base: str) -> None:
    """A channel with an hour between its lifecycle steps is running right after the clock
    is moved two hours forward."""
    with running_sink() as (_sink, url):
        _hub, channel = hub_with_channel(base, webhook_url=url, step_delay_seconds=3600)
        assert channel["status"] == "pending"
        view = clock(base, "--advance", "1h")
        assert float(str(view["ahead_seconds"])) >= 3600
        time.sleep(0.3)
        clock(base, "--advance", "1h")
        deadline = time.monotonic() + 5
        status = ""
        while time.monotonic() < deadline and status != "running":
            status = runner.invoke(app, ["sandbox", "deliveries", "--url", base]).stdout
            status = "running" if '"channel_running"' in status else ""
            time.sleep(0.1)
        assert status == "running"


def test_speed_is_shown_and_a_bad_duration_is_one_error(base: str) -> None:
    assert clock(base, "--speed", "60")["speed"] == 60.0
    assert clock(base)["speed"] == 60.0
    result = runner.invoke(app, ["sandbox", "clock", "--url", base, "--advance", "2 hours"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --advance: '2 hours' is not a duration")


def test_listen_prints_webhooks_as_they_are_sent_and_not_before(base: str) -> None:
    with running_sink() as (_sink, url):
        hub = create_hub(base, redirect_url="http://127.0.0.1:9/x", webhook_url=url)
        runner.invoke(
            app, ["sandbox", "create-client", hub["partner_id"], "--url", base, "--name", "Old"]
        )

        def later() -> None:
            time.sleep(0.6)
            runner.invoke(
                app, ["sandbox", "create-client", hub["partner_id"], "--url", base, "--name", "New"]
            )

        thread = threading.Thread(target=later)
        thread.start()
        result = runner.invoke(app, ["sandbox", "listen", "--url", base, "--for", "2"])
        thread.join()
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, lines  # the earlier client_created is not printed again
    assert " webhook  client_created " in lines[0]
    assert lines[0].endswith("-> delivered 200")


def test_trigger_sends_extra_payload_fields(base: str) -> None:
    with running_sink() as (sink, url):
        _hub, channel = hub_with_channel(base, webhook_url=url)
        result = runner.invoke(
            app,
            [
                "sandbox",
                "trigger",
                channel["id"],
                "template_messaging_disabled",
                "--url",
                base,
                "--field",
                "reason=quality",
                "--field",
                "tier=2",
            ],
        )
        assert result.exit_code == 0, result.output
        body = wait_until(
            lambda: next(
                (r.json() for r in sink.requests() if r.event == "template_messaging_disabled"),
                None,
            ),
            what="the triggered webhook",
        )
    assert (body["payload"]["reason"], body["payload"]["tier"]) == ("quality", 2)
    assert body["payload"]["id"] == channel["id"]
    bad = runner.invoke(
        app,
        ["sandbox", "trigger", channel["id"], "account_violation", "--url", base, "--field", "x"],
    )
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: --field must look like name=value, not 'x'"
