"""Load state, let the domain decide, persist the new state and its effects — one transaction.

``apply_inputs`` is the only place where client and channel rows change. It runs inside
the caller's transaction, locks every row it touches (clients before channels, each in
id order, so two transitions never deadlock), and turns effects into rows and jobs in
that same transaction: a crash at any line leaves either everything or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import ARRAY, Column, Text, TextClause, any_, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import codec
from onboard360.db import tables as t
from onboard360.db.batch import recordset, rows_param
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
    may_generate_key,
)
from onboard360.hubs_config import HubConfig, ProductConfig
from onboard360.jobs.effects import carry_out


@dataclass
class Outcome:
    """What a transition did, for the caller's logs and tests."""

    effects: list[Effect] = field(default_factory=list)
    channels: dict[ChannelId, ChannelState] = field(default_factory=dict)
    clients: dict[ClientId, ClientState] = field(default_factory=dict)
    changed_channels: list[ChannelId] = field(default_factory=list)


async def apply_inputs(
    conn: AsyncConnection,
    hub: HubConfig,
    product: ProductConfig,
    items: Sequence[Input],
    *,
    source: str,
    external_user_id: str | None = None,
) -> Outcome:
    by_phone = await _channels_by_phone(conn, hub, items)
    client_ids = list(dict.fromkeys(c for item in items if (c := client_of(item))))
    channel_ids = list(
        dict.fromkeys(
            [c for item in items for c in channels_touched(item)]
            + [c for ids in by_phone.values() for c in ids]
        )
    )
    clients = await _lock_clients(conn, hub, client_ids, external_user_id)
    channels = await _lock_channels(conn, hub, channel_ids)
    before = dict(channels), dict(clients)
    outcome = Outcome()
    lines: list[dict[str, Any]] = []
    for item in items:
        owner = client_of(item)
        if owner in clients:
            clients[owner], effects = apply_client(clients[owner], item)
            outcome.effects.extend(effects)
        for chid in _targets(item, by_phone):
            if chid not in channels:
                continue
            old = channels[chid]
            channels[chid], effects = apply(old, item)
            outcome.effects.extend(effects)
            if effects or channels[chid] != old or source in NOISY_SOURCES:
                lines.append(_timeline_line(channels[chid], item, source))
    changed_channels = {k: v for k, v in channels.items() if before[0][k] != v}
    changed_clients = {k: v for k, v in clients.items() if before[1][k] != v}
    await _save(conn, hub, changed_clients, changed_channels)
    if lines:
        await conn.execute(_INSERT_TIMELINE, _rows(hub, lines))
    await carry_out(conn, hub, product, outcome.effects, channels)
    outcome.channels, outcome.clients = channels, clients
    outcome.changed_channels = list(changed_channels)
    return outcome


# Sources whose every input is worth a timeline line, even when it changes nothing (a
# person may ask "did the webhook arrive?"); reconciliation records only changes.
NOISY_SOURCES = frozenset({"webhook", "redirect", "api", "operator"})


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


# Rows travel as one JSON parameter (db/batch.py): one statement text per table whatever
# the number of rows, compiled once, one round trip.
_CLIENT_COLUMNS = {"client_id": "text", "state": "jsonb"}
_CHANNEL_COLUMNS = {
    "channel_id": "text",
    "client_id": "text",
    "phone_number": "text",
    "status": "text",
    "permission": "text",
    "key_status": "text",
    "key_intent": "int",
    "blocker": "text",
    "reason": "text",
    "state": "jsonb",
}


def _insert_defaults(table: str, key: str, columns: dict[str, str]) -> TextClause:
    names = ", ".join(columns)
    return text(
        f"INSERT INTO {table} (hub, {names}) "  # noqa: S608 - names are ours
        f"SELECT :hub, {names} FROM {recordset(columns)} "
        f"ON CONFLICT DO NOTHING RETURNING {key}"
    )


def _update_states(table: str, key: str, columns: dict[str, str]) -> TextClause:
    sets = ", ".join(f"{name} = u.{name}" for name in columns if name != key)
    return text(
        f"UPDATE {table} AS t SET {sets}, updated_at = now() "  # noqa: S608 - names are ours
        f"FROM {recordset(columns)} WHERE t.hub = :hub AND t.{key} = u.{key}"
    )


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
_INSERT_CLIENTS = _insert_defaults("clients", "client_id", _CLIENT_COLUMNS)
_INSERT_CHANNELS = _insert_defaults("channels", "channel_id", _CHANNEL_COLUMNS)
_UPDATE_CLIENTS = _update_states("clients", "client_id", _CLIENT_COLUMNS)
_UPDATE_CHANNELS = _update_states("channels", "channel_id", _CHANNEL_COLUMNS)


def _rows(hub: HubConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"hub": hub.name, "rows": rows_param(rows)}


def _client_row(state: ClientState) -> dict[str, Any]:
    return {"client_id": state.client_id, "state": codec.client_to_json(state)}


