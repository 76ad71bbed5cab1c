"""Onboarding attempts as the API, the connect pages, the dashboard's links and progress read
them: a product's list, by id, by state digest, by the attempt cookies a browser holds; the
numbers and owners an attempt's view shows; and the writes a browser causes (its popup was
opened, blocked or closed early)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db import tables as t
from onboard360.db.paging import Keyset, fetch_page
from onboard360.db.queries.overview import stage_filter

_O = t.onboardings.c


async def onboarding_in_hub(
    conn: AsyncConnection, hub: str, onboarding_id: uuid.UUID
) -> Row[Any] | None:
    """The hub's onboarding of that id, or None."""
    query = select(t.onboardings).where(_O.id == onboarding_id, _O.hub == hub)
    return (await conn.execute(query)).first()


async def onboarding_by_state(
    conn: AsyncConnection, hub: str, state_sha256: bytes, *, lock: bool = False
) -> Row[Any] | None:
    """The hub's onboarding whose state token has this digest (locked for update)."""
    query = select(t.onboardings).where(_O.hub == hub, _O.state_sha256 == state_sha256)
    return (await conn.execute(query.with_for_update() if lock else query)).first()


async def onboardings_by_ids(
    conn: AsyncConnection, hub: str, ids: Iterable[uuid.UUID], *, lock: bool = False
) -> list[Row[Any]]:
    """The hub's onboardings among ``ids``, by id (locked for update)."""
    query = select(t.onboardings).where(_O.hub == hub, _O.id.in_(sorted(ids))).order_by(_O.id)
    return list((await conn.execute(query.with_for_update() if lock else query)).all())


async def record_popup_opened(
    conn: AsyncConnection, onboarding_id: uuid.UUID, cookie_sha256: bytes, at: datetime
) -> None:
    """A browser opened the attempt's popup at ``at`` and holds the cookie of this digest."""
    await conn.execute(
        t.onboardings.update()
        .where(_O.id == onboarding_id)
        .values(attempt_cookie_sha256=cookie_sha256, popup_opened_at=at)
    )


async def stamp_popup_step(
    conn: AsyncConnection, onboarding_id: uuid.UUID, column: str, at: datetime
) -> datetime:
    """Stamp the attempt's ``column`` (popup_blocked_at / popup_closed_at) with ``at``
    unless it has a stamp already (the first time counts); the stamp it keeps."""
    stamp = _O[column]
    kept = await conn.scalar(
        t.onboardings.update()
        .where(_O.id == onboarding_id)
        .values({column: func.coalesce(stamp, at)})
        .returning(stamp)
    )
    assert kept is not None, onboarding_id
    return kept


# (hub, id) pairs as two arrays joined by primary key: one plan whatever their number (an
# IN list of 100 pairs is a BitmapOr of 100 probes, ~3 ms to plan at 50 pairs).
_PAIRS = "unnest(CAST(:hubs AS text[]), CAST(:ids AS text[])) AS p(hub, id)"
_CHANNELS_BY_PAIRS = text(
    f"SELECT c.* FROM {_PAIRS} JOIN channels c ON c.hub = p.hub AND c.channel_id = p.id "  # noqa: S608
    "ORDER BY c.channel_id"
).columns(*t.channels.c)
_CLIENT_OWNERS = text(
    f"SELECT k.hub, k.client_id, k.external_user_id FROM {_PAIRS} "  # noqa: S608
    "JOIN clients k ON k.hub = p.hub AND k.client_id = p.id"
)


def _pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    unique = sorted(set(pairs))
    return {"hubs": [hub for hub, _ in unique], "ids": [ref for _, ref in unique]}


async def channels_by_pairs(
    conn: AsyncConnection, pairs: Iterable[tuple[str, str]]
) -> list[Row[Any]]:
    """The channel rows of these (hub, channel id) pairs, by channel id."""
    return list(await conn.execute(_CHANNELS_BY_PAIRS, _pairs(pairs)))


async def client_owners(
    conn: AsyncConnection, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str | None]:
    """The product user each of these (hub, client id) is bound to (None: nobody)."""
    rows = await conn.execute(_CLIENT_OWNERS, _pairs(pairs))
    return {(row.hub, row.client_id): row.external_user_id for row in rows}


_ALIASED = t.onboardings.alias("o")  # stage_filter speaks of the onboarding as "o"
NEWEST_FIRST = Keyset(
    "onboardings", [_ALIASED.c.created_at, _ALIASED.c.id], [datetime, uuid.UUID], descending=True
)


async def onboardings_page(
    conn: AsyncConnection,
    product: str,
    hubs: list[str],
    *,
    external_user_id: str | None,
    stage: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row[Any]], str | None]:
    """A product's onboardings in ``hubs``, newest first, optionally of one user or stage."""
    o = _ALIASED.c
    # One hub by equality: its (hub, stage, created_at) index then yields the newest first.
    in_hubs = o.hub == hubs[0] if len(hubs) == 1 else o.hub.in_(hubs)
    query = select(_ALIASED).where(o.product == product, in_hubs)
    if external_user_id is not None:
        query = query.where(o.external_user_id == external_user_id)
    if stage is not None:
        query = query.where(text(stage_filter(stage)))
    return await fetch_page(conn, query, NEWEST_FIRST, limit, cursor)


async def product_onboarding(
    conn: AsyncConnection, product: str, onboarding_id: uuid.UUID
) -> Row[Any] | None:
    query = select(t.onboardings).where(_O.id == onboarding_id, _O.product == product)
    return (await conn.execute(query)).first()


async def product_onboarding_by_state(
    conn: AsyncConnection, product: str, state_sha256: bytes
) -> Row[Any] | None:
    query = select(t.onboardings).where(_O.state_sha256 == state_sha256, _O.product == product)
    return (await conn.execute(query)).first()


async def user_has_client(conn: AsyncConnection, hub: str, external_user_id: str) -> bool:
    """Whether the user onboarded a client on this hub before (a returning client)."""
    found = await conn.scalar(
        select(t.clients.c.client_id)
        .where(t.clients.c.hub == hub, t.clients.c.external_user_id == external_user_id)
        .limit(1)
    )
    return found is not None
