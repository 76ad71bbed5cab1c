"""Partner webhooks from the sandbox, over real HTTP, to a recording sink."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest

from onboard360.hub.platform import SIGNATURE_HEADER
from onboard360.hub.signatures import webhook_signature_valid
from onboard360.runtime.serving import free_port
from tests.sandbox_fixtures import (
    FAST,
    WebhookSink,
    create_channel,
    create_client,
    create_hub,
    hub_with_channel,
    logged,
    running_sandbox,
    running_sink,
    wait_until,
)

SECRET = "platform-secret-0123456789"
# Waits are lower bounds (a loaded machine only makes them longer), but timestamps come from
# the wall clock and sleeps from the monotonic one: allow them to differ by this much.
SLACK = 0.05


@pytest.fixture
def sink() -> Iterator[tuple[WebhookSink, str]]:
    with running_sink() as pair:
        yield pair


@pytest.fixture
def base() -> Iterator[str]:
    with running_sandbox() as url:
        yield url


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def received(sink: WebhookSink, count: int) -> list[Any]:
    return wait_until(
        lambda: (r := sink.requests()) and len(r) >= count and r,
        what=f"{count} webhook(s) at the sink",
    )


def test_client_created_is_posted_to_the_hub_webhook_url(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    hub = create_hub(base, webhook_url=url, auto_advance=False)
    client = create_client(base, hub["partner_id"], name="Acme")

    (request,) = received(recorder, 1)
    body = request.json()
    assert request.path == "/hooks/partner"
    assert request.headers["content-type"] == "application/json"
    assert set(body) == {"id", "event", "created_at", "payload"}
    assert body["event"] == "client_created"
    assert body["payload"]["id"] == client["id"]


def test_auto_advance_sends_created_ready_running_in_order(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    hub = create_hub(base, webhook_url=url)
    client = create_client(base, hub["partner_id"])
    channel = create_channel(base, client["id"])

    wait_until(
        lambda: httpx.get(f"{base}/sandbox/channels/{channel['id']}").json()["status"] == "running",
        what="channel running",
    )
    requests = received(recorder, 4)
    assert [r.event for r in requests] == [
        "client_created",
        "channel_created",
        "channel_ready",
        "channel_running",
    ]
    statuses = [r.json()["payload"]["status"] for r in requests[1:]]
    assert statuses == ["pending", "ready", "running"]


def test_step_delay_spaces_the_lifecycle_steps(base: str, sink: tuple[WebhookSink, str]) -> None:
    recorder, url = sink
    hub_with_channel(base, webhook_url=url, step_delay_seconds=0.2)

    requests = received(recorder, 4)
    created, ready, running_ = (when(r.json()["created_at"]) for r in requests[1:])
    assert (ready - created).total_seconds() >= 0.2 - SLACK
    assert (running_ - ready).total_seconds() >= 0.2 - SLACK


def test_without_auto_advance_a_channel_stays_pending(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    _, channel = hub_with_channel(base, webhook_url=url, auto_advance=False)

    assert [r.event for r in received(recorder, 2)] == ["client_created", "channel_created"]
    assert httpx.get(f"{base}/sandbox/channels/{channel['id']}").json()["status"] == "pending"


def test_webhooks_are_signed_with_the_platform_secret(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    hub = create_hub(base, webhook_url=url, platform_secret=SECRET, auto_advance=False)
    create_client(base, hub["partner_id"])

    (request,) = received(recorder, 1)
    signature = request.headers[SIGNATURE_HEADER]
    assert webhook_signature_valid(SECRET, request.body, signature)
    assert not webhook_signature_valid("another-secret-0123456", request.body, signature)


def test_webhooks_are_unsigned_without_a_platform_secret(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    hub = create_hub(base, webhook_url=url, auto_advance=False)
    create_client(base, hub["partner_id"])

    (request,) = received(recorder, 1)
    assert SIGNATURE_HEADER not in request.headers


def test_custom_headers_are_sent_with_every_webhook(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    headers = {"Authorization": "custom-secret", "X-Partner-Tag": "eu"}
    hub_with_channel(base, webhook_url=url, webhook_headers=headers)

    for request in received(recorder, 4):
        assert request.headers["authorization"] == "custom-secret"
        assert request.headers["x-partner-tag"] == "eu"


def test_failed_delivery_is_retried_with_backoff(sink: tuple[WebhookSink, str]) -> None:
    recorder, url = sink
    recorder.answer_next(500, 500)
    # A backoff long enough to measure: 0.2 s after the first failure, 0.4 s after the second.
    with running_sandbox(
        settings=replace(FAST, retry_base_seconds=0.2, retry_max_seconds=1)
    ) as base:
        hub = create_hub(base, webhook_url=url, auto_advance=False)
        create_client(base, hub["partner_id"])

        requests = received(recorder, 3)
        log = logged(base, 3, partner_id=hub["partner_id"])
    assert len({r.body for r in requests}) == 1
    assert [(d["attempt"], d["outcome"], d["status_code"]) for d in log] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "delivered", 200),
    ]
    starts = [when(d["started_at"]) for d in log]
    assert (starts[1] - starts[0]).total_seconds() >= 0.2 - SLACK
    assert (starts[2] - starts[1]).total_seconds() >= 0.4 - SLACK


def test_delivery_gives_up_after_the_last_attempt(base: str) -> None:
    with running_sink(default_status=503) as (recorder, url):
        hub = create_hub(base, webhook_url=url, auto_advance=False)
        create_client(base, hub["partner_id"])

        received(recorder, 4)
        log = logged(base, 4)
        assert [d["attempt"] for d in log] == [1, 2, 3, 4]
        assert {d["outcome"] for d in log} == {"failed"}
        assert httpx.get(f"{base}/sandbox/deliveries").json()["pending"] == 0


def test_unreachable_receiver_is_logged_as_error(base: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks"
    hub = create_hub(base, webhook_url=url, auto_advance=False)
    create_client(base, hub["partner_id"])

    log = logged(base, 4)
    assert {d["outcome"] for d in log} == {"error"}
    assert all(d["error"] and d["status_code"] is None for d in log)


def test_event_without_webhook_url_is_logged_as_skipped(base: str) -> None:
    hub = create_hub(base, auto_advance=False)
    create_client(base, hub["partner_id"])

    (entry,) = logged(base, 1)
    assert entry["outcome"] == "skipped"
    assert entry["error"] == "no webhook url"
    assert entry["event"] == "client_created"


def test_events_of_one_hub_arrive_in_emission_order(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    recorder.answer_next(500)  # a retry of the first event must not let later ones overtake it
    hub = create_hub(base, webhook_url=url, auto_advance=False)
    client = create_client(base, hub["partner_id"])
    channels = [create_channel(base, client["id"]) for _ in range(5)]

    expected = [("client_created", client["id"])] + [("channel_created", c["id"]) for c in channels]
    requests = received(recorder, 7)
    delivered = [(r.event, r.json()["payload"]["id"]) for r in requests[1:]]
    assert delivered == expected


def test_duplicate_fault_sends_the_same_body_twice(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    faults = {"webhook_duplicate_rate": 1.0}
    hub = create_hub(base, webhook_url=url, auto_advance=False, faults=faults)
    create_client(base, hub["partner_id"])

    first, second = received(recorder, 2)
    assert first.body == second.body
    log = logged(base, 2)
    assert [d["duplicate"] for d in log] == [False, True]
    assert log[0]["event_id"] == log[1]["event_id"]


def test_drop_fault_sends_nothing_but_logs_it(base: str, sink: tuple[WebhookSink, str]) -> None:
    recorder, url = sink
    hub = create_hub(base, webhook_url=url, auto_advance=False, faults={"webhook_drop_rate": 1.0})
    create_client(base, hub["partner_id"])

    (entry,) = logged(base, 1)
    assert entry["outcome"] == "dropped"
    assert httpx.get(f"{base}/sandbox/deliveries").json()["pending"] == 0
    assert recorder.requests() == []


def test_reorder_fault_shuffles_a_burst_of_events(base: str, sink: tuple[WebhookSink, str]) -> None:
    recorder, url = sink
    hub = create_hub(base, webhook_url=url, faults={"webhook_reorder": True})
    seeded = httpx.post(
        f"{base}/sandbox/hubs/{hub['partner_id']}/seed",
        json={"clients": 6, "status": "pending", "webhooks": True, "ids": True},
    ).json()

    emitted: list[tuple[str, str]] = []
    for client_id, channel_id in zip(seeded["client_ids"], seeded["channel_ids"], strict=True):
        emitted += [("client_created", client_id), ("channel_created", channel_id)]
    requests = received(recorder, 12)
    arrived = [(r.event, r.json()["payload"]["id"]) for r in requests]
    assert Counter(arrived) == Counter(emitted)
    assert arrived != emitted


def test_delay_fault_holds_each_event(base: str, sink: tuple[WebhookSink, str]) -> None:
    recorder, url = sink
    faults = {"webhook_delay_seconds": 0.3}
    hub = create_hub(base, webhook_url=url, auto_advance=False, faults=faults)
    create_client(base, hub["partner_id"])

    received(recorder, 1)
    (entry,) = logged(base, 1)
    event_created = when(recorder.requests()[0].json()["created_at"])
    assert (when(entry["started_at"]) - event_created).total_seconds() >= 0.3 - SLACK


def test_faults_switch_at_run_time(base: str, sink: tuple[WebhookSink, str]) -> None:
    recorder, url = sink
    hub = create_hub(base, webhook_url=url, auto_advance=False, faults={"webhook_drop_rate": 1.0})
    pid = hub["partner_id"]
    create_client(base, pid, name="Dropped")
    logged(base, 1)

    answer = httpx.patch(f"{base}/sandbox/hubs/{pid}/faults", json={"webhook_drop_rate": 0})
    assert answer.status_code == 200
    create_client(base, pid, name="Delivered")

    (request,) = received(recorder, 1)
    assert request.json()["payload"]["name"] == "Delivered"


def test_webhook_url_change_applies_to_the_next_event(base: str) -> None:
    with running_sink() as (old, old_url), running_sink() as (new, new_url):
        hub = create_hub(base, webhook_url=old_url, auto_advance=False)
        pid = hub["partner_id"]
        create_client(base, pid)
        received(old, 1)
        httpx.patch(f"{base}/sandbox/hubs/{pid}", json={"webhook_url": new_url})
        create_client(base, pid)

        received(new, 1)
        assert len(old.requests()) == 1
