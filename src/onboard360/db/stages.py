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

The same pass stamps the steps the funnel reads (migration 0014): ``first_channel_at``,
``running_at`` and ``key_stored_at``, each once, the first time the onboarding's own
numbers reach it (``domain.stage.number_steps``), never cleared. A stamp is never earlier
than the stamps of the steps before it (``greatest``), so a step's time from the one
before is never negative, whichever clock wrote the earlier one. ``stamp_activated``
stamps ``activated_at`` when the product accepted ``channel.activated`` for one of the
onboarding's own numbers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ARRAY, Text, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import state_rows
from onboard360.db.state_rows import CHANNELS, CLIENTS
from onboard360.domain.stage import (
    NUMBER_STEPS,
    NumberFacts,
    OnboardingFacts,
    number_steps,
    own_numbers,
    stage_of,
)

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
      o.external_user_id, o.channels, o.stage, k.external_user_id AS client_owner,
      o.first_channel_at, o.running_at, o.key_stored_at, o.activated_at
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
# ``reached``: how many of NUMBER_STEPS the own numbers reached (0-3); a step already
# stamped keeps its time. ``at`` is read once per statement, so the steps reached in one
# refresh share it.
_WRITE = text(
    """
    UPDATE onboardings o SET stage = u.stage,
      activated_at = CASE WHEN u.activated AND o.activated_at IS NULL
        THEN greatest(u.at, o.redirected_at, o.first_channel_at, o.running_at, o.key_stored_at)
        ELSE o.activated_at END,
      first_channel_at = CASE WHEN u.reached >= 1 AND o.first_channel_at IS NULL
        THEN greatest(u.at, o.redirected_at) ELSE o.first_channel_at END,
      running_at = CASE WHEN u.reached >= 2 AND o.running_at IS NULL
        THEN greatest(u.at, o.redirected_at, o.first_channel_at) ELSE o.running_at END,
      key_stored_at = CASE WHEN u.reached >= 3 AND o.key_stored_at IS NULL
        THEN greatest(u.at, o.redirected_at, o.first_channel_at, o.running_at)
        ELSE o.key_stored_at END
    FROM (SELECT id, stage, reached, activated, clock_timestamp() AS at
          FROM unnest(CAST(:ids AS uuid[]), CAST(:stages AS text[]), CAST(:reached AS int[]),
            CAST(:activated AS boolean[])) AS v(id, stage, reached, activated)) u
    WHERE o.id = u.id
    """
)
# The product accepted channel.activated for this number: every onboarding it is an own
# number of (listed by its redirect, of its client, the client bound to its user) reached
# the funnel's last step, once.
_ACTIVATED = text(
    """
    UPDATE onboardings o
    SET activated_at = greatest(clock_timestamp(), o.key_stored_at, o.running_at)
    FROM channels c, clients k
    WHERE c.hub = :hub AND c.channel_id = :channel AND o.hub = c.hub
      AND o.client_id = c.client_id AND c.channel_id = ANY(o.channels)
      AND k.hub = o.hub AND k.client_id = o.client_id
      AND k.external_user_id = o.external_user_id AND o.activated_at IS NULL
      AND o.key_stored_at IS NOT NULL
    """
)
# Numbers whose channel.activated the product already accepted: an onboarding that comes
# to own one later (its redirect applied after the key) reached the last step too.
_DELIVERED = text(
    """
    SELECT DISTINCT e.channel_id FROM product_events e
    WHERE e.hub = :hub AND e.channel_id = ANY(:channels)
      AND e.event_type = 'channel.activated' AND e.delivered_at IS NOT NULL
    """
).bindparams(bindparam("channels", type_=ARRAY(Text)))
_STAMPS = tuple(f"{step}_at" for step in NUMBER_STEPS)


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
    computed: dict[uuid.UUID, tuple[str, int]] = {}
    stale: set[uuid.UUID] = set()
    owned: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        facts = OnboardingFacts(
            redirected=row.redirected,
            verification=row.verification,
            client_id=row.client_id,
            external_user_id=row.external_user_id,
            channels=tuple(row.channels or ()),
            client_owner=row.client_owner,
        )
        own = own_numbers(facts, (numbers[c] for c in facts.channels if c in numbers))
        stage = stage_of(facts, own)
        reached = len(number_steps(facts, own))
        computed[row.id] = (stage, reached)
        if stage != row.stage:
            moved[row.id] = stage
        if stage != row.stage or any(getattr(row, s) is None for s in _STAMPS[:reached]):
            stale.add(row.id)
        if reached == len(_STAMPS) and row.activated_at is None:
            owned[row.id] = [n.channel_id for n in own]
    activated = set(await _activated_already(conn, hub, owned))
    if writes := sorted(stale | activated):
        await conn.execute(
            _WRITE,
            {
                "ids": writes,
                "stages": [computed[oid][0] for oid in writes],
                "reached": [computed[oid][1] for oid in writes],
                "activated": [oid in activated for oid in writes],
            },
        )
    return len(moved)


async def _activated_already(
    conn: AsyncConnection, hub: str, owned: dict[uuid.UUID, list[str]]
) -> list[uuid.UUID]:
    """Of these onboardings (id -> own numbers), those with a number whose
    ``channel.activated`` the product already accepted."""
    wanted = sorted({c for channels in owned.values() for c in channels})
    if not wanted:
        return []
    found = await conn.execute(_DELIVERED, {"hub": hub, "channels": wanted})
    delivered = {row.channel_id for row in found}
    return [oid for oid, channels in owned.items() if delivered.intersection(channels)]


async def stamp_activated(conn: AsyncConnection, hub: str, channel_id: str) -> int:
    """Stamp ``activated_at`` on the onboardings ``channel_id`` is an own number of (the
    product accepted its ``channel.activated``); how many were stamped now."""
    result = await conn.execute(_ACTIVATED, {"hub": hub, "channel": channel_id})
    return result.rowcount
