"""What goes wrong during the drill: SIGKILLs, webhook faults, API bursts, a blackout.

- **kills**: every ``kill_every`` seconds (±50%), a random web or worker process gets
  SIGKILL and is started again at once (in the background: the next kill does not wait
  for it to be ready, so several may be down at once — but never the last web process
  or the last worker that is up);
- **webhook faults** (sandbox control API), on for the whole chaos phase: 20% sent
  twice, 10% never sent, bursts reordered;
- **API bursts**: every few seconds the Partner and Messaging APIs answer 30% 429s and
  15% 5xx for a while, then nothing;
- **blackout**: once per hub, every webhook is dropped for a second (and with it whatever
  backlog the hub had), so some channels have *no* webhook at all and only
  reconciliation can find them;
- **database restarts**: the drill's own PostgreSQL is stopped at once (``pg_ctl stop -m
  immediate``: every connection cut) a few times, down 1 to 3 s each;
- **a flaky product**: its endpoint answers 503 to everything for a while, then 500 to
  some deliveries and too late (past onboard360's timeout) to a few, until 70% of the
  phase.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from onboard360.drill.postgres import PrivatePostgres
from onboard360.drill.processes import Child, Fleet

WEBHOOK_FAULTS: dict[str, Any] = {
    "webhook_duplicate_rate": 0.2,
    "webhook_drop_rate": 0.1,
    "webhook_reorder": True,
}
BURST_FAULTS: dict[str, Any] = {"api_429_rate": 0.3, "api_5xx_rate": 0.15}
CALM_API: dict[str, Any] = {"api_429_rate": 0.0, "api_5xx_rate": 0.0}
NO_FAULTS: dict[str, Any] = {
    "webhook_duplicate_rate": 0.0,
    "webhook_drop_rate": 0.0,
    "webhook_reorder": False,
    "webhook_delay_seconds": 0.0,
    **CALM_API,
    "api_latency_seconds": 0.0,
    "outage": False,
}
BURST_EVERY_SECONDS = 8.0
BURST_SECONDS = 3.0
BLACKOUT_SECONDS = 1.0
DATABASE_RESTARTS = 4
DATABASE_DOWN_SECONDS = (1.0, 3.0)
PRODUCT_OUTAGE_AT = 0.1  # of the chaos phase
PRODUCT_OUTAGE_SECONDS = 8.0
PRODUCT_FLAKY_UNTIL = 0.7  # of the chaos phase
PRODUCT_FLAKY: dict[str, Any] = {"fail_rate": 0.15, "hang_rate": 0.03, "hang_seconds": 3.0}


@dataclass
class Kill:
    at: float  # seconds since the chaos began
    name: str
    pid: int | None


@dataclass
class ChaosLog:
    kills: list[Kill] = field(default_factory=list)
    bursts: int = 0
    blackouts: list[str] = field(default_factory=list)
    unexpected_deaths: list[str] = field(default_factory=list)
    database_restarts: list[float] = field(default_factory=list)  # seconds down, each
    product_outages: int = 0


@dataclass
class Chaos:
    fleet: Fleet
    sandbox: httpx.AsyncClient  # the sandbox's control API
    partner_ids: list[str]
    rng: random.Random
    kill_every: float
    log: ChaosLog = field(default_factory=ChaosLog)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    began: float = field(default_factory=time.monotonic)
    restarting: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    database: PrivatePostgres | None = None  # restarted when the drill owns it
    product: httpx.AsyncClient | None = None  # the product's fault switch

    async def faults(self, patch: dict[str, Any], partner_ids: list[str] | None = None) -> None:
        for pid in partner_ids or self.partner_ids:
            answer = await self.sandbox.patch(f"/sandbox/hubs/{pid}/faults", json=patch)
            answer.raise_for_status()

    async def run(self, seconds_total: float) -> None:
        """Run every disturbance until ``stop`` is set."""
        self.began = time.monotonic()
        await self.faults(WEBHOOK_FAULTS)
        await asyncio.gather(
            self._every(self.kill_every, self._kill_one, jitter=True),
            self._every(BURST_EVERY_SECONDS, self._burst),
            self._blackouts(seconds_total),
            self._database_restarts(seconds_total),
            self._product_trouble(seconds_total),
        )

    async def calm(self, running: Awaitable[None]) -> None:
        """Stop ``running`` (this chaos's ``run``), then every fault off, every process up."""
        self.stop.set()
        await running  # a blackout or burst ending now must not switch a fault back on
        await self.faults(NO_FAULTS)
        await self._product_faults({})
        await asyncio.gather(*self.restarting.values())
        await self._revive()
        await asyncio.gather(*(child.wait_ready() for child in self.fleet.killable))

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; True when the chaos was stopped meanwhile."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=max(seconds, 0))
        except TimeoutError:
            return False
        return True

    async def _every(
        self, seconds: float, action: Callable[[], Awaitable[None]], *, jitter: bool = False
    ) -> None:
        while not await self._pause(seconds * (self.rng.uniform(0.5, 1.5) if jitter else 1)):
            await action()

    async def _revive(self) -> None:
        for name in await self.fleet.revive():
            self.log.unexpected_deaths.append(name)

    async def _kill_one(self) -> None:
        for child in self.fleet.killable:
            if child.name not in self.restarting and not child.alive():
                self.log.unexpected_deaths.append(child.name)
                self._restart(child)
        # Never the last one of its kind that is up: a whole tier down is an outage, not a
        # crash, and would only slow the drill down (the sandbox retries; clients wait).
        idle = [
            c for c in self.fleet.killable if c.name not in self.restarting and self._others_up(c)
        ]
        if not idle:
            return
        victim: Child = self.rng.choice(idle)
        self.log.kills.append(Kill(time.monotonic() - self.began, victim.name, victim.pid))
        victim.kill()
        self._restart(victim)

    def _others_up(self, child: Child) -> bool:
        kind = child.name.split("-")[0]
        return any(
            c is not child and c.name not in self.restarting and c.alive()
            for c in self.fleet.named(f"{kind}-")
        )

    def _restart(self, child: Child) -> None:
        async def restart() -> None:
            try:
                await self.fleet.restart(child)
            except RuntimeError as exc:  # it exited while starting: said in the verdict
                self.log.unexpected_deaths.append(f"{child.name} (restart: {exc})"[:300])
            finally:
                self.restarting.pop(child.name, None)

        self.restarting[child.name] = asyncio.create_task(restart(), name=f"restart {child.name}")

    async def _burst(self) -> None:
        self.log.bursts += 1
        await self.faults(BURST_FAULTS)
        await self._pause(BURST_SECONDS)
        await self.faults(CALM_API)

    async def _blackouts(self, seconds_total: float) -> None:
        """One blackout per hub, spread over the chaos phase."""
        for number, pid in enumerate(self.partner_ids, start=1):
            due = seconds_total * number / (len(self.partner_ids) + 1)
            if await self._pause(due - (time.monotonic() - self.began)):
                return
            self.log.blackouts.append(pid)
            await self.faults({"webhook_drop_rate": 1.0}, [pid])
            await self._pause(BLACKOUT_SECONDS)
            await self.faults({"webhook_drop_rate": WEBHOOK_FAULTS["webhook_drop_rate"]}, [pid])

    async def _database_restarts(self, seconds_total: float) -> None:
        """``DATABASE_RESTARTS`` restarts of the drill's PostgreSQL, spread over the phase."""
        if self.database is None:
            return
        for number in range(DATABASE_RESTARTS):
            due = seconds_total * 0.8 * (number + 0.5) / DATABASE_RESTARTS
            if await self._pause(due - (time.monotonic() - self.began)):
                return
            down = self.rng.uniform(*DATABASE_DOWN_SECONDS)
            await asyncio.to_thread(self.database.restart, down)
            self.log.database_restarts.append(round(down, 1))

    async def _product_trouble(self, seconds_total: float) -> None:
        """The product down for a while, then flaky until calm."""
        if self.product is None:
            return
        if await self._pause(seconds_total * PRODUCT_OUTAGE_AT):
            return
        self.log.product_outages += 1
        await self._product_faults({"status": 503})
        if await self._pause(PRODUCT_OUTAGE_SECONDS):
            return
        await self._product_faults(PRODUCT_FLAKY)
        # Well before calm: the deliveries' retries (5, 10, 20 s…) are done by then.
        flaky_until = seconds_total * PRODUCT_FLAKY_UNTIL
        if not await self._pause(flaky_until - (time.monotonic() - self.began)):
            await self._product_faults({})

    async def _product_faults(self, trouble: dict[str, Any]) -> None:
        if self.product is not None:
            (await self.product.post("/faults", json=trouble)).raise_for_status()
