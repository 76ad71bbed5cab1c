"""How many keys one run checks: its even share of the period, never over the rate."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from onboard360.config.settings import Settings
from onboard360.jobs.key_health import batch_size


def test_each_run_checks_its_share_of_the_period() -> None:
    # 100,000 live channels, a run every 10 minutes, each key once a day: 144 runs.
    assert batch_size(100_000, 10, 24, rate=5) == 695
    assert batch_size(100_000, 10, 24, rate=5) * 144 >= 100_000


def test_a_few_channels_still_get_checked() -> None:
    assert batch_size(1, 10, 24, rate=5) == 1
    assert batch_size(0, 10, 24, rate=5) == 0


def test_the_rate_caps_a_run() -> None:
    # 1 call per second fits 600 calls in a 10-minute run, whatever the share asks.
    assert batch_size(1_000_000, 10, 24, rate=1) == 600


def test_the_run_interval_divides_an_hour() -> None:
    assert Settings(key_check_every_minutes=15).key_check_cron == "*/15 * * * *"
    assert Settings(key_check_every_minutes=60).key_check_cron == "0 * * * *"
    assert Settings(key_check_every_minutes=0).key_check_cron == ""
    with pytest.raises(ValidationError):
        Settings(key_check_every_minutes=7)
