"""Load state, let the domain decide, persist the new state and its effects — one transaction.

``apply_inputs`` is the only place where client and channel rows change. It runs inside
the caller's transaction, locks every row it touches and turns effects into rows and jobs
in that same transaction: a crash at any line leaves either everything or nothing. Locks
are taken in one order, so two transitions never wait on each other in a circle: clients
before channels; in each table, the rows that exist (``FOR UPDATE``, id order) before the
rows it creates (id order). A transaction waiting on a row another one is creating is
itself creating rows of that table, so it holds nothing the creator still needs.

A row that does not exist yet is written once, with its state after the inputs (a first
sync creates 100,000 of them), rather than created empty, read back and updated. Clients
and channels are separate state machines (an input's effect on a channel depends only on
that channel's state), so each table is decided and written on its own, clients first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.db import stages, state_rows
from onboard360.db import tables as t
from onboard360.db.batch import recordset, rows_param
from onboard360.db.state_rows import CHANNELS, CLIENTS, StateTable
from onboard360.domain import (
    Billing,
    ChannelId,
    ChannelState,
    ClientId,
    ClientState,
    Effect,
    EventKind,
    Input,
    PartnerEvent,
    apply,
    apply_client,
    channels_touched,
    client_of,
)
from onboard360.jobs.effects import carry_out

Id = TypeVar("Id", bound=str)
State = TypeVar("State")
# Where an effect or timeline line came from: (input's index, 0 for the client, 1 for
# channels). Sorting by it (stably) gives the order of one loop over the inputs.
Position = tuple[int, int]


@dataclass
class Outcome:
    """What a transition did, for the caller's logs and tests."""

    effects: list[Effect] = field(default_factory=list)
    channels: dict[ChannelId, ChannelState] = field(default_factory=dict)
    clients: dict[ClientId, ClientState] = field(default_factory=dict)
    changed_channels: list[ChannelId] = field(default_factory=list)


@dataclass
class _Decided(Generic[State]):
    """One table's states after the inputs, and what the transitions produced."""

    states: dict[Any, State]
    effects: list[tuple[Position, Effect]] = field(default_factory=list)
    lines: list[tuple[Position, dict[str, Any]]] = field(default_factory=list)


async def apply_inputs(
    conn: AsyncConnection,
    hub: HubConfig,
    product: ProductConfig,
    items: Sequence[Input],
    *,
    source: str,
) -> Outcome:
    by_phone = await _channels_by_phone(conn, hub, items)
    client_ids = list(dict.fromkeys(c for item in items if (c := client_of(item))))
    channel_ids = list(
        dict.fromkeys(
            [c for item in items for c in channels_touched(item)]
            + [c for ids in by_phone.values() for c in ids]
        )
    )

    def decide_clients(starts: dict[ClientId, ClientState]) -> _Decided[ClientState]:
        decided = _Decided(dict(starts))
        for n, item in enumerate(items):
            owner = client_of(item)
            if owner in decided.states:
                decided.states[owner], effects = apply_client(decided.states[owner], item)
                decided.effects.extend(((n, 0), effect) for effect in effects)
        return decided

    def decide_channels(starts: dict[ChannelId, ChannelState]) -> _Decided[ChannelState]:
        decided = _Decided(dict(starts))
        for n, item in enumerate(items):
            for chid in _targets(item, by_phone):
                if chid not in decided.states:
                    continue
                old = decided.states[chid]
                decided.states[chid], effects = apply(old, item)
                decided.effects.extend(((n, 1), effect) for effect in effects)
                if (
                    effects
                    or decided.states[chid] != old
                    or source.partition(":")[0] in NOISY_SOURCES
                ):
                    line = _timeline_line(decided.states[chid], item, source)
                    decided.lines.append(((n, 1), line))
        return decided

    clients, _ = await _transition(conn, hub, CLIENTS, client_ids, ClientState, decide_clients)
    billing = Billing(hub.billing)
    channels, changed_channels = await _transition(
        conn, hub, CHANNELS, channel_ids, lambda cid: ChannelState(cid, billing), decide_channels
    )
    clients_moved = {channels.states[c].client_id for c in changed_channels}
    await stages.refresh(conn, hub.name, client_ids=clients_moved)
    if channels.lines:
        await conn.execute(_INSERT_TIMELINE, _rows(hub, [line for _, line in channels.lines]))
    tagged = sorted([*clients.effects, *channels.effects], key=lambda pair: pair[0])
    outcome = Outcome(effects=[effect for _, effect in tagged])
    await carry_out(conn, hub, product, outcome.effects, channels.states)
    outcome.channels, outcome.clients = channels.states, clients.states
    outcome.changed_channels = changed_channels
    return outcome


