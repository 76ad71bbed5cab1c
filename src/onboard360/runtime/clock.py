"""One clock that tests can move: real time, sped up or pushed forward.

Two users, one abstraction:

- **the sandbox** (``Sandbox.clock``): every timestamp it writes and every wait it makes —
  the step delay between a channel's lifecycle statuses, a webhook's retry backoff, the
  delay fault — read its own ``MovableClock``. ``speed`` runs it N times faster
  (``onboard360 sandbox run --speed 60``: a minute of backoff passes in a second);
  ``advance(seconds)`` jumps it forward (a scenario's ``advance = "2h"``) and ends every
  wait whose end is now past. Mutated only from the sandbox's event loop.
- **onboard360's own timers** (onboarding expiry and what is measured against it) read
  ``now()`` here: the wall clock, unless the service is configured for tests with
  ``test_clock_url``; then it follows how far the sandbox's clock is ahead
  (wiring/service.py polls it), so an ``advance`` expires onboardings too, and the jobs
  waiting for a retry move as far earlier (migration 0020), so their backoff passes too.
  Periodic jobs (the abandonment sweep, key checks) keep their wall-clock schedule: a
  test runs them itself (``onboard360 abandon``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_SPEED = 10_000.0


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_duration(text: str) -> float:
    """``"2h"``, ``"30s"``, ``"1.5m"``, ``"500ms"``, ``"1d"`` in seconds (ValueError if not)."""
    match = DURATION_RE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write e.g. 500ms, 30s, 5m, 2h or 1d")
    return float(match[1]) * UNIT_SECONDS[match[2]]


class MovableClock:
    """Real time, sped up by ``speed`` and pushed forward by ``advance``; callable as ``now``.

    ``now`` is the underlying wall clock (tests pass a fixed one); at speed 1 with nothing
    advanced the clock reads exactly ``now()``.
    """

    def __init__(
        self,
        now: Callable[[], datetime] = now_utc,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._now = now
        self._monotonic = monotonic
        self.speed = 1.0
        # Virtual seconds beyond real time: jumps, and what the speed added up to _since.
        self._skipped = 0.0
        self._since = monotonic()
        self._changed: asyncio.Event | None = None

    def _extra(self) -> float:
        return self._skipped + (self.speed - 1.0) * (self._monotonic() - self._since)

    def __call__(self) -> datetime:
        return self._now() + timedelta(seconds=self._extra())

    def wall(self) -> datetime:
        """Real time, as the partner's own servers read it (not sped up, not advanced)."""
        return self._now()

    def ticks(self) -> float:
        """A monotonic reading in the clock's own seconds (for waits)."""
        return self._monotonic() + self._extra()

    def set_speed(self, speed: float) -> None:
        if not 0 < speed <= MAX_SPEED:
            raise ValueError(f"speed must be above 0 and at most {MAX_SPEED:g}")
        self._skipped = self._extra()
        self._since = self._monotonic()
        self.speed = float(speed)
        self._wake()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._skipped += seconds
        self._wake()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock: shorter when sped up, cut short by ``advance``."""
        deadline = self.ticks() + seconds
        while (remaining := deadline - self.ticks()) > 0:
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining / self.speed)

    def follow(self, ahead_seconds: float) -> None:
        """Be ``ahead_seconds`` ahead of real time from now on, at real speed (a clock that
        follows another one, read from its ``view``)."""
        self._skipped = max(0.0, ahead_seconds)
        self._since = self._monotonic()
        self.speed = 1.0
        self._wake()

    def _wake(self) -> None:
        """Let every waiter look at the clock again."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def view(self) -> dict[str, object]:
        moment = self().isoformat().replace("+00:00", "Z")
        return {"now": moment, "speed": self.speed, "ahead_seconds": round(self._extra(), 3)}


# onboard360's own time (not the sandbox's): see the module's docstring.
SERVICE_CLOCK = MovableClock()


def now() -> datetime:
    """What time it is for onboard360's timers (the wall clock, unless following a test
    clock)."""
    return SERVICE_CLOCK()
