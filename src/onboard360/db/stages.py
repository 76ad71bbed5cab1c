"""Keep ``onboardings.stage`` equal to ``domain.stage.stage_of`` of the rows, in the
caller's transaction.

Whatever changes what a stage reads calls ``refresh`` in the same transaction: a
redirect written or applied (the onboarding, by id), a channel's transition (its
client's onboardings: jobs/transition.py), a client bound to a user (the client's
onboardings). The counters per hub and stage follow by the table's trigger (migration
0010).

Lock order, the same for every writer (so none waits on another in a circle): the
client's row, then its channels (``FOR UPDATE``, id order; jobs/transition.py), then its
onboardings (id order, here). A transition that changes a channel refreshes the client's
onboardings after it locked the channel; a binding decision (services/redirects.settle,
services/claims) therefore calls ``lock_in_order`` for the client, the channels it will
touch and the onboardings it will refresh before it locks or writes any onboarding.

``refresh`` locks the onboardings first (``FOR UPDATE``, id order) and reads the facts
in a later statement: two transactions that change different numbers of one onboarding
then refresh it one after the other, and the second reads what the first committed, so
the stored stage is never left computed from a state one of them did not see.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ARRAY, Text, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import state_rows
from onboard360.db.state_rows import CHANNELS, CLIENTS
from onboard360.domain.stage import NumberFacts, OnboardingFacts, stage_of

_CLIENTS_ANY = "o.client_id = ANY(:clients)"
_IDS_ANY = "o.id = ANY(:ids)"


def _lock_statement(which: str) -> TextClause:
    return text(
        f"SELECT o.id FROM onboardings o WHERE o.hub = :hub AND ({which}) "  # noqa: S608
        "ORDER BY o.id FOR UPDATE OF o"
    )


_CLIENTS = bindparam("clients", type_=ARRAY(Text))
_IDS = bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))
# One statement per shape (clients, ids), so each is planned for the index it reads: an
# OR of both made every transition's lock a BitmapOr of two probes, one of them for an
# empty list.
_LOCKS = {
    (True, False): _lock_statement(_CLIENTS_ANY).bindparams(_CLIENTS),
    (False, True): _lock_statement(_IDS_ANY).bindparams(_IDS),
    (True, True): _lock_statement(f"{_CLIENTS_ANY} OR {_IDS_ANY}").bindparams(_CLIENTS, _IDS),
}
_FACTS = text(
    """
    SELECT o.id, o.redirected_at IS NOT NULL AS redirected, o.verification, o.client_id,
      o.external_user_id, o.channels, o.stage, k.external_user_id AS client_owner
    FROM onboardings o
    LEFT JOIN clients k ON k.hub = o.hub AND k.client_id = o.client_id
    WHERE o.id = ANY(:ids)
    """
).bindparams(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))
_NUMBERS = text(
    """
    SELECT c.channel_id, c.client_id, c.status, c.key_status, c.blocker
    FROM channels c WHERE c.hub = :hub AND c.channel_id = ANY(:channels)
    """
).bindparams(bindparam("channels", type_=ARRAY(Text)))
_WRITE = text(
    """
    UPDATE onboardings o SET stage = u.stage
    FROM unnest(CAST(:ids AS uuid[]), CAST(:stages AS text[])) AS u(id, stage)
    WHERE o.id = u.id AND o.stage IS DISTINCT FROM u.stage
    """
)


async def lock_in_order(
    conn: AsyncConnection,
    hub: str,
    *,
    client_ids: Iterable[str | None] = (),
    channel_ids: Iterable[str] = (),
    onboarding_ids: Iterable[uuid.UUID] = (),
) -> None:
    """Lock the clients, then the channels, then these clients' onboardings and these ids:
    the order a transition and ``refresh`` take them in."""
    clients = sorted({c for c in client_ids if c})
    await state_rows.lock(conn, hub, CLIENTS, clients)
    await state_rows.lock(conn, hub, CHANNELS, set(channel_ids))
    ids = sorted(set(onboarding_ids))
    if clients or ids:
        await _lock(conn, hub, clients, ids)


async def _lock(
    conn: AsyncConnection, hub: str, clients: list[str], ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Lock these clients' onboardings of the hub and these ids (id order); their ids."""
    params: dict[str, object] = {"hub": hub}
    if clients:
        params["clients"] = clients
    if ids:
        params["ids"] = ids
    statement = _LOCKS[(bool(clients), bool(ids))]
    return [row.id for row in await conn.execute(statement, params)]


async def refresh(
    conn: AsyncConnection,
    hub: str,
    *,
    client_ids: Iterable[str | None] = (),
    onboarding_ids: Iterable[uuid.UUID] = (),
) -> int:
    """Store the stage of the hub's onboardings of these clients and ids; how many moved."""
    clients = sorted({c for c in client_ids if c})
    ids = sorted(set(onboarding_ids))
    if not clients and not ids:
        return 0
    locked = await _lock(conn, hub, clients, ids)
    if not locked:
        return 0
    rows = list(await conn.execute(_FACTS, {"ids": locked}))
    listed = sorted({c for row in rows for c in row.channels or ()})
    numbers: dict[str, NumberFacts] = {}
    if listed:
        found = await conn.execute(_NUMBERS, {"hub": hub, "channels": listed})
        numbers = {n.channel_id: NumberFacts(**n._mapping) for n in found}
    moved: dict[uuid.UUID, str] = {}
    for row in rows:
        facts = OnboardingFacts(
            redirected=row.redirected,
            verification=row.verification,
            client_id=row.client_id,
            external_user_id=row.external_user_id,
            channels=tuple(row.channels or ()),
            client_owner=row.client_owner,
        )
        stage = stage_of(facts, (numbers[c] for c in facts.channels if c in numbers))
        if stage != row.stage:
            moved[row.id] = stage
    if moved:
        await conn.execute(_WRITE, {"ids": list(moved), "stages": list(moved.values())})
    return len(moved)
