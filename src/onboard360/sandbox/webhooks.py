"""Delivers partner webhooks and advances new channels through their lifecycle.

One worker task per hub takes that hub's events in emission order and delivers each one
(retries included) before the next, so a partner sees its events in order unless the
hub's ``webhook_reorder`` fault is on. Every attempt — delivered, failed, dropped or
skipped — goes to a bounded in-memory delivery log the control API serves.

Everything runs on the sandbox app's event loop. ``send`` and ``advance_later`` may be
called before the loop starts (hubs seeded at build time) or, defensively, from another
thread: such calls are queued and handed to the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from onboard360.hub import platform as p
from onboard360.hub.signatures import webhook_signature
from onboard360.runtime.logging import get_logger
from onboard360.sandbox.entities import Hub, OutgoingEvent, SandboxError, iso
from onboard360.sandbox.state import Sandbox

log = get_logger(__name__)

# Custom headers the partner may not override: they would break the HTTP request itself.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
USER_AGENT = "onboard360-sandbox (360dialog partner webhooks)"


@dataclass(frozen=True)
class DeliverySettings:
    """Timing of deliveries. Defaults are production-ish; tests pass near-zero delays.

    The retry schedule is our guess (platform.py): 360dialog documents none.
    """

    max_attempts: int = 6
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    timeout_seconds: float = 10.0
    # How long a hub with the reorder fault holds events before sending them shuffled.
    reorder_window_seconds: float = 0.5
    reorder_max_batch: int = 100
    log_size: int = 50_000
    # Seeds the webhook fault randomness (duplicate, drop, reorder) for repeatable runs;
    # None shares the sandbox's own ``rng``.
    seed: int | None = None

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based) before the next one."""
        return min(self.retry_base_seconds * 2 ** (attempt - 1), self.retry_max_seconds)


@dataclass(frozen=True)
class DeliveryAttempt:
    """One line of the delivery log."""

    seq: int
    event_id: str
    event: str
    partner_id: str
    subject_id: str | None
    url: str | None
    attempt: int
    duplicate: bool
    # delivered | failed (non-2xx) | error (no answer) | dropped (fault) | skipped (no URL)
    outcome: str
    status_code: int | None
    error: str | None
    started_at: datetime
    finished_at: datetime

    def public(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "event": self.event,
            "partner_id": self.partner_id,
            "subject_id": self.subject_id,
            "url": self.url,
            "attempt": self.attempt,
            "duplicate": self.duplicate,
            "outcome": self.outcome,
            "status_code": self.status_code,
            "error": self.error,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
        }


def encode_body(event: OutgoingEvent) -> bytes:
    """The exact bytes sent (and signed) for ``event``."""
    return json.dumps(event.body(), separators=(",", ":"), ensure_ascii=False).encode()


def webhook_headers(hub: Hub, body: bytes) -> dict[str, str]:
    """Headers of one delivery: JSON, the hub's custom headers, and the signature if any."""
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    for name, value in hub.webhook_headers.items():
        if name.lower() not in RESERVED_HEADERS:
            headers[name.lower()] = value
    if hub.platform_secret:
        headers[p.SIGNATURE_HEADER] = webhook_signature(hub.platform_secret, body)
    return headers


