"""Generate a channel's API key exactly once per intent.

Why this is safe (see docs/decisions/0002-exactly-once-keys.md):
- one ``key_generations`` row per (channel, intent) is created in the transaction that
  decided to provision, and this job holds the channel's row lock and then that row's
  (``FOR UPDATE``, in that order, like every transition) from before the Partner API
  call until the key is committed: a second worker waits, then sees ``stored`` and does
  nothing; a revocation arriving meanwhile waits and then discards the stored key;
- every key job of a channel shares one procrastinate ``lock``, so they also queue;
- a crash between 360dialog's answer and our commit rolls the transaction back: the row
  is still ``pending``, the retried job generates once more, and since each generation
  revokes the earlier key, the key we store is the one 360dialog considers live;
- a *database* error between 360dialog's answer and our commit costs nothing: the job
  keeps the key in memory (never on disk or in a log) and retries the store with backoff
  for ``key_store_patience_seconds``;
- the key request itself is never repeated inside one attempt (hub/client.py): a timeout
  or 5xx after sending is recorded as ``key_outcome_unknown`` and the job's next attempt
  generates once more, like after a crash.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.db import codec
from onboard360.db import tables as t
from onboard360.domain import ChannelId, KeyRefused, KeyStatus, KeyStored
from onboard360.hub import GeneratedKey, HubError, HubOutcomeUnknown, HubPermissionRefused
from onboard360.jobs.outage import OutageBackoff, is_database_error
from onboard360.jobs.transition import apply_inputs, record
from onboard360.runtime import failpoints, metrics
from onboard360.runtime.logging import get_logger
from onboard360.wiring.service import Service

log = get_logger(__name__)
_RNG = random.Random()


async def provision_key(service: Service, hub_name: str, channel_id: str, intent: int) -> str:
    """Carry out ProvisionKey(channel_id, intent); answers what happened, for the job log."""
    hub = service.hub(hub_name)
    product = service.product_of(hub)
    cid = ChannelId(channel_id)
    key: GeneratedKey | None = None
    try:
        async with service.engine.begin() as conn:
            if not await _still_wanted(conn, hub, cid, intent):
                return "not wanted any more"
            try:
                key = await service.partner_api(hub).generate_api_key(cid)
            except HubPermissionRefused as exc:
                await _refused(conn, hub, product, cid, intent, exc=exc)
                return "refused"
            # A crash here (360dialog made the key, we did not commit it) must cost exactly
            # one more generation on retry: tests/e2e/test_worker_crash.py.
            failpoints.hit(failpoints.KEY_GENERATED)
            await _store(conn, service, hub, product, cid, intent, key)
    except HubError as exc:
        metrics.KEY_PROVISIONING.labels(hub.name, "failed").inc()
        if isinstance(exc, HubOutcomeUnknown):
            metrics.KEY_OUTCOME_UNKNOWN.labels(hub.name).inc()
        await _note_failure(service, hub, cid, intent, exc)
        raise
    except Exception as exc:
        if key is None or not is_database_error(exc):
            raise
        # 360dialog made this key and the database lost our transaction: keep the key
        # (in memory only) and store it once the database answers, instead of failing
        # the job into a second generation.
        return await _store_patiently(service, hub, cid, intent, key, exc)
    return _stored(hub, cid, intent)


def _stored(hub: HubConfig, cid: str, intent: int) -> str:
    metrics.KEY_PROVISIONING.labels(hub.name, "stored").inc()
    log.info("api key stored", hub=hub.name, channel_id=cid, intent=intent)
    return "stored"


async def _refused(
    conn: AsyncConnection,
    hub: HubConfig,
    product: ProductConfig,
    cid: ChannelId,
    intent: int,
    *,
    exc: HubPermissionRefused,
) -> None:
    await _mark(conn, hub, cid, intent, status="refused", error=str(exc))
    await apply_inputs(conn, hub, product, [KeyRefused(cid, intent)], source="job")
    await record(
        conn, hub, "job", "key_refused", {"intent": intent, "why": str(exc)}, channel_id=cid
    )
    metrics.KEY_PROVISIONING.labels(hub.name, "refused").inc()


async def _store(  # noqa: PLR0917 - one key, and where it belongs
    conn: AsyncConnection,
    service: Service,
    hub: HubConfig,
    product: ProductConfig,
    cid: ChannelId,
    intent: int,
    key: GeneratedKey,
) -> None:
    await store_key(conn, service, hub, cid, intent, key.api_key, hub_key_id=key.id)
    await _mark(conn, hub, cid, intent, status="stored", error=None)
    # 360dialog revoked every earlier key of the channel when it made this one.
    await conn.execute(
        t.api_keys.update()
        .where(
            t.api_keys.c.hub == hub.name,
            t.api_keys.c.channel_id == cid,
            t.api_keys.c.intent < intent,
            t.api_keys.c.discarded_at.is_(None),
        )
        .values(discarded_at=func.now())
    )
    await apply_inputs(conn, hub, product, [KeyStored(cid, intent)], source="job")
    await record(conn, hub, "job", "key_stored", {"intent": intent}, channel_id=cid)


async def _store_patiently(  # noqa: PLR0917 - one key, and where it belongs
    service: Service,
    hub: HubConfig,
    cid: ChannelId,
    intent: int,
    key: GeneratedKey,
    first: Exception,
) -> str:
    """Store a key 360dialog made whose first commit failed for a database error,
    retrying with backoff for ``key_store_patience_seconds``. Under the same locks as the
    first try, so a retried job of this intent waits and then finds it stored."""
    metrics.KEY_STORE_RETRIES.labels(hub.name).inc()
    patience = service.settings.key_store_patience_seconds
    log.warning(
        "api key made but not stored: the database failed; keeping it in memory and "
        "retrying the store",
        hub=hub.name,
        channel_id=cid,
        intent=intent,
        error=type(first).__name__,
        patience_seconds=patience,
    )
    product = service.product_of(hub)
    deadline = time.monotonic() + patience
    backoff = OutageBackoff()
    for tries in itertools.count():
        await asyncio.sleep(min(backoff.wait(tries, _RNG), max(0.0, deadline - time.monotonic())))
        try:
            async with service.engine.begin() as conn:
                if await _stored_already(conn, hub, cid, intent):
                    return _stored(hub, cid, intent)  # the first commit had gone through
                if not await _still_wanted(conn, hub, cid, intent):
                    return "not wanted any more"
                await _store(conn, service, hub, product, cid, intent, key)
        except Exception as exc:
            if not is_database_error(exc) or time.monotonic() >= deadline:
                log.error(
                    "api key made but never stored: the next attempt generates another",
                    hub=hub.name,
                    channel_id=cid,
                    intent=intent,
                    error=type(exc).__name__,
                )
                raise
            continue
        return _stored(hub, cid, intent)
    raise AssertionError("unreachable")  # pragma: no cover


async def _stored_already(conn: AsyncConnection, hub: HubConfig, cid: str, intent: int) -> bool:
    status = await conn.scalar(
        select(t.key_generations.c.status).where(
            t.key_generations.c.hub == hub.name,
            t.key_generations.c.channel_id == cid,
            t.key_generations.c.intent == intent,
        )
    )
    return status == "stored"


async def _still_wanted(conn: AsyncConnection, hub: HubConfig, cid: str, intent: int) -> bool:
    # Lock order matters: the channel row first, then its key_generations row — the same
    # order a transition uses (it locks the channel, then discards a pending generation),
    # so a revocation arriving during the call waits for us instead of deadlocking.
    row = (
        await conn.execute(
            select(t.channels.c.state)
            .where(t.channels.c.hub == hub.name, t.channels.c.channel_id == cid)
            .with_for_update()
        )
    ).first()
    generation = (
        await conn.execute(
            select(t.key_generations.c.status)
            .where(
                t.key_generations.c.hub == hub.name,
                t.key_generations.c.channel_id == cid,
                t.key_generations.c.intent == intent,
            )
            .with_for_update()
        )
    ).first()
    if generation is None or generation.status != "pending":
        return False
    state = codec.channel_from_json(row.state) if row else None
    if state is None or state.key is not KeyStatus.PROVISIONING or state.key_intent != intent:
        await _mark(
            conn, hub, cid, intent, status="discarded", error="the channel no longer wants it"
        )
        return False
    return True


async def _mark(
    conn: AsyncConnection,
    hub: HubConfig,
    cid: str,
    intent: int,
    *,
    status: str | None,
    error: str | None,
) -> None:
    """Count one attempt of this intent, with its outcome (``status`` None: still pending)."""
    values: dict[str, Any] = {
        "last_error": error,
        "attempts": t.key_generations.c.attempts + 1,
        "updated_at": func.now(),
    }
    if status is not None:
        values["status"] = status
    await conn.execute(
        t.key_generations.update()
        .where(
            t.key_generations.c.hub == hub.name,
            t.key_generations.c.channel_id == cid,
            t.key_generations.c.intent == intent,
        )
        .values(**values)
    )


async def _note_failure(
    service: Service, hub: HubConfig, cid: str, intent: int, exc: HubError
) -> None:
    """Record a failed attempt in its own transaction (the job's one rolled back)."""
    # An unknown outcome is recorded as such: 360dialog may hold a key we never saw, and
    # the job's next attempt will make (exactly) one more (docs/decisions/0002).
    kind = "key_outcome_unknown" if isinstance(exc, HubOutcomeUnknown) else "key_attempt_failed"
    async with service.engine.begin() as conn:
        await _mark(conn, hub, cid, intent, status=None, error=str(exc))
        await record(conn, hub, "job", kind, {"intent": intent, "why": str(exc)}, channel_id=cid)
    log.warning(
        "api key attempt failed", hub=hub.name, channel_id=cid, error=str(exc), outcome=kind
    )


async def store_key(  # noqa: PLR0917 - one row's columns
    conn: AsyncConnection,
    service: Service,
    hub: HubConfig,
    cid: str,
    intent: int,
    api_key: SecretStr,
    *,
    hub_key_id: str | None = None,
) -> None:
    """Store a channel's key of ``intent``, encrypted: generated here, or imported."""
    await conn.execute(
        t.api_keys.insert().values(
            hub=hub.name,
            channel_id=cid,
            intent=intent,
            ciphertext=service.keyring.encrypt(api_key),
            hub_key_id=hub_key_id,
        )
    )


@dataclass(frozen=True)
class StoredKey:
    """A channel's usable key and its version (the key intent that generated it)."""

    version: int
    api_key: str = field(repr=False)


async def stored_key(
    conn: AsyncConnection, service: Service, hub: HubConfig, cid: str
) -> StoredKey | None:
    """The channel's newest stored, not discarded key, decrypted (its owner and jobs only)."""
    row = (
        await conn.execute(
            select(t.api_keys.c.intent, t.api_keys.c.ciphertext)
            .where(
                t.api_keys.c.hub == hub.name,
                t.api_keys.c.channel_id == cid,
                t.api_keys.c.discarded_at.is_(None),
            )
            .order_by(t.api_keys.c.intent.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return StoredKey(row.intent, service.keyring.decrypt(row.ciphertext))
