"""Bulk-create clients and channels quickly, for benchmarks (e.g. reconciling 100,000 channels).

Seeding goes through the same ``Sandbox`` methods as the popup, so seeded clients and
channels are indistinguishable from onboarded ones. It works in chunks and yields to the
event loop between them, so the sandbox keeps answering while a big seed runs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from onboard360.hub import platform as p
from onboard360.sandbox.control_models import SeedRequest
from onboard360.sandbox.entities import OutgoingEvent, SandboxError, unused_id
from onboard360.sandbox.state import Dispatcher, Sandbox, check_status

MAX_SEEDED_CHANNELS = 500_000
CHUNK = 500
# Wider ids than the default: 100,000 ids of 8 hex digits would often collide.
SEEDED_ID_BYTES = 6


class _SeedDispatcher:
    """Stands in for the real dispatcher during a chunk: forwards events only when asked,
    and never auto-advances (seeding sets the wanted status itself)."""

    def __init__(self, real: Dispatcher, webhooks: bool) -> None:
        self.real = real
        self.webhooks = webhooks

    def send(self, event: OutgoingEvent) -> None:
        if self.webhooks:
            self.real.send(event)

    def advance_later(self, channel_id: str) -> None:
        pass


async def seed_hub(world: Sandbox, partner_id: str, request: SeedRequest) -> dict[str, Any]:
    """Create ``request.clients`` clients with ``channels_per_client`` channels each."""
    world.hub(partner_id)
    check_status(request.status)
    if request.clients * request.channels_per_client > MAX_SEEDED_CHANNELS:
        raise SandboxError(f"at most {MAX_SEEDED_CHANNELS} channels per seed")
    began = time.monotonic()
    client_ids: list[str] = []
    channel_ids: list[str] = []
    done = 0
    while done < request.clients:
        chunk = range(done, min(done + CHUNK, request.clients))
        real = world.dispatcher
        # Swapped only while this synchronous chunk runs, so no other handler sees it.
        world.dispatcher = _SeedDispatcher(real, request.webhooks)
        try:
            for number in chunk:
                _seed_client(world, partner_id, request, number, ids=(client_ids, channel_ids))
        finally:
            world.dispatcher = real
        done = chunk.stop
        await asyncio.sleep(0)
    answer: dict[str, Any] = {
        "partner_id": partner_id,
        "clients_created": len(client_ids),
        "channels_created": len(channel_ids),
        "seconds": round(time.monotonic() - began, 3),
    }
    if request.ids:
        answer.update(client_ids=client_ids, channel_ids=channel_ids)
    return answer


def _seed_client(
    world: Sandbox,
    partner_id: str,
    request: SeedRequest,
    number: int,
    *,
    ids: tuple[list[str], list[str]],
) -> None:
    client_ids, channel_ids = ids
    client = world.create_client(
        partner_id,
        f"Seeded client {number + 1}",
        f"seed-{number + 1}@example.com",
        api_key_permission=request.api_key_permission,
        client_id=unused_id(world.clients, p.CLIENT_ID_SUFFIX, SEEDED_ID_BYTES),
    )
    client_ids.append(client.id)
    for _ in range(request.channels_per_client):
        channel = world.create_channel(
            client.id,
            f"+49156{len(world.channels) + 1:08d}",
            channel_id=unused_id(world.channels, p.CHANNEL_ID_SUFFIX, SEEDED_ID_BYTES),
        )
        if request.status != p.STATUS_PENDING:
            world.set_status(channel.id, request.status)
        channel_ids.append(channel.id)
