"""`onboard360 abandon` as an operator runs it: the abandonment sweep now, in a real
process, its "now" the test clock's when the service follows one; `--dry-run` writes
nothing."""

from __future__ import annotations

import subprocess

from tests.cli_process import run_onboard360
from tests.integration.abandon_http import (
    advance_sandbox_clock,
    announced,
    marks,
    stored_events,
)
from tests.integration.service_http import rows
from tests.stack import Stack

ANNOUNCED_ONE = "marked 1 onboarding(s) abandoned, 1 announced with onboarding.abandoned"


def abandon(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_onboard360("abandon", *args, env={**stack.env(), **env}, timeout=60)


def test_abandon_sweeps_by_the_test_clock_once_and_dry_run_writes_nothing(
    clocked: Stack,
) -> None:
    created = clocked.start_onboarding("pp", "crm-user-7", email="owner@shop.test")

    early = abandon(clocked)
    assert early.returncode == 0, early.stderr
    assert "marked 0 onboarding(s) abandoned, 0 announced" in early.stdout  # not expired yet

    # Two hours on the sandbox's clock, none on the wall clock: the command reads the former.
    advance_sandbox_clock(clocked, 2 * 3600)
    dry = abandon(clocked, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == (
        "would mark 1 onboarding(s) abandoned, 1 announced with onboarding.abandoned"
    )
    assert marks(clocked) == []
    assert stored_events(clocked) == []

    done = abandon(clocked)
    again = abandon(clocked)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ANNOUNCED_ONE
    assert again.stdout.strip() == (
        "marked 0 onboarding(s) abandoned, 0 announced with onboarding.abandoned"
    )
    ((mark,),) = [marks(clocked)]
    assert (mark["id"], mark["abandoned_step"], mark["abandoned_reason"]) == (
        created["id"],
        "started",
        "popup_not_opened",
    )
    assert len(stored_events(clocked)) == 1
    (event,) = announced(clocked)
    assert (event["data"]["onboarding_id"], event["data"]["step"]) == (created["id"], "started")
    lines = rows(clocked, "SELECT kind, source FROM timeline WHERE kind = 'onboarding_abandoned'")
    assert lines == [{"kind": "onboarding_abandoned", "source": "abandon_sweep"}]


def test_abandon_without_the_test_clock_keeps_to_the_wall_clock(clocked: Stack) -> None:
    """The same stack, the command not told of the test clock: two hours ahead at the
    sandbox are nothing to it, and it marks nothing."""
    clocked.start_onboarding("pp", "crm-user-8")
    advance_sandbox_clock(clocked, 2 * 3600)
    env = {k: v for k, v in clocked.env().items() if k != "ONBOARD360_TEST_CLOCK_URL"}

    done = run_onboard360("abandon", env=env, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "marked 0 onboarding(s) abandoned" in done.stdout
    assert marks(clocked) == []
