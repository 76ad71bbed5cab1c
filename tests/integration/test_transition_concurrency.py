"""Two transitions that both find a channel missing: the one that creates it second
decides again from what the first one stored."""

from __future__ import annotations

import asyncio

from onboard360.domain import ChannelId, ChannelSnapshot, ClientId, Entitled, Entitlement
from onboard360.jobs.transition import Outcome, apply_inputs
from onboard360.wiring.service import open_service
from tests.integration.service_http import rows
from tests.stack import FAST_RETRY, Stack

CHANNEL = ChannelId("RaceCH01")
CLIENT = ClientId("RaceCL01")


def test_a_channel_created_meanwhile_is_decided_again_from_its_stored_state(
    stack: Stack,
) -> None:
    hub = stack.hub("pp")
    running = ChannelSnapshot(CHANNEL, "running", CLIENT, "+4917000000099")
    # Claimed in the same step, so that the first decision asks for a key.
    inputs = [running, Entitled(CHANNEL, Entitlement.CLAIMED)]

    async def race() -> Outcome:
        async with open_service(stack.settings, stack.database_url, retry=FAST_RETRY) as svc:
            product = svc.product_of(hub)
            async with svc.engine.connect() as first, svc.engine.connect() as second:
                await first.begin()
                await apply_inputs(first, hub, product, inputs, source="sync")
                # The second finds neither row (the first has not committed) and waits
                # on the first one's inserts.
                later = asyncio.create_task(
                    apply_inputs(second, hub, product, inputs, source="sync")
                )
                await asyncio.sleep(0.5)
                assert not later.done()
                await first.commit()
                outcome = await later
                await second.commit()
                return outcome

    outcome = asyncio.run(race())

    assert outcome.changed_channels == []
    assert outcome.effects == []
    # One line per input of the first transition; the second one added none.
    assert len(rows(stack, "SELECT * FROM timeline WHERE channel_id = %s", CHANNEL)) == 2
    assert len(rows(stack, "SELECT * FROM key_generations WHERE channel_id = %s", CHANNEL)) == 1
    events = rows(stack, "SELECT event_type FROM product_events ORDER BY event_type")
    assert [e["event_type"] for e in events] == [
        "channel.created",
        "channel.running",
        "client.created",
    ]
