"""The webhook dispatcher without sockets: httpx.MockTransport stands in for the partner."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable

import httpx

from onboard360.hub.platform import SIGNATURE_HEADER
from onboard360.hub.signatures import webhook_signature_valid
from onboard360.sandbox.models import Faults
from onboard360.sandbox.state import Hub, Sandbox
from onboard360.sandbox.webhooks import (
    DeliverySettings,
    WebhookDispatcher,
    encode_body,
    webhook_headers,
)
from tests.sandbox_fixtures import FAST, hub_spec

SECRET = "platform-secret-0123456789"


class Partner:
    """Records requests; answers ``statuses`` in turn, then 200."""

    def __init__(self, *statuses: int) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = list(statuses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def events(self) -> list[str]:
        return [json.loads(r.content)["event"] for r in self.requests]


def world_with(
    partner: Partner,
    settings: DeliverySettings = FAST,
    rng: random.Random | None = None,
    **spec: object,
) -> tuple[Sandbox, WebhookDispatcher, Hub]:
    world = Sandbox()
    dispatcher = WebhookDispatcher(world, settings, rng=rng, transport=httpx.MockTransport(partner))
    world.dispatcher = dispatcher
    hub = world.create_hub(hub_spec(**{"webhook_url": "http://partner.test/hooks", **spec}))
    return world, dispatcher, hub


async def settle(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition`` holds (at most about two seconds)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = DeliverySettings(retry_base_seconds=1, retry_max_seconds=5)
    assert [settings.backoff(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


def test_headers_carry_custom_ones_but_never_override_the_request_itself() -> None:
    _, _, hub = world_with(
        Partner(),
        platform_secret=SECRET,
        webhook_headers={"Authorization": "abc", "Host": "evil.test", "Content-Length": "1"},
    )
    body = b'{"event":"client_created"}'
    headers = webhook_headers(hub, body)
    assert headers["authorization"] == "abc"
    assert "host" not in headers
    assert "content-length" not in headers
    assert headers["content-type"] == "application/json"
    assert webhook_signature_valid(SECRET, body, headers[SIGNATURE_HEADER])


def test_headers_have_no_signature_without_a_platform_secret() -> None:
    _, _, hub = world_with(Partner())
    assert SIGNATURE_HEADER not in webhook_headers(hub, b"{}")


def test_the_signed_bytes_are_the_sent_bytes() -> None:
    partner = Partner()
    world, dispatcher, hub = world_with(partner, platform_secret=SECRET)

    async def scenario() -> None:
        await dispatcher.start()
        event = world.emit(hub.partner_id, "client_created", {"id": "X1CL", "name": "Zoë"})
        await settle(lambda: len(partner.requests) == 1)
        await dispatcher.stop()
        (request,) = partner.requests
        assert request.content == encode_body(event)
        assert webhook_signature_valid(SECRET, request.content, request.headers[SIGNATURE_HEADER])

    asyncio.run(scenario())


def test_events_sent_before_start_are_delivered_in_order_after_it() -> None:
    partner = Partner()
    world, dispatcher, hub = world_with(partner)
    client = world.create_client(hub.partner_id, "Acme", "a@example.test")
    world.create_channel(client.id, "+4915100000001")

    async def scenario() -> None:
        await dispatcher.start()
        await settle(lambda: len(partner.requests) == 2)
        await dispatcher.stop()

    asyncio.run(scenario())
    assert partner.events() == ["client_created", "channel_created"]


def test_retries_keep_later_events_waiting() -> None:
    partner = Partner(500, 502)
    world, dispatcher, hub = world_with(partner)

    async def scenario() -> None:
        await dispatcher.start()
        world.emit(hub.partner_id, "client_created", {"id": "A"})
        world.emit(hub.partner_id, "channel_created", {"id": "B"})
        await settle(lambda: len(partner.requests) == 4)
        await dispatcher.stop()

    asyncio.run(scenario())
    assert partner.events() == ["client_created"] * 3 + ["channel_created"]
    outcomes = [(a.event, a.attempt, a.outcome) for a in dispatcher.attempts()]
    assert outcomes == [
        ("client_created", 1, "failed"),
        ("client_created", 2, "failed"),
        ("client_created", 3, "delivered"),
        ("channel_created", 1, "delivered"),
    ]


def test_auto_advance_requested_before_start_runs_after_it() -> None:
    partner = Partner()
    world, dispatcher, hub = world_with(partner, auto_advance=True)
    channel = world.create_channel(
        world.create_client(hub.partner_id, "Acme", "a@example.test").id, "+4915100000001"
    )

    async def scenario() -> None:
        await dispatcher.start()
        await settle(lambda: len(partner.requests) == 4)
        await dispatcher.stop()

    asyncio.run(scenario())
    assert channel.status == "running"
    assert partner.events()[1:] == ["channel_created", "channel_ready", "channel_running"]


def test_same_seed_gives_the_same_faults() -> None:
    def outcomes(seed: int) -> list[tuple[str, bool]]:
        partner = Partner()
        faults = Faults(webhook_drop_rate=0.5, webhook_duplicate_rate=0.5)
        world, dispatcher, hub = world_with(partner, rng=random.Random(seed), faults=faults)

        async def scenario() -> None:
            await dispatcher.start()
            for n in range(20):
                world.emit(hub.partner_id, "client_created", {"id": f"C{n}"})
            await settle(lambda: dispatcher.pending == 0)
            await dispatcher.stop()

        asyncio.run(scenario())
        return [(a.outcome, a.duplicate) for a in dispatcher.attempts()]

    first = outcomes(7)
    assert first == outcomes(7)
    assert {o for o, _ in first} == {"dropped", "delivered"}
    assert any(duplicate for _, duplicate in first)


def test_send_from_another_thread_is_handed_to_the_loop() -> None:
    partner = Partner()
    world, dispatcher, hub = world_with(partner)

    async def scenario() -> None:
        await dispatcher.start()
        await asyncio.to_thread(world.emit, hub.partner_id, "client_created", {"id": "T"})
        await settle(lambda: len(partner.requests) == 1)
        await dispatcher.stop()

    asyncio.run(scenario())


def test_stop_cancels_a_delivery_waiting_to_retry() -> None:
    partner = Partner(*[500] * 10)
    # An hour's wait: only cancelling it lets stop() return within the test's timeout.
    slow = DeliverySettings(max_attempts=10, retry_base_seconds=3600, retry_max_seconds=3600)
    world, dispatcher, hub = world_with(partner, settings=slow)

    async def scenario() -> None:
        await dispatcher.start()
        world.emit(hub.partner_id, "client_created", {"id": "A"})
        await settle(lambda: len(partner.requests) == 1)
        assert dispatcher.pending == 1
        await asyncio.wait_for(dispatcher.stop(), timeout=60)
        assert len(partner.requests) == 1

    asyncio.run(scenario())


def test_attempts_filter_and_keep_the_newest() -> None:
    partner = Partner()
    world, dispatcher, hub = world_with(partner)

    async def scenario() -> None:
        await dispatcher.start()
        for n in range(5):
            world.emit(hub.partner_id, "client_created", {"id": f"C{n}"})
        world.emit(hub.partner_id, "channel_created", {"id": "CH"})
        await settle(lambda: len(partner.requests) == 6)
        await dispatcher.stop()

    asyncio.run(scenario())
    assert len(dispatcher.attempts(event="client_created")) == 5
    assert [a.subject_id for a in dispatcher.attempts(limit=2)] == ["C4", "CH"]
    assert dispatcher.attempts(partner_id="OTHERPA") == []


def test_switching_auto_advance_off_stops_a_channel_waiting_for_its_next_step() -> None:
    partner = Partner()
    world, dispatcher, hub = world_with(partner, auto_advance=True, step_delay_seconds=0.05)

    async def scenario() -> None:
        await dispatcher.start()
        client = world.create_client(hub.partner_id, "Acme", "a@example.test")
        channel = world.create_channel(client.id, "+4915100000001")
        await asyncio.sleep(0)  # the advance task starts and waits for its first step
        hub.auto_advance = False
        await settle(lambda: not dispatcher._tasks)
        await dispatcher.stop()
        assert channel.status == "pending"

    asyncio.run(scenario())


def test_a_url_httpx_cannot_parse_is_logged_as_an_error_not_lost() -> None:
    partner = Partner()
    world, dispatcher, hub = world_with(partner)
    # Validation refuses such URLs now; a hub holding one must still not lose its events.
    hub.webhook_url = "http://partner.test:port/hooks"

    async def scenario() -> None:
        await dispatcher.start()
        world.emit(hub.partner_id, "client_created", {"id": "A"})
        await settle(lambda: dispatcher.pending == 0 and bool(dispatcher.attempts()))
        await dispatcher.stop()

    asyncio.run(scenario())
    attempts = dispatcher.attempts()
    assert [a.attempt for a in attempts] == list(range(1, FAST.max_attempts + 1))
    assert {a.outcome for a in attempts} == {"error"}
    assert all("InvalidURL" in (a.error or "") for a in attempts)
    assert partner.requests == []
