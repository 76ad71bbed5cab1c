"""Adopting a Partner Hub that already has clients: survey, import, take over, leave.

A hub connected to onboard360 has channels whose keys the partner's current system holds;
a new key revokes the old one (docs/decisions/0006-entitlement.md). This is what an
operator (CLI, dashboard) or the product (API) does about them, one explicit step at a
time (docs/decisions/0009-adoption.md):

- ``survey`` (survey.py): the hub's clients and channels as 360dialog lists them
  (paged), and what would happen to each; it changes nothing.
- ``import_keys``: store the key the partner already holds, after one read-only Messaging
  API call shows it works; no key is generated, the messaging webhook is left alone.
- ``take_over``: entitle channels so onboard360 generates their keys, only when the
  caller confirmed how many live channels lose the key they use now.
- leaving a channel is doing nothing: it stays visible and unkeyed.

The keys handed in are ``SecretStr`` from the edge to the encrypted row: never logged,
never in an error or a timeline line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig
from onboard360.db import state_rows
from onboard360.db.state_rows import CHANNELS
from onboard360.domain import (
    ChannelId,
    ChannelSnapshot,
    Entitled,
    Entitlement,
    Input,
    KeyImported,
    KeyStatus,
    ProvisionKey,
    SnapshotError,
    is_valid_id,
    may_import_key,
    statuses,
)
from onboard360.hub import HubError
from onboard360.jobs.keys import store_key
from onboard360.jobs.reconcile import DEFAULT_PAGE_SIZE
from onboard360.jobs.transition import apply_inputs, record
from onboard360.services.audit import audit
from onboard360.services.refusals import AdoptionRefused
from onboard360.services.source import Source
from onboard360.services.survey import local_states, survey
from onboard360.wiring.service import Service

MAX_BATCH = 1000
# A list of named channels is read one Partner API call each up to this many; more are
# found by paging through the whole hub.
_BY_ID_LIMIT = 20


# ---- reading named channels -----------------------------------------------------------


async def _hub_channels(
    service: Service, hub: HubConfig, ids: Sequence[str]
) -> dict[str, ChannelSnapshot]:
    """The named channels as 360dialog lists them under this hub; refuses unknown ids."""
    bad = [i for i in ids if not is_valid_id(i)]
    if bad:
        raise AdoptionRefused(f"not a channel id: {bad[0][:40]!r}", code="invalid_channel_id")
    api = service.partner_api(hub)
    wanted = set(ids)
    if len(wanted) <= _BY_ID_LIMIT:
        infos = [c for i in wanted if (c := await api.get_channel(i)) is not None]
    else:
        infos = [c async for c in api.iter_channels(page_size=DEFAULT_PAGE_SIZE) if c.id in wanted]
    found: dict[str, ChannelSnapshot] = {}
    for info in infos:
        try:
            found[info.id] = ChannelSnapshot.from_api(info.raw)
        except SnapshotError:
            continue
    missing = [i for i in ids if i not in found]
    if missing:
        raise AdoptionRefused(
            f"360dialog lists no channel {missing[0]} under hub {hub.name} "
            f"({len(missing)} of {len(ids)} not found); nothing was done",
            code="unknown_channel",
        )
    return found


def _distinct(ids: Sequence[str]) -> list[str]:
    if not ids:
        raise AdoptionRefused("name at least one channel", code="no_channels")
    if len(ids) > MAX_BATCH:
        raise AdoptionRefused(f"at most {MAX_BATCH} channels at once", code="too_many")
    if len(set(ids)) != len(ids):
        raise AdoptionRefused("a channel is named twice", code="duplicate_channel")
    return list(ids)


# ---- import ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldKey:
    """A key the partner's current system holds for a channel (never shown)."""

    channel_id: str
    api_key: SecretStr = field(repr=False)


async def import_keys(
    service: Service, hub: HubConfig, keys: Sequence[HeldKey], actor: Source
) -> dict[str, int]:
    """Store each key after one Messaging API call shows it works: channel → key version.

    All or nothing: one key refused (401/403), one channel 360dialog does not list under
    the hub, or one channel that may not take a key, and nothing is stored.
    """
    ids = _distinct([k.channel_id for k in keys])
    secrets = [k.api_key.get_secret_value().strip() for k in keys]
    if not all(secrets):
        raise AdoptionRefused("a key is empty; nothing was stored", code="empty_key")
    if len(set(secrets)) != len(secrets):
        # A key opens one channel: the same one given twice is a mix-up in the file.
        raise AdoptionRefused("the same key is given for two channels", code="duplicate_key")
    snapshots = await _hub_channels(service, hub, ids)
    refused = [k.channel_id for k in keys if not await _key_works(service, hub, k.api_key)]
    if refused:
        raise AdoptionRefused(
            f"360dialog refused the key given for {', '.join(refused[:10])}"
            f"{' …' if len(refused) > 10 else ''} (401/403 on GET /v1/configs/webhook): "
            "check it is the channel's current key; nothing was stored",
            code="key_refused",
        )
    product = service.product_of(hub)
    async with service.engine.begin() as conn:
        before = await state_rows.lock(conn, hub.name, CHANNELS, ids)
        intents = {cid: before[cid].key_intent + 1 if cid in before else 1 for cid in ids}
        items: list[Input] = [snapshots[cid] for cid in ids]
        items += [KeyImported(ChannelId(cid), intents[cid]) for cid in ids]
        outcome = await apply_inputs(conn, hub, product, items, source=str(actor))
        for key in keys:
            cid = key.channel_id
            state = outcome.channels[ChannelId(cid)]
            if state.key is not KeyStatus.STORED or state.key_intent != intents[cid]:
                verdict = may_import_key(before.get(cid) or state)
                raise AdoptionRefused(
                    f"channel {cid}: {verdict.message}; nothing was stored", code="cannot_import"
                )
            await store_key(conn, service, hub, cid, intents[cid], key.api_key)
            await _audit(conn, hub, actor, "key_imported", cid, {"key_version": intents[cid]})
    return intents


