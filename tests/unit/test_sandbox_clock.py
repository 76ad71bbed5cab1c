"""The sandbox's one clock (sandbox/clock.py): sped up, moved forward, and its waits."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from onboard360.runtime.clock import MovableClock, parse_duration

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_durations() -> None:
    assert [parse_duration(d) for d in ("500ms", "30s", "1.5m", "2h", "1d")] == [
        0.5,
        30,
        90,
        7200,
        86400,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("2 hours")


def test_at_speed_one_the_clock_reads_its_wall_clock() -> None:
    ticks = FakeMonotonic()
    clock = MovableClock(lambda: T0, ticks)
    ticks.now += 50
    assert clock() == T0


def test_speed_and_advance_move_time_forward() -> None:
    ticks = FakeMonotonic()
    clock = MovableClock(lambda: T0 + timedelta(seconds=ticks.now - 100), ticks)
    clock.set_speed(60)
    ticks.now += 10  # ten real seconds: ten minutes of sandbox time
    assert clock() == T0 + timedelta(minutes=10)
    clock.advance(7200)
    assert clock() == T0 + timedelta(hours=2, minutes=10)
    assert clock.wall() == T0 + timedelta(seconds=10)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)


def test_advance_ends_a_wait_at_once() -> None:
    clock = MovableClock()

    async def scenario() -> float:
        began = time.monotonic()
        sleeper = asyncio.create_task(clock.sleep(3600))
        await asyncio.sleep(0.05)
        clock.advance(3600)
        await asyncio.wait_for(sleeper, 2)
        return time.monotonic() - began

    assert asyncio.run(scenario()) < 1


def test_speed_shortens_a_wait() -> None:
    clock = MovableClock()
    clock.set_speed(100)

    async def scenario() -> float:
        began = time.monotonic()
        await clock.sleep(20)  # 0.2 real seconds
        return time.monotonic() - began

    assert 0.15 < asyncio.run(scenario()) < 1.5
