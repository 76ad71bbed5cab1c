"""Read a channel's API key: the product's integration only, each read on the timeline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Row

from onboard360.db.queries.channel_rows import channel_in
from onboard360.jobs.keys import StoredKey, stored_key
from onboard360.jobs.transition import record
from onboard360.services.refusals import NotFound, Refused
from onboard360.services.source import Source
from onboard360.wiring.service import Service


class NoApiKey(Refused):
    """The channel has no API key yet."""

    code = "no_api_key"
    status = 409


async def read_api_key(
    service: Service,
    hubs: Sequence[str],
    channel_id: str,
    *,
    product: str,
    source: Source,
) -> tuple[Row[Any], StoredKey]:
    """The channel's row and its current key; the read is recorded (``api_key_read``)."""
    async with service.engine.begin() as conn:
        row = await channel_in(conn, list(hubs), channel_id)
        if row is None:
            raise NotFound("no such channel")
        hub = service.hub(row.hub)
        key = await stored_key(conn, service, hub, row.channel_id)
        if key is None:
            raise NoApiKey(row.reason or None)
        detail = {"product": product}
        await record(conn, hub, str(source), "api_key_read", detail, channel_id=row.channel_id)
    return row, key
