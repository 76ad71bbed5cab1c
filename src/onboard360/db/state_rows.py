"""The ``clients`` and ``channels`` rows that hold the lifecycle's states: lock, create, update.

Rows travel as one JSON parameter (db/batch.py): one statement text per table whatever
the number of rows, compiled once, one round trip. Only jobs/transition.py writes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import ARRAY, Column, Text, TextClause, any_, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import codec
from onboard360.db import tables as t
from onboard360.db.batch import recordset, rows_param
from onboard360.domain import ChannelId, ChannelState, ClientId, ClientState, may_generate_key

Id = TypeVar("Id", bound=str)
State = TypeVar("State")

_IDS = bindparam("ids", type_=ARRAY(Text))


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


def _insert(table: str, key: str, columns: dict[str, str]) -> TextClause:
    names = ", ".join(columns)
    return text(
        f"INSERT INTO {table} (hub, {names}) "  # noqa: S608 - names are ours
        f"SELECT :hub, {names} FROM {recordset(columns)} "
        f"ON CONFLICT DO NOTHING RETURNING {key}"
    )


def _update(table: str, key: str, columns: dict[str, str]) -> TextClause:
    sets = ", ".join(f"{name} = u.{name}" for name in columns if name != key)
    return text(
        f"UPDATE {table} AS t SET {sets}, updated_at = now() "  # noqa: S608 - names are ours
        f"FROM {recordset(columns)} WHERE t.hub = :hub AND t.{key} = u.{key}"
    )


class StateTable(Generic[State]):
    """How one table's states are written and read."""

    def __init__(
        self,
        key: Column[str],
        columns: dict[str, str],
        row: Callable[[State], dict[str, Any]],
        decode: Callable[[dict[str, Any]], State],
    ) -> None:
        self.key, self.row, self.decode = key, row, decode
        self.insert = _insert(key.table.name, key.name, columns)
        self.update = _update(key.table.name, key.name, columns)


CLIENTS = StateTable[ClientState](
    t.clients.c.client_id,
    {"client_id": "text", "state": "jsonb"},
    _client_row,
    codec.client_from_json,
)
CHANNELS = StateTable[ChannelState](
    t.channels.c.channel_id,
    {
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
    },
    _channel_row,
    codec.channel_from_json,
)


def _params(hub: str, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"hub": hub, "rows": rows_param(rows)}


async def lock(
    conn: AsyncConnection, hub: str, spec: StateTable[State], ids: Iterable[Id]
) -> dict[Id, State]:
    """The states of the rows that exist, locked ``FOR UPDATE`` in id order."""
    wanted = sorted(ids)
    if not wanted:
        return {}
    key, table = spec.key, spec.key.table
    locked = await conn.execute(
        select(key, table.c.state)
        .where(table.c.hub == hub, key == any_(_IDS))
        .order_by(key)
        .with_for_update(),
        {"ids": wanted},
    )
    return {i: spec.decode(state) for i, state in locked}


async def create(
    conn: AsyncConnection, hub: str, spec: StateTable[State], states: dict[Id, State]
) -> set[Id]:
    """Insert these rows in id order unless they exist; the ids actually created.

    A row created here stays invisible to other transactions, and one that inserts the
    same id waits for ours to end.
    """
    if not states:
        return set()
    created = await conn.execute(
        spec.insert, _params(hub, (spec.row(states[i]) for i in sorted(states)))
    )
    return {i for (i,) in created}


async def update(
    conn: AsyncConnection, hub: str, spec: StateTable[State], states: Iterable[State]
) -> None:
    rows = [spec.row(state) for state in states]
    if rows:
        await conn.execute(spec.update, _params(hub, rows))


async def read(
    conn: AsyncConnection, hub: str, channel_ids: list[ChannelId], client_ids: list[ClientId]
) -> tuple[dict[ChannelId, ChannelState], dict[ClientId, ClientState]]:
    """The committed states of these rows, read without locking them.

    Only for a filter (which inputs cannot change anything); whatever passes the filter
    goes through ``apply_inputs``, which locks and decides again.
    """
    found: list[dict[Any, Any]] = []
    for spec, ids in ((CHANNELS, channel_ids), (CLIENTS, client_ids)):
        states: dict[Any, Any] = {}
        if ids:
            key, table = spec.key, spec.key.table
            rows = await conn.execute(
                select(key, table.c.state).where(table.c.hub == hub, key == any_(_IDS)),
                {"ids": ids},
            )
            states = {i: spec.decode(state) for i, state in rows}
        found.append(states)
    return found[0], found[1]
