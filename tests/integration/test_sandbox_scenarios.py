"""Every shipped scenario plays through against a real sandbox, onboard360 and worker over
HTTP (`onboard360 sandbox run NAME`); a wrong expectation fails naming its step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from onboard360.cli.app import app
from onboard360.runtime.serving import free_port
from onboard360.sandbox.cli_scenario import shipped
from tests.e2e.service_stack import worker_running
from tests.stack import PRODUCT_TOKEN, Stack, running_stack

runner = CliRunner()


@pytest.fixture
def stack(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The whole stack with a worker running, onboard360's clock following the sandbox's,
    and the service's settings in the environment (the `sync` step runs `onboard360 sync`
    with them)."""
    port = free_port()
    clock_url = f"http://127.0.0.1:{port}/sandbox/clock"
    with (
        running_stack(database_url, sandbox_port=port, test_clock_url=clock_url) as s,
        worker_running(s),
    ):
        for name, value in s.env().items():
            monkeypatch.setenv(name, value)
        yield s


def target(stack: Stack) -> list[str]:
    """The sandbox, and onboard360 with the product's token."""
    return [
        "--url",
        stack.sandbox_url,
        "--service-url",
        stack.service_url,
        "--token",
        PRODUCT_TOKEN,
    ]


def play(stack: Stack, scenario: str | Path, *extra: str) -> Result:
    return runner.invoke(app, ["sandbox", "run", str(scenario), *target(stack), *extra])


@pytest.mark.parametrize("name", sorted(shipped()))
def test_shipped_scenario_passes(stack: Stack, name: str) -> None:
    result = play(stack, name)
    assert result.exit_code == 0, result.output
    assert "passed:" in result.stdout


def test_a_wrong_expectation_fails_naming_its_step(stack: Stack, tmp_path: Path) -> None:
    text = (shipped()["partner-payment-happy-path"]).read_text()
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace("keys_generated = 1 }", 'keys_generated = 2 }\nwithin = "1s"'))
    headers = [n for n, row in enumerate(text.splitlines(), 1) if row == "[[steps]]"]
    result = play(stack, wrong)
    assert result.exit_code == 1, result.output
    failure = result.stdout.strip().splitlines()[-1]
    assert failure.startswith(f"FAILED step 5 (expect_sandbox, line {headers[4]}): "), failure
    assert "expected the sandbox's channel" in failure
    assert "within 1s; saw" in failure
    assert "{'status': 'running', 'keys_generated': 2}" in failure
    assert "saw status='running', keys_generated=1" in failure
    assert "[6/6]" not in result.stdout  # it stopped there


def test_a_malformed_file_runs_nothing(stack: Stack, tmp_path: Path) -> None:
    """The first step would create a client; the third is wrong: one error, no client."""
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f"""
[[steps]]
do = "create_client"
as = "shop"
partner_id = "{stack.hub("pp").partner_id}"

[[steps]]
do = "create_channel"
client = "$shop.id"

[[steps]]
do = "status"
channel = "$shop.channel"
status = "running"
"""
    )
    result = play(stack, bad)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"error: {bad}:13: step 3 (status): channel: $shop.channel: 'shop' has no output "
        "'channel'; it has email, id"
    )
    assert stack.sandbox.clients == {}


def test_speed_runs_the_sandbox_clock_faster_for_the_run_only(stack: Stack) -> None:
    result = play(stack, "partner-payment-happy-path", "--speed", "50")
    assert result.exit_code == 0, result.output
    assert "sandbox clock at 50x" in result.stdout
    assert stack.sandbox.clock.speed == 1.0