async def _transition(  # noqa: PLR0917 - one table's whole step
    conn: AsyncConnection,
    hub: HubConfig,
    spec: StateTable[State],
    ids: list[Id],
    default: Callable[[Id], State],
    decide: Callable[[dict[Id, State]], _Decided[State]],
) -> tuple[_Decided[State], list[Id]]:
    """Lock one table's rows, decide, and write: the decision and the ids that changed.

    Rows that exist are locked first and updated if changed; missing ones start from
    their default state and are inserted as decided. One that another transaction
    created meanwhile is locked then and everything is decided again from its state.
    """
    starts: dict[Id, State] = await state_rows.lock(conn, hub.name, spec, ids)
    missing = [i for i in ids if i not in starts]
    starts.update({i: default(i) for i in missing})
    decided = decide(starts)
    created = await state_rows.create(conn, hub.name, spec, {i: decided.states[i] for i in missing})
    if len(created) < len(missing):
        taken = [i for i in missing if i not in created]
        starts.update(await state_rows.lock(conn, hub.name, spec, taken))
        decided = decide(starts)
    changed = [i for i in ids if decided.states[i] != starts[i]]
    await state_rows.update(
        conn, hub.name, spec, (decided.states[i] for i in changed if i not in created)
    )
    return decided, changed


# Sources whose every input is worth a timeline line, even when it changes nothing (a
# person may ask "did the webhook arrive?"); reconciliation records only changes.
# An operator's source is ``dashboard:operator-<id>`` (services/source.py): its origin counts.
NOISY_SOURCES = frozenset({"webhook", "redirect", "api", "operator", "dashboard"})


def _targets(item: Input, by_phone: dict[str, list[ChannelId]]) -> list[ChannelId]:
    targets = list(channels_touched(item))
    if isinstance(item, PartnerEvent) and item.channel_id is None and item.phone_number:
        targets.extend(by_phone.get(item.phone_number, ()))
    return targets


async def _channels_by_phone(
    conn: AsyncConnection, hub: HubConfig, items: Sequence[Input]
) -> dict[str, list[ChannelId]]:
    # account_violation names only the phone number (doc).
    phones = [
        item.phone_number
        for item in items
        if isinstance(item, PartnerEvent) and item.channel_id is None and item.phone_number
    ]
    if not phones:
        return {}
    rows = await conn.execute(
        select(t.channels.c.channel_id, t.channels.c.phone_number).where(
            t.channels.c.hub == hub.name, t.channels.c.phone_number.in_(phones)
        )
    )
    found: dict[str, list[ChannelId]] = {}
    for row in rows:
        found.setdefault(row.phone_number, []).append(ChannelId(row.channel_id))
    return found


_TIMELINE_COLUMNS = {
    "client_id": "text",
    "channel_id": "text",
    "source": "text",
    "kind": "text",
    "detail": "jsonb",
}
# A function scan yields the array's order, so the lines get their ids in input order.
_INSERT_TIMELINE = text(
    f"INSERT INTO timeline (hub, {', '.join(_TIMELINE_COLUMNS)}) "  # noqa: S608 - names are ours
    f"SELECT :hub, {', '.join(_TIMELINE_COLUMNS)} FROM {recordset(_TIMELINE_COLUMNS)}"
)


def _rows(hub: HubConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"hub": hub.name, "rows": rows_param(rows)}


def _timeline_line(state: ChannelState, item: Input, source: str) -> dict[str, Any]:
    kind = item.name if isinstance(item, PartnerEvent) else type(item).__name__
    detail: dict[str, Any] = {
        "status": state.status,
        "permission": state.permission.value,
        "key": state.key.value,
        "key_intent": state.key_intent,
    }
    if isinstance(item, PartnerEvent) and item.kind is EventKind.UNKNOWN:
        detail["unknown_event"] = True
    return {
        "client_id": state.client_id,
        "channel_id": state.channel_id,
        "source": source,
        "kind": kind,
        "detail": detail,
    }


async def record(
    conn: AsyncConnection,
    hub: HubConfig,
    source: str,
    kind: str,
    detail: dict[str, Any],
    *,
    client_id: str | None = None,
    channel_id: str | None = None,
) -> None:
    """One timeline line: what happened, for people. Never put a key in ``detail``."""
    await conn.execute(
        t.timeline.insert().values(
            hub=hub.name,
            client_id=client_id,
            channel_id=channel_id,
            source=source,
            kind=kind,
            detail=detail,
        )
    )
