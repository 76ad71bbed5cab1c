"""Failpoints and the worker's liveness settings, without I/O."""

from __future__ import annotations

import pytest

from onboard360.config.settings import ConfigError, load_settings
from onboard360.runtime import failpoints


@pytest.mark.parametrize(
    ("armed", "expected"),
    [
        ("", False),
        ("key.generated", True),
        ("other, key.generated", True),
        ("key.generated.later", False),
        ("key", False),
    ],
)
def test_failpoint_is_armed_only_by_its_exact_name(
    monkeypatch: pytest.MonkeyPatch, armed: str, expected: bool
) -> None:
    monkeypatch.setenv(failpoints.ENV_VAR, armed)
    assert failpoints.armed(failpoints.KEY_GENERATED) is expected


def test_an_unarmed_failpoint_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(failpoints.ENV_VAR, raising=False)
    failpoints.hit(failpoints.KEY_GENERATED)


def test_a_live_worker_missing_one_heartbeat_never_looks_dead() -> None:
    with pytest.raises(ConfigError, match="stalled_worker_seconds"):
        load_settings(worker_heartbeat_seconds=10, stalled_worker_seconds=15)
    settings = load_settings(worker_heartbeat_seconds=0.2, stalled_worker_seconds=1)
    assert settings.stalled_worker_seconds == 1