async def _key_works(service: Service, hub: HubConfig, api_key: SecretStr) -> bool:
    """One read-only Messaging API call with the key; False when 360dialog refuses it."""
    try:
        return await service.messaging_api(hub).key_works(api_key.get_secret_value())
    except HubError as exc:
        raise _unchecked(exc) from None


def _unchecked(exc: HubError) -> AdoptionRefused:
    return AdoptionRefused(
        f"the key could not be checked at 360dialog ({type(exc).__name__}); "
        "nothing was stored, try again",
        code="key_not_checked",
    )


# ---- take over ------------------------------------------------------------------------


@dataclass(frozen=True)
class TakeOver:
    """Channels a take-over would entitle, and how many of them are live."""

    channel_ids: tuple[str, ...]
    live: int
    snapshots: dict[str, ChannelSnapshot] = field(repr=False)


async def plan_take_over(
    service: Service, hub: HubConfig, channel_ids: Sequence[str] | None
) -> TakeOver:
    """What taking over these channels (None: every channel left unkeyed) would touch."""
    if channel_ids is None:
        found = await survey(service, hub)
        channel_ids = [c.channel_id for c in found.channels if c.outcome == "left"]
        if not channel_ids:
            return TakeOver((), 0, {})
    ids = _distinct(channel_ids)
    snapshots = await _hub_channels(service, hub, ids)
    async with service.engine.connect() as conn:
        states = await local_states(conn, hub, ids)
    for cid in ids:
        state = states.get(cid)
        if state is not None and state.entitlement is not None:
            raise AdoptionRefused(
                f"channel {cid} is onboard360's to key already ({state.entitlement.value}): "
                "rotate its key instead; nothing was done",
                code="already_entitled",
            )
        if statuses.is_terminal(snapshots[cid].status):
            raise AdoptionRefused(
                f"channel {cid} is terminated; nothing was done", code="terminated"
            )
    live = sum(1 for cid in ids if snapshots[cid].status == statuses.RUNNING)
    return TakeOver(tuple(ids), live, snapshots)


def confirmation_needed(plan: TakeOver) -> str:
    return (
        f"taking over {len(plan.channel_ids)} channel(s) generates new keys: the key the "
        f"partner's current system uses stops working on {plan.live} live channel(s)"
    )


async def take_over(
    service: Service, hub: HubConfig, plan: TakeOver, confirmed_live: int | None, actor: Source
) -> int:
    """Entitle the planned channels (keys follow through the usual exactly-once jobs),
    only when ``confirmed_live`` names the live channels affected; keys asked for."""
    if confirmed_live != plan.live:
        raise AdoptionRefused(
            f"{confirmation_needed(plan)}; confirm with that number ({plan.live}) to go ahead. "
            "Nothing was done",
            code="confirmation_mismatch",
        )
    if not plan.channel_ids:
        return 0
    items: list[Input] = [plan.snapshots[cid] for cid in plan.channel_ids]
    items += [Entitled(ChannelId(cid), Entitlement.TAKEN_OVER) for cid in plan.channel_ids]
    async with service.engine.begin() as conn:
        outcome = await apply_inputs(conn, hub, service.product_of(hub), items, source=str(actor))
        for cid in plan.channel_ids:
            await _audit(conn, hub, actor, "taken_over", cid, {"live_confirmed": plan.live})
    return sum(1 for e in outcome.effects if isinstance(e, ProvisionKey))


async def _audit(  # noqa: PLR0917 - one line in each log
    conn: AsyncConnection,
    hub: HubConfig,
    actor: Source,
    kind: str,
    channel_id: str,
    detail: dict[str, object],
) -> None:
    """A timeline line for the channel and an audit_log line for the actor."""
    # The audit log's one writer; imported here because the dashboard imports this module.

    await record(conn, hub, str(actor), kind, {**detail, "by": str(actor)}, channel_id=channel_id)
    await audit(
        conn,
        actor.operator_id,
        f"adopt_{kind}",
        f"channel:{hub.name}/{channel_id}",
        {"hub": hub.name, "channel_id": channel_id, "source": str(actor), **detail},
    )