def _channel_row(state: ChannelState) -> dict[str, Any]:
    verdict = may_generate_key(state)
    return {
        "channel_id": state.channel_id,
        "client_id": state.client_id,
        "phone_number": state.phone_number,
        "status": state.status,
        "permission": state.permission.value,
        "key_status": state.key.value,
        "key_intent": state.key_intent,
        "blocker": None if verdict.allowed else verdict.blocker,
        "reason": verdict.message,
        "state": codec.channel_to_json(state),
    }


_IDS = bindparam("ids", type_=ARRAY(Text))
Id = TypeVar("Id", bound=str)
State = TypeVar("State")


async def _lock_clients(
    conn: AsyncConnection, hub: HubConfig, ids: list[ClientId], external_user_id: str | None
) -> dict[ClientId, ClientState]:
    if not ids:
        return {}
    defaults = {cid: ClientState(cid) for cid in ids}
    clients = await _create_or_lock(conn, hub, _CLIENTS, defaults)
    if external_user_id is not None:
        await conn.execute(
            t.clients.update()
            .where(t.clients.c.hub == hub.name, t.clients.c.client_id == any_(_IDS))
            .where(t.clients.c.external_user_id.is_(None))
            .values(external_user_id=external_user_id),
            {"ids": ids},
        )
    return clients


async def _lock_channels(
    conn: AsyncConnection, hub: HubConfig, ids: list[ChannelId]
) -> dict[ChannelId, ChannelState]:
    if not ids:
        return {}
    defaults = {cid: ChannelState(cid, Billing(hub.billing)) for cid in ids}
    return await _create_or_lock(conn, hub, _CHANNELS, defaults)


@dataclass(frozen=True)
class _StateTable(Generic[State]):
    """How one table's states are written and read."""

    key: Column[str]
    insert: TextClause
    row: Callable[[State], dict[str, Any]]
    decode: Callable[[dict[str, Any]], State]


_CLIENTS = _StateTable(t.clients.c.client_id, _INSERT_CLIENTS, _client_row, codec.client_from_json)
_CHANNELS = _StateTable(
    t.channels.c.channel_id, _INSERT_CHANNELS, _channel_row, codec.channel_from_json
)


async def _create_or_lock(
    conn: AsyncConnection, hub: HubConfig, spec: _StateTable[State], defaults: dict[Id, State]
) -> dict[Id, State]:
    """Lock each row, creating the missing ones with their default state, in id order.

    A row this transaction just created is invisible to others (who wait on it) and holds
    its default state: only the rows that existed are read back, ``FOR UPDATE``.
    """
    ordered = sorted(defaults)
    rows = [spec.row(defaults[i]) for i in ordered]
    created = await conn.execute(spec.insert, _rows(hub, rows))
    states = {i: defaults[i] for (i,) in created}
    existing = [i for i in ordered if i not in states]
    if existing:
        key, table = spec.key, spec.key.table
        locked = await conn.execute(
            select(key, table.c.state)
            .where(table.c.hub == hub.name, key == any_(_IDS))
            .order_by(key)
            .with_for_update(),
            {"ids": existing},
        )
        states.update({i: spec.decode(state) for i, state in locked})
    return {i: states[i] for i in ordered}


async def read_states(
    conn: AsyncConnection, hub: HubConfig, channel_ids: list[ChannelId], client_ids: list[ClientId]
) -> tuple[dict[ChannelId, ChannelState], dict[ClientId, ClientState]]:
    """The committed states of these rows, read without locking them.

    Only for a filter (which inputs cannot change anything); whatever passes the filter
    goes through ``apply_inputs``, which locks and decides again.
    """
    channels: dict[ChannelId, ChannelState] = {}
    clients: dict[ClientId, ClientState] = {}
    if channel_ids:
        rows = await conn.execute(
            select(t.channels.c.channel_id, t.channels.c.state).where(
                t.channels.c.hub == hub.name, t.channels.c.channel_id == any_(_IDS)
            ),
            {"ids": channel_ids},
        )
        channels = {ChannelId(r.channel_id): codec.channel_from_json(r.state) for r in rows}
    if client_ids:
        rows = await conn.execute(
            select(t.clients.c.client_id, t.clients.c.state).where(
                t.clients.c.hub == hub.name, t.clients.c.client_id == any_(_IDS)
            ),
            {"ids": client_ids},
        )
        clients = {ClientId(r.client_id): codec.client_from_json(r.state) for r in rows}
    return channels, clients


async def _save(
    conn: AsyncConnection,
    hub: HubConfig,
    clients: dict[ClientId, ClientState],
    channels: dict[ChannelId, ChannelState],
) -> None:
    """Write the changed states back, each table in one statement."""
    if clients:
        rows = [_client_row(c) for c in clients.values()]
        await conn.execute(_UPDATE_CLIENTS, _rows(hub, rows))
    if channels:
        rows = [_channel_row(c) for c in channels.values()]
        await conn.execute(_UPDATE_CHANNELS, _rows(hub, rows))


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
