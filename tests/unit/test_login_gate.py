"""The dashboard's login gate: bounded attempts, bounded concurrency, bounded memory."""

from __future__ import annotations

import asyncio

from onboard360.web.dashboard.login_gate import GateLimits, LoginGate, SlidingWindowLimit


def test_the_limiter_forgets_the_least_recent_keys_beyond_its_bound() -> None:
    limiter = SlidingWindowLimit(limit=3, window=300, max_keys=100)
    for n in range(5_000):
        assert limiter.allow(f"203.0.113.{n}", now=1.0)
    assert len(limiter) == 100
    # The most recent keys are the ones kept, with their counts.
    assert [limiter.allow("203.0.113.4999", now=2.0) for _ in range(3)] == [True, True, False]


def test_the_limiter_allows_limit_per_window_per_key() -> None:
    limiter = SlidingWindowLimit(limit=2, window=10, max_keys=10)
    assert [limiter.allow("a", now=t) for t in (0, 1, 2)] == [True, True, False]
    assert limiter.allow("b", now=2)
    assert limiter.allow("a", now=10.5)  # the first attempt left the window


def test_the_gate_memory_stays_bounded_after_many_addresses() -> None:
    gate = LoginGate(GateLimits(max_keys=50))

    async def attempts() -> None:
        for n in range(2_000):
            async with gate.admit(f"198.51.100.{n}", f"user{n}@example.test") as admitted:
                assert admitted

    asyncio.run(attempts())
    assert len(gate.addresses) == 50
    assert len(gate.emails) == 50


async def _scenario(gate: LoginGate, logins: list[tuple[str, str]]) -> list[str]:
    """Start each (address, name) login in turn while none may finish; then the names
    checking their password (inside the gate) before any finished, in order."""
    release = asyncio.Event()
    checking: list[str] = []

    async def login(address: str, name: str) -> None:
        async with gate.admit(address, f"{name}@example.test") as admitted:
            if admitted:
                checking.append(name)
                await release.wait()

    tasks = []
    for address, name in logins:
        tasks.append(asyncio.create_task(login(address, name)))
        for _ in range(3):
            await asyncio.sleep(0)
    inside = list(checking)
    release.set()
    await asyncio.gather(*tasks)
    return [*inside, "|", *checking]


def test_the_gate_runs_at_most_concurrent_checks_and_refuses_beyond_its_queue() -> None:
    gate = LoginGate(GateLimits(concurrent=2, waiting=2, per_address=5))
    logins = [(f"192.0.2.{n}", f"u{n}") for n in range(5)]
    seen = asyncio.run(_scenario(gate, logins))
    # u0, u1 check at once; u2, u3 wait and check after; u4 found the queue full.
    assert seen == ["u0", "u1", "|", "u0", "u1", "u2", "u3"]


def test_one_address_has_at_most_per_address_logins_in_flight() -> None:
    gate = LoginGate(GateLimits(concurrent=10, per_address=2))
    logins = [("192.0.2.1", "a"), ("192.0.2.1", "b"), ("192.0.2.1", "c"), ("192.0.2.2", "d")]
    seen = asyncio.run(_scenario(gate, logins))
    assert seen == ["a", "b", "d", "|", "a", "b", "d"]
    # Once they finished, the address may log in again, and nothing is left behind.
    assert asyncio.run(_scenario(gate, [("192.0.2.1", "e")])) == ["e", "|", "e"]
