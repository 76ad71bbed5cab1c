"""Check the stored key of every live channel against the Messaging API, a batch per run.

360dialog sends nothing when a client takes API-key permission away in its own hub, or
when a key is revoked outside onboard360: the product finds out when its first message
fails. So each run (every ``key_check_every_minutes``) sends one read-only call
(``GET /v1/configs/webhook`` with ``D360-API-KEY``) per due channel:

- **Spread evenly**: a hub's batch is ``live channels × run interval / period``
  (rounded up), the channels checked longest ago (never checked first) among those not
  checked within the period, so each key is checked about once per
  ``key_check_period_hours`` and the calls are spread over it.
- **Rate**: at most ``key_check_rate_per_second`` calls; a batch larger than the run
  interval can hold at that rate is cut (a warning says the period cannot be kept).
- **429 stops the run**: the channels left are still the oldest, so the next run starts
  with them. Its ``Retry-After`` is kept for the hub (``rate_limit_holds``, at most one
  period): a later run — on any worker — calls that hub again only after it, and checks
  the other hubs meanwhile. A 429 without ``Retry-After`` holds nothing.
- **Only 401/403 is a verdict against the key**. A 5xx, a timeout or any other failure
  says nothing: the channel keeps its mark (or its absence) and stays first in line.

A verdict goes through the lifecycle (KeyCheckFailed / KeyCheckPassed), which marks the
key ``not_working`` and tells the product once per loss. Nothing here, nor in the
lifecycle, ever generates a key: a new key revokes the old one (docs/runbook.md).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.key_checks import (
    DueChannel,
    due_channels,
    hold,
    hold_until,
    live_keyed_count,
    note_check,
)
from onboard360.domain import ChannelId, Input, KeyCheckFailed, KeyCheckPassed
from onboard360.hub import HubError, MessagingAPI
from onboard360.hub.errors import HubRateLimited
from onboard360.jobs.keys import stored_key
from onboard360.jobs.transition import apply_inputs
from onboard360.runtime import metrics
from onboard360.runtime.logging import get_logger
from onboard360.wiring.service import Service

log = get_logger(__name__)

SOURCE = "key_check"
# The API whose 429s hold a hub's checks (rate_limit_holds.api).
HELD_API = "messaging"
WORKING, NOT_WORKING, UNAVAILABLE, RATE_LIMITED = (
    "working",
    "not_working",
    "unavailable",
    "rate_limited",
)


@dataclass
class KeyCheckReport:
    """What one run did: checks by outcome, whether a 429 stopped it, and the hubs it left
    alone because an earlier 429's Retry-After had not passed (hub: until when)."""

    outcomes: dict[str, int] = field(default_factory=dict)
    rate_limited: bool = False
    retry_after: float | None = None
    held: dict[str, datetime] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def summary(self) -> str:
        done = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.outcomes.items()))
        stopped = " (stopped: rate-limited)" if self.rate_limited else ""
        held = "".join(
            f" ({hub} held until {until.isoformat()})" for hub, until in sorted(self.held.items())
        )
        return (done or "nothing due") + stopped + held


class _Pace:
    """At most ``rate`` calls per second, whatever the run checks."""

    def __init__(self, rate: float) -> None:
        self.gap = 1.0 / rate
        self.next_at = time.monotonic()

    async def wait(self) -> None:
        now = time.monotonic()
        if self.next_at > now:
            await asyncio.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + self.gap


def share(live: int, every_minutes: int, period_hours: float) -> int:
    """One run's even share of the period's checks."""
    if live <= 0 or every_minutes <= 0:
        return 0
    return math.ceil(live * every_minutes / (period_hours * 60))


def batch_size(live: int, every_minutes: int, period_hours: float, rate: float) -> int:
    """How many keys one run checks: its share of the period, at most what the rate
    allows in one run interval."""
    wanted = share(live, every_minutes, period_hours)
    return min(wanted, max(1, math.floor(rate * every_minutes * 60))) if wanted else 0


