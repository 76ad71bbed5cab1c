"""Every shipped scenario plays through against a real sandbox, onboard360 and worker over
HTTP (`onboard360 sandbox run NAME`); a wrong expectation fails naming its step."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from onboard360.cli.app import app
from onboard360.sandbox.cli_scenario import shipped
from tests.e2e.service_stack import worker_running
from tests.stack import PRODUCT_TOKEN, Stack, running_stack

runner = CliRunner()


@pytest.fixture
def stack(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The whole stack with a worker running, and the service's settings in the
    environment (the `sync` step runs `onboard360 sync` with them)."""
    with running_stack(database_url) as s, worker_running(s):
        for name, value in s.env().items():
            monkeypatch.setenv(name, value)
        yield s


def play(stack: Stack, scenario: str | Path, *extra: str) -> Result:
    return runner.invoke(
        app,
        [
            "sandbox",
            "run",
            str(scenario),
            "--url",
            stack.sandbox_url,
            "--service-url",
            stack.service_url,
            "--token",
            PRODUCT_TOKEN,
            *extra,
        ],
    )


@pytest.mark.parametrize("name", sorted(shipped()))
def test_shipped_scenario_passes(stack: Stack, name: str) -> None:
    result = play(stack, name)
    assert result.exit_code == 0, result.output
    assert "passed:" in result.stdout
