"""What a login may cost this process: bounded attempts, bounded concurrency, bounded memory.

A login's price is one argon2 verification — tens of milliseconds of CPU and 64 MiB of
memory, on purpose. Without bounds, a burst of logins (60 at once, each with another
email) once took every pooled database connection and slowed the product API from
0.02 s to 3.2 s. So, in each web process:

- at most ``concurrent`` verifications run at once; a few more may wait their turn, and
  beyond that a login is refused at once (it costs nothing);
- one client address has at most ``per_address`` logins in flight, and ``address_attempts``
  attempts per ``window``; one email has ``email_attempts`` per ``window``;
- the attempt records are LRU-bounded (``max_keys`` each): a flood of distinct addresses
  or emails evicts the least recently seen, and never grows memory without bound.

A refusal here looks exactly like a wrong password (auth.py). The account lockout
(accounts.py) is the durable limit, shared by every web process.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


class SlidingWindowLimit:
    """At most ``limit`` events per key per ``window`` seconds, for at most ``max_keys``
    keys (least recently seen forgotten first)."""

    def __init__(self, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        recent = self._seen.get(key)
        if recent is None:
            recent = self._seen[key] = deque()
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
        self._seen.move_to_end(key)
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) >= self.limit:
            return False
        recent.append(now)
        return True


@dataclass(frozen=True)
class GateLimits:
    concurrent: int = 4
    waiting: int = 32
    per_address: int = 2
    email_attempts: int = 10
    address_attempts: int = 100
    window: float = 300.0
    max_keys: int = 10_000


class LoginGate:
    def __init__(self, limits: GateLimits | None = None) -> None:
        self.limits = limits = limits or GateLimits()
        self.emails = SlidingWindowLimit(limits.email_attempts, limits.window, limits.max_keys)
        self.addresses = SlidingWindowLimit(limits.address_attempts, limits.window, limits.max_keys)
        self._verifying = asyncio.Semaphore(limits.concurrent)
        # Only addresses with a login in flight: at most concurrent + waiting entries.
        self._in_flight: dict[str, int] = {}

    @asynccontextmanager
    async def admit(self, address: str, email: str) -> AsyncIterator[bool]:
        """Yields whether this login may check its password now (after waiting its turn)."""
        in_flight = sum(self._in_flight.values())
        admitted = (
            in_flight < self.limits.concurrent + self.limits.waiting
            and self._in_flight.get(address, 0) < self.limits.per_address
            and self.addresses.allow(address)
            and self.emails.allow(_email_key(email))
        )
        if not admitted:
            yield False
            return
        self._in_flight[address] = self._in_flight.get(address, 0) + 1
        try:
            async with self._verifying:
                yield True
        finally:
            left = self._in_flight[address] - 1
            if left:
                self._in_flight[address] = left
            else:
                del self._in_flight[address]


def _email_key(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()
