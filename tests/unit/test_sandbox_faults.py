"""Fault decisions (faults.py), without HTTP and without waiting."""

from __future__ import annotations

import asyncio
import random

import pytest

from onboard360.hub import platform as p
from onboard360.sandbox.faults import (
    HubOutage,
    RateLimited,
    ServerFault,
    apply_faults,
    fault_for,
)
from onboard360.sandbox.models import Faults
from tests import sandbox_fixtures as sf


def test_no_faults_answer_normally_and_draw_nothing() -> None:
    rng = random.Random(3)
    state = rng.getstate()
    assert fault_for(Faults(), rng) is None
    assert rng.getstate() == state


def test_outage_wins_over_every_rate() -> None:
    faults = Faults(outage=True, api_429_rate=1.0, api_5xx_rate=1.0)
    assert isinstance(fault_for(faults, random.Random(1)), HubOutage)


def test_rate_limit_carries_retry_after() -> None:
    fault = fault_for(Faults(api_429_rate=1.0, api_retry_after_seconds=9), random.Random(1))
    assert isinstance(fault, RateLimited)
    assert (fault.status, fault.headers) == (429, {"Retry-After": "9"})


def test_server_fault_is_one_of_the_platforms_5xx() -> None:
    rng = random.Random(1)
    faults = [fault_for(Faults(api_5xx_rate=1.0), rng) for _ in range(30)]
    assert all(isinstance(f, ServerFault) for f in faults)
    assert {f.status for f in faults if f} == set(p.API_5XX_STATUSES)


def test_same_seed_gives_the_same_answers() -> None:
    faults = Faults(api_429_rate=0.4, api_5xx_rate=0.4)

    def run(seed: int) -> list[int]:
        rng = random.Random(seed)
        return [(f.status if (f := fault_for(faults, rng)) else 200) for _ in range(50)]

    assert run(5) == run(5)


def test_latency_waits_before_answering() -> None:
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    hub = sf.new_sandbox().create_hub(sf.hub_spec(faults=Faults(api_latency_seconds=2.5)))
    asyncio.run(apply_faults(hub, random.Random(1), sleep=fake_sleep))
    assert waits == [2.5]


def test_apply_faults_raises_the_decided_fault() -> None:
    hub = sf.new_sandbox().create_hub(sf.hub_spec(faults=Faults(outage=True)))
    with pytest.raises(HubOutage):
        asyncio.run(apply_faults(hub, random.Random(1)))