async def check_keys(service: Service, *, every_minutes: int | None = None) -> KeyCheckReport:
    """One run over every hub (``every_minutes``: the run interval the batch is a share
    of; the setting's by default, e.g. a person's one-off run may pass its own)."""
    settings = service.settings
    every = every_minutes if every_minutes is not None else settings.key_check_every_minutes
    report = KeyCheckReport()
    pace = _Pace(settings.key_check_rate_per_second)
    for hub in settings.hubs:
        if not await _check_hub(service, hub, every, pace, report):
            break
    return report


async def _check_hub(
    service: Service, hub: HubConfig, every: int, pace: _Pace, report: KeyCheckReport
) -> bool:
    """Check the hub's due batch; False when a 429 stopped the run."""
    settings = service.settings
    period = timedelta(hours=settings.key_check_period_hours)
    now = datetime.now(UTC)
    async with service.engine.connect() as conn:
        until = await hold_until(conn, hub.name, HELD_API)
        if until is not None and until > now:
            report.held[hub.name] = until
            log.info("key checks held by 360dialog's Retry-After", hub=hub.name, until=until)
            return True
        live = await live_keyed_count(conn, hub.name)
        hours, rate = settings.key_check_period_hours, settings.key_check_rate_per_second
        wanted, size = share(live, every, hours), batch_size(live, every, hours, rate)
        if size < wanted:
            log.warning(
                "key checks cannot keep their period at this rate",
                hub=hub.name,
                live_channels=live,
                batch=size,
                wanted=wanted,
            )
        # Due a run interval early, so a key checked at one run is due again at the run
        # that closes its period rather than at the one after it.
        due = await due_channels(conn, hub.name, now - period + timedelta(minutes=every), size)
    api = service.messaging_api(hub, once=True)
    for channel in due:
        await pace.wait()
        try:
            outcome = await _check_one(service, hub, api, channel)
        except HubRateLimited as exc:
            metrics.KEY_CHECKS.labels(hub.name, RATE_LIMITED).inc()
            report.count(RATE_LIMITED)
            report.rate_limited, report.retry_after = True, exc.retry_after
            until = await _hold(service, hub, exc.retry_after, period)
            log.warning(
                "key checks rate-limited: run stopped",
                hub=hub.name,
                retry_after_seconds=exc.retry_after,
                held_until=until,
            )
            return False
        if outcome is not None:
            metrics.KEY_CHECKS.labels(hub.name, outcome).inc()
            report.count(outcome)
    return True


async def _hold(
    service: Service, hub: HubConfig, retry_after: float, period: timedelta
) -> datetime | None:
    """Keep a 429's Retry-After for the next runs (at most one period: a hostile or
    mistaken header cannot stop the checks for longer); None: it named no wait."""
    if retry_after <= 0:
        return None
    wait = min(retry_after, period.total_seconds())
    async with service.engine.begin() as conn:
        return await hold(conn, hub.name, HELD_API, retry_after=wait, at=datetime.now(UTC))


async def _check_one(
    service: Service, hub: HubConfig, api: MessagingAPI, channel: DueChannel
) -> str | None:
    """One call and what it found, written with its lifecycle verdict (None: the key
    changed meanwhile, nothing checked)."""
    async with service.engine.connect() as conn:
        key = await stored_key(conn, service, hub, channel.channel_id)
    if key is None or key.version != channel.key_intent:
        return None  # rotated, discarded or imported since the pick: the next run sees it
    try:
        works: bool | None = await api.key_works(key.api_key)
    except HubRateLimited:
        raise
    except HubError as exc:
        log.info(
            "key check got no verdict",
            hub=hub.name,
            channel_id=channel.channel_id,
            error=type(exc).__name__,
            status=exc.status,
        )
        works = None
    outcome = UNAVAILABLE if works is None else WORKING if works else NOT_WORKING
    cid = ChannelId(channel.channel_id)
    items: list[Input] = []
    if works is not None:
        verdict = KeyCheckPassed if works else KeyCheckFailed
        items.append(verdict(cid, key.version))
    async with service.engine.begin() as conn:
        if items:
            await apply_inputs(conn, hub, service.product_of(hub), items, source=SOURCE)
        await note_check(conn, hub.name, channel.channel_id, outcome, datetime.now(UTC))
    if outcome == NOT_WORKING:
        log.warning("stored key refused by 360dialog", hub=hub.name, channel_id=cid)
    return outcome