class WebhookDispatcher:
    """The sandbox's ``Dispatcher``: partner webhooks out, lifecycle steps forward."""

    def __init__(
        self,
        sandbox: Sandbox,
        settings: DeliverySettings | None = None,
        *,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.settings = settings or DeliverySettings()
        # An explicit rng, else the settings' seed, else the sandbox's own fault rng.
        if rng is None:
            rng = sandbox.rng if self.settings.seed is None else random.Random(self.settings.seed)
        self.rng = rng
        self.log: deque[DeliveryAttempt] = deque(maxlen=self.settings.log_size)
        self._transport = transport
        self._seq = itertools.count(1)
        self._queues: dict[str, asyncio.Queue[OutgoingEvent]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._advances_waiting: list[str] = []
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None

    # ---- the Dispatcher protocol (state.py) ------------------------------------------------

    def send(self, event: OutgoingEvent) -> None:
        self._on_loop(self._enqueue, event)

    def advance_later(self, channel_id: str) -> None:
        if self._loop is None:
            self._advances_waiting.append(channel_id)
        else:
            self._on_loop(self._spawn_advance, channel_id)

    # ---- lifecycle (app.py's lifespan) -----------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._client = httpx.AsyncClient(
            transport=self._transport, timeout=self.settings.timeout_seconds
        )
        for partner_id, queue in self._queues.items():
            if not queue.empty():
                self._spawn_worker(partner_id)
        waiting, self._advances_waiting = self._advances_waiting, []
        for channel_id in waiting:
            self._spawn_advance(channel_id)

    async def stop(self) -> None:
        tasks = [*self._workers.values(), *self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._workers.clear()
        self._tasks.clear()
        if self._client is not None:
            await self._client.aclose()
        self._client = None
        self._loop = None

    # ---- reading the log -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events accepted but not yet fully handled (queued or being delivered)."""
        return sum(q.qsize() for q in self._queues.values()) + self._in_flight

    def attempts(
        self,
        *,
        partner_id: str | None = None,
        event: str | None = None,
        event_id: str | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[DeliveryAttempt]:
        """The log, oldest first, filtered; ``limit`` keeps the newest ones."""
        found: Iterable[DeliveryAttempt] = self.log
        if partner_id is not None:
            found = (a for a in found if a.partner_id == partner_id)
        if event is not None:
            found = (a for a in found if a.event == event)
        if event_id is not None:
            found = (a for a in found if a.event_id == event_id)
        if after is not None:
            found = (a for a in found if a.seq > after)
        listed = list(found)
        return listed[-limit:] if limit is not None and limit > 0 else listed

    # ---- internals -------------------------------------------------------------------------

    def _on_loop(self, callback: Any, arg: str | OutgoingEvent) -> None:
        """Run ``callback(arg)`` on the sandbox's loop, now if we are on it."""
        loop = self._loop
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is not None and current is not loop:
            loop.call_soon_threadsafe(callback, arg)
        else:
            callback(arg)

    def _enqueue(self, event: OutgoingEvent) -> None:
        queue = self._queues.setdefault(event.partner_id, asyncio.Queue())
        queue.put_nowait(event)
        if self._loop is not None:
            self._spawn_worker(event.partner_id)

    def _spawn_worker(self, partner_id: str) -> None:
        worker = self._workers.get(partner_id)
        if worker is None or worker.done():
            self._workers[partner_id] = asyncio.create_task(
                self._work(partner_id), name=f"webhooks:{partner_id}"
            )

    def _spawn_advance(self, channel_id: str) -> None:
        task = asyncio.create_task(self._advance(channel_id), name=f"advance:{channel_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _advance(self, channel_id: str) -> None:
        """pending → ready → running, ``hub.step_delay_seconds`` apart, while auto_advance."""
        while (hub := self._advancing_hub(channel_id)) is not None:
            await self.sandbox.clock.sleep(hub.step_delay_seconds)
            # Asked again after the wait: auto_advance may have been switched off meanwhile.
            if self._advancing_hub(channel_id) is None:
                return
            try:
                if self.sandbox.advance(channel_id) is None:
                    return
            except SandboxError:
                return

    def _advancing_hub(self, channel_id: str) -> Hub | None:
        """The channel's hub while it auto-advances its channels, else None."""
        channel = self.sandbox.channels.get(channel_id)
        hub = self.sandbox.hubs.get(channel.partner_id) if channel else None
        return hub if hub is not None and hub.auto_advance else None

    async def _work(self, partner_id: str) -> None:
        queue = self._queues[partner_id]
        while True:
            batch = [await queue.get()]
            self._in_flight += 1
            try:
                hub = self.sandbox.hubs.get(partner_id)
                if hub is not None and hub.faults.webhook_reorder:
                    await asyncio.sleep(self.settings.reorder_window_seconds)
                    while not queue.empty() and len(batch) < self.settings.reorder_max_batch:
                        batch.append(queue.get_nowait())
                        self._in_flight += 1
                    self.rng.shuffle(batch)
                while batch:
                    event = batch.pop(0)
                    try:
                        await self._handle(event)
                    except Exception:
                        log.exception("webhook handling failed", event_id=event.id)
                    finally:
                        self._in_flight -= 1
            finally:
                self._in_flight -= len(batch)

    async def _handle(self, event: OutgoingEvent) -> None:
        """Apply the hub's faults, then deliver (once, or twice for a duplicate)."""
        hub = self.sandbox.hubs.get(event.partner_id)
        if hub is None:
            return
        faults = hub.faults
        if faults.webhook_delay_seconds:
            await self.sandbox.clock.sleep(faults.webhook_delay_seconds)
        if faults.webhook_drop_rate and self.rng.random() < faults.webhook_drop_rate:
            moment = self.sandbox.clock()
            self._record(
                event,
                hub.webhook_url,
                attempt=1,
                duplicate=False,
                outcome="dropped",
                started=moment,
            )
            return
        rate = faults.webhook_duplicate_rate
        # The copy follows the original at once (platform.py).
        twice = bool(rate) and self.rng.random() < rate
        body = encode_body(event)
        await self._deliver(hub, event, body, duplicate=False)
        if twice:
            await self._deliver(hub, event, body, duplicate=True)

    async def _deliver(
        self, hub: Hub, event: OutgoingEvent, body: bytes, *, duplicate: bool
    ) -> None:
        """POST ``body`` until a 2xx answer or the attempts run out."""
        settings = self.settings
        for attempt in range(1, settings.max_attempts + 1):
            # Read each time: the partner may fix its URL or headers while we retry.
            url = hub.webhook_url
            started = self.sandbox.clock()
            if not url:
                self._record(
                    event,
                    None,
                    attempt=attempt,
                    duplicate=duplicate,
                    outcome="skipped",
                    started=started,
                    error="no webhook url",
                )
                return
            status, error = await self._post(url, webhook_headers(hub, body), body)
            delivered = status is not None and 200 <= status < 300
            outcome = "delivered" if delivered else ("failed" if status is not None else "error")
            self._record(
                event,
                url,
                attempt=attempt,
                duplicate=duplicate,
                outcome=outcome,
                started=started,
                status=status,
                error=error,
            )
            if delivered:
                return
            if attempt < settings.max_attempts:
                await self.sandbox.clock.sleep(settings.backoff(attempt))
        log.info("webhook given up", event_id=event.id, webhook_event=event.event)

    async def _post(
        self, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int | None, str | None]:
        assert self._client is not None, "dispatcher not started"
        began = time.monotonic()
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, f"timeout after {time.monotonic() - began:.1f}s"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        return response.status_code, None

    def _record(
        self,
        event: OutgoingEvent,
        url: str | None,
        *,
        attempt: int,
        duplicate: bool,
        outcome: str,
        started: datetime,
        status: int | None = None,
        error: str | None = None,
    ) -> None:
        subject = event.payload.get("id")
        self.log.append(
            DeliveryAttempt(
                seq=next(self._seq),
                event_id=event.id,
                event=event.event,
                partner_id=event.partner_id,
                subject_id=subject if isinstance(subject, str) else None,
                url=url,
                attempt=attempt,
                duplicate=duplicate,
                outcome=outcome,
                status_code=status,
                error=error,
                started_at=started,
                finished_at=self.sandbox.clock(),
            )
        )