def test_listen_with_the_service_prints_webhooks_and_product_events(stack: Stack) -> None:
    assert play(stack, "partner-payment-happy-path").exit_code == 0
    result = runner.invoke(app, ["sandbox", "listen", *target(stack), "--past", "--for", "0"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    webhooks = [line.split()[2] for line in lines if " webhook " in line]
    products = [line.split()[2] for line in lines if " product " in line]
    assert webhooks[:2] == ["client_created", "channel_created"]
    assert "channel_running" in webhooks
    assert products[0] == "onboarding.started"
    assert "channel.activated" in products


def test_an_unreachable_sandbox_fails_the_first_step_in_one_line(tmp_path: Path) -> None:
    story = tmp_path / "story.toml"
    story.write_text('[[steps]]\ndo = "status"\nchannel = "A1CH"\nstatus = "running"\n')
    result = runner.invoke(app, ["sandbox", "run", str(story), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("FAILED step 1 (status, line 1): the sandbox: cannot reach the sandbox")
    assert "Traceback" not in result.output


def test_every_shipped_scenario_passes_on_hubs_that_advance_by_themselves_sped_up(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partner's usual sandbox: new channels move to running on their own, two seconds
    per step, here at 20× speed; all the shipped scenarios, one after another."""
    port = free_port()
    clock_url = f"http://127.0.0.1:{port}/sandbox/clock"
    options = {"auto_advance": True, "step_delay_seconds": 2.0}
    with (
        running_stack(
            database_url, sandbox_port=port, test_clock_url=clock_url, hub_options=options
        ) as s,
        worker_running(s),
    ):
        for name, value in s.env().items():
            monkeypatch.setenv(name, value)
        for name in sorted(shipped()):
            result = play(s, name, "--speed", "20")
            assert result.exit_code == 0, result.output


def test_a_person_who_leaves_the_popup_leaves_nothing_at_360dialog(
    stack: Stack, tmp_path: Path
) -> None:
    """`leave_at` (the step kind an abandonment story builds on): the first popup is given
    up on its numbers page, nothing reaches 360dialog; a second one goes all the way."""
    story = tmp_path / "story.toml"
    story.write_text(
        """
[[steps]]
do = "popup"
as = "left"
hub = "pp"
user = "leaver"
numbers = ["+4915199990001"]
leave_at = "numbers"
cancel = true

[[steps]]
do = "popup"
as = "again"
hub = "pp"
user = "leaver"
numbers = ["+4915199990001"]
"""
    )
    result = play(stack, story)
    assert result.exit_code == 0, result.output
    assert "cancels at numbers" in result.stdout
    (client,) = stack.sandbox.clients.values()  # only the second popup made one
    left, again = [
        line.split("onboarding=")[1].split()[0]
        for line in result.stdout.splitlines()
        if "onboarding=" in line
    ]
    assert stack.api.get(f"/api/v1/onboardings/{left}").json()["redirected_at"] is None
    assert stack.api.get(f"/api/v1/onboardings/{again}").json()["client_id"] == client.id


def test_the_abandoned_and_resumed_story_leaves_one_journey_and_one_announcement(
    stack: Stack,
) -> None:
    """What the shipped story leaves behind: the first attempt marked abandoned at its
    first step, announced once; the resumed one live in its journey; the client signed
    up at 360dialog with the email the first attempt was prefilled with."""
    result = play(stack, "abandoned-and-resumed")
    assert result.exit_code == 0, result.output
    run_id = result.stdout.split("run ")[1].split(")")[0]

    listed = stack.api.get(
        "/api/v1/onboardings", params={"external_user_id": f"resumer-{run_id}"}
    ).json()["data"]
    first, again = sorted(listed, key=lambda o: o["created_at"])
    assert (first["abandoned_step"], first["abandoned_reason"]) == ("started", "popup_not_opened")
    assert (again["journey_id"], again["resumed_from"]) == (first["id"], first["id"])
    assert (again["stage"], again["abandoned_at"]) == ("live", None)
    (client,) = stack.sandbox.clients.values()
    assert client.id == again["client_id"]
    assert client.email == f"resumer-{run_id}@example.com"
    abandoned = [e for e in stack.product_events() if e["type"] == "onboarding.abandoned"]
    assert [e["data"]["onboarding_id"] for e in abandoned] == [first["id"]]
