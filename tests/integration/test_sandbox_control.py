"""The sandbox's control API at /sandbox, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from onboard360.hub.platform import ON_DEMAND_EVENTS
from tests.sandbox_fixtures import (
    WebhookSink,
    create_channel,
    create_client,
    create_hub,
    hub_with_channel,
    running_sandbox,
    running_sink,
    wait_until,
)


@pytest.fixture
def base() -> Iterator[str]:
    with running_sandbox() as url:
        yield url


@pytest.fixture
def sink() -> Iterator[tuple[WebhookSink, str]]:
    with running_sink() as pair:
        yield pair


@pytest.fixture
def running_channel(base: str) -> dict[str, str]:
    hub = create_hub(base, auto_advance=False)
    client = create_client(base, hub["partner_id"])
    channel = create_channel(base, client["id"])
    moved = httpx.post(
        f"{base}/sandbox/channels/{channel['id']}/status", json={"status": "running"}
    )
    assert moved.json()["status"] == "running", moved.text
    return {"partner_id": hub["partner_id"], "client_id": client["id"], "channel_id": channel["id"]}


# ---- hubs ------------------------------------------------------------------------------------


def test_create_hub_answers_ids_secrets_and_popup_url(base: str) -> None:
    hub = create_hub(base, platform_secret="s" * 20, billing="direct")

    assert hub["partner_id"].endswith("PA")
    assert len(hub["api_key"]) >= 16
    assert hub["username"]
    assert hub["password"]
    assert hub["platform_secret"] == "s" * 20
    assert hub["popup_url"] == f"{base}/dashboard/app/{hub['partner_id']}"
    assert hub["billing"] == "direct"


def test_create_hub_with_a_taken_partner_id_is_a_conflict(base: str) -> None:
    create_hub(base, partner_id="ACME01PA")
    answer = httpx.post(
        f"{base}/sandbox/hubs", json={"partner_id": "ACME01PA", "redirect_url": "http://x/"}
    )
    assert answer.status_code == 409


def test_list_hubs_leaves_secrets_out_and_get_hub_shows_them(base: str) -> None:
    hub = create_hub(base)
    (listed,) = httpx.get(f"{base}/sandbox/hubs").json()["hubs"]
    assert listed["partner_id"] == hub["partner_id"]
    assert "api_key" not in listed
    assert "password" not in listed

    got = httpx.get(f"{base}/sandbox/hubs/{hub['partner_id']}").json()
    assert got["api_key"] == hub["api_key"]


def test_patch_hub_changes_only_the_given_settings(base: str) -> None:
    hub = create_hub(base, faults={"webhook_drop_rate": 0.5})
    answer = httpx.patch(
        f"{base}/sandbox/hubs/{hub['partner_id']}",
        json={
            "webhook_url": "http://127.0.0.1:9/new",
            "step_delay_seconds": 2,
            "faults": {"webhook_reorder": True},
        },
    )
    assert answer.status_code == 200, answer.text
    patched = answer.json()
    assert patched["webhook_url"] == "http://127.0.0.1:9/new"
    assert patched["step_delay_seconds"] == 2
    assert patched["faults"]["webhook_reorder"] is True
    assert patched["faults"]["webhook_drop_rate"] == 0.5
    assert patched["api_key"] == hub["api_key"]


@pytest.mark.parametrize(
    ("patch", "status"),
    [
        ({"partner_id": "OTHERPA"}, 400),
        ({"billing": "direct"}, 400),
        ({"webhook_url": "ftp://nope"}, 422),
        ({"step_delay_seconds": -1}, 422),
        ({"faults": {"webhook_drop_rate": 2}}, 422),
        ({"faults": {"no_such_fault": True}}, 422),
    ],
)
def test_patch_hub_refuses_bad_changes(base: str, patch: dict[str, object], status: int) -> None:
    hub = create_hub(base)
    answer = httpx.patch(f"{base}/sandbox/hubs/{hub['partner_id']}", json=patch)
    assert answer.status_code == status, answer.text
    assert answer.json()["meta"]["developer_message"]
    unchanged = httpx.get(f"{base}/sandbox/hubs/{hub['partner_id']}").json()
    assert unchanged == {**hub, "faults": unchanged["faults"]}
    assert unchanged["faults"] == hub["faults"]


def test_patch_faults_is_partial(base: str) -> None:
    hub = create_hub(base, faults={"webhook_duplicate_rate": 0.2})
    answer = httpx.patch(
        f"{base}/sandbox/hubs/{hub['partner_id']}/faults", json={"webhook_drop_rate": 0.1}
    )
    assert answer.status_code == 200
    assert answer.json()["webhook_duplicate_rate"] == 0.2
    assert answer.json()["webhook_drop_rate"] == 0.1


def test_unknown_ids_are_not_found(base: str) -> None:
    assert httpx.get(f"{base}/sandbox/hubs/NOPEPA").status_code == 404
    assert httpx.get(f"{base}/sandbox/channels/NOPECH").status_code == 404
    assert httpx.get(f"{base}/sandbox/clients/NOPECL").status_code == 404
    assert httpx.post(f"{base}/sandbox/hubs/NOPEPA/clients", json={}).status_code == 404
    assert httpx.post(f"{base}/sandbox/clients/NOPECL/channels", json={}).status_code == 404
    answer = httpx.post(f"{base}/sandbox/channels/NOPECH/status", json={"status": "running"})
    assert answer.status_code == 404
    assert "NOPECH" in answer.json()["meta"]["developer_message"]


# ---- clients, channels, lifecycle ----------------------------------------------------------


def test_direct_payment_clients_start_without_api_key_permission(base: str) -> None:
    hub = create_hub(base, billing="direct")
    assert create_client(base, hub["partner_id"])["api_key_permission"] is False
    partner = create_hub(base)
    assert create_client(base, partner["partner_id"])["api_key_permission"] is True


def test_channel_moves_to_any_status_sending_each_step(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    _, channel = hub_with_channel(base, webhook_url=url, auto_advance=False)

    answer = httpx.post(
        f"{base}/sandbox/channels/{channel['id']}/status", json={"status": "running"}
    )
    assert answer.json()["status"] == "running"
    assert answer.json()["billing_started_at"]
    wait_until(lambda: len(recorder.events()) >= 4, what="4 webhooks")
    assert recorder.events()[1:] == ["channel_created", "channel_ready", "channel_running"]


def test_channel_moves_back_to_an_earlier_status(
    base: str, running_channel: dict[str, str]
) -> None:
    cid = running_channel["channel_id"]
    answer = httpx.post(f"{base}/sandbox/channels/{cid}/status", json={"status": "ready"})
    assert answer.json()["status"] == "ready"
    assert httpx.get(f"{base}/sandbox/channels/{cid}").json()["status"] == "ready"


def test_unknown_status_is_refused(base: str, running_channel: dict[str, str]) -> None:
    cid = running_channel["channel_id"]
    answer = httpx.post(f"{base}/sandbox/channels/{cid}/status", json={"status": "flying"})
    assert answer.status_code == 400
    assert "flying" in answer.json()["meta"]["developer_message"]
    assert httpx.get(f"{base}/sandbox/channels/{cid}").json()["status"] == "running"


@pytest.mark.parametrize("event", ON_DEMAND_EVENTS)
def test_on_demand_events_are_sent(base: str, sink: tuple[WebhookSink, str], event: str) -> None:
    recorder, url = sink
    _, channel = hub_with_channel(base, webhook_url=url, auto_advance=False)

    answer = httpx.post(
        f"{base}/sandbox/channels/{channel['id']}/events",
        json={"event": event, "violation_type": "SCAM"},
    )
    assert answer.status_code == 202
    wait_until(lambda: event in recorder.events(), what=event)
    body = next(r.json() for r in recorder.requests() if r.event == event)
    assert body["id"] == answer.json()["event_id"]
    assert body["payload"]["phone_number"] == channel["setup_info"]["phone_number"]
    if "violation" in event or "restriction" in event:
        assert body["payload"]["violation_type"] == "SCAM"


def test_template_messaging_events_switch_the_channel_flag(
    base: str, running_channel: dict[str, str]
) -> None:
    cid = running_channel["channel_id"]
    httpx.post(
        f"{base}/sandbox/channels/{cid}/events", json={"event": "template_messaging_disabled"}
    )
    assert httpx.get(f"{base}/sandbox/channels/{cid}").json()["template_messaging"] is False


def test_unknown_event_is_refused(base: str, running_channel: dict[str, str]) -> None:
    cid = running_channel["channel_id"]
    answer = httpx.post(f"{base}/sandbox/channels/{cid}/events", json={"event": "channel_exploded"})
    assert answer.status_code == 400
    assert "channel_exploded" in answer.json()["meta"]["developer_message"]


# ---- permissions and keys ------------------------------------------------------------------


def test_revoking_api_key_permission_is_visible_on_the_client(
    base: str, running_channel: dict[str, str]
) -> None:
    client_id = running_channel["client_id"]
    url = f"{base}/sandbox/clients/{client_id}/api-key-permission"
    assert httpx.post(url, json={"granted": False}).json()["api_key_permission"] is False
    assert httpx.get(f"{base}/sandbox/clients/{client_id}").json()["api_key_permission"] is False
    assert httpx.post(url, json={"granted": True}).json()["api_key_permission"] is True


def test_unsharing_a_channel_is_visible_on_the_channel(
    base: str, running_channel: dict[str, str]
) -> None:
    cid = running_channel["channel_id"]
    answer = httpx.post(f"{base}/sandbox/channels/{cid}/sharing", json={"shared": False})
    assert answer.json()["shared"] is False


def test_key_counts_start_at_zero(base: str, running_channel: dict[str, str]) -> None:
    pid, cid = running_channel["partner_id"], running_channel["channel_id"]
    assert httpx.get(f"{base}/sandbox/channels/{cid}").json()["keys_generated"] == 0
    counts = httpx.get(f"{base}/sandbox/hubs/{pid}/key-counts").json()
    assert counts == {"partner_id": pid, "key_counts": {cid: 0}, "total": 0}
    only = httpx.get(f"{base}/sandbox/hubs/{pid}/key-counts", params={"only_with_keys": True})
    assert only.json()["key_counts"] == {}


# ---- seeding ---------------------------------------------------------------------------------


def test_seed_creates_running_channels_without_webhooks(
    base: str, sink: tuple[WebhookSink, str]
) -> None:
    recorder, url = sink
    hub = create_hub(base, webhook_url=url)
    pid = hub["partner_id"]
    answer = httpx.post(
        f"{base}/sandbox/hubs/{pid}/seed", json={"clients": 300, "channels_per_client": 2}
    )
    assert answer.status_code == 201
    assert answer.json()["channels_created"] == 600
    counts = httpx.get(f"{base}/sandbox/hubs/{pid}/key-counts").json()["key_counts"]
    assert len(counts) == 600
    some = next(iter(counts))
    assert httpx.get(f"{base}/sandbox/channels/{some}").json()["status"] == "running"
    assert httpx.get(f"{base}/sandbox/deliveries").json() == {"deliveries": [], "pending": 0}
    assert recorder.requests() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"clients": 0}, 422),
        ({"clients": "10"}, 422),
        ({"clients": 10, "status": "flying"}, 400),
        ({"clients": 200_000, "channels_per_client": 10}, 400),
    ],
)
def test_seed_refuses_bad_requests_and_creates_nothing(
    base: str, body: dict[str, object], status: int
) -> None:
    pid = create_hub(base)["partner_id"]
    answer = httpx.post(f"{base}/sandbox/hubs/{pid}/seed", json=body)
    assert answer.status_code == status, answer.text
    assert httpx.get(f"{base}/sandbox/hubs/{pid}/key-counts").json()["key_counts"] == {}


# ---- deliveries and hostile input ------------------------------------------------------------


def test_deliveries_filter_by_partner_event_and_limit(base: str) -> None:
    first = create_hub(base, auto_advance=False)["partner_id"]
    second = create_hub(base, auto_advance=False)["partner_id"]
    for _ in range(3):
        create_client(base, first)
    create_channel(base, create_client(base, second)["id"])

    wait_until(lambda: len(httpx.get(f"{base}/sandbox/deliveries").json()["deliveries"]) == 5)
    url = f"{base}/sandbox/deliveries"
    assert len(httpx.get(url, params={"partner_id": first}).json()["deliveries"]) == 3
    only = httpx.get(url, params={"event": "channel_created"}).json()["deliveries"]
    assert [d["partner_id"] for d in only] == [second]
    newest = httpx.get(url, params={"limit": 2}).json()["deliveries"]
    assert [d["event"] for d in newest] == ["client_created", "channel_created"]
    assert httpx.get(url, params={"limit": 0}).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        (
            "post",
            "/sandbox/hubs",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
        ),
        ("post", "/sandbox/hubs", {"json": ["a", "list"]}),
        ("post", "/sandbox/hubs", {"json": {"redirect_url": 42}}),
        ("post", "/sandbox/hubs", {"json": {"redirect_url": "javascript:alert(1)"}}),
        ("post", "/sandbox/hubs", {"json": {"redirect_url": "http://x/", "surprise": 1}}),
        ("post", "/sandbox/hubs", {"json": {"redirect_url": "http://x/", "partner_id": "../x"}}),
        ("post", "/sandbox/hubs", {"json": {"redirect_url": "http://x/", "auto_advance": "no"}}),
        ("post", "/sandbox/hubs", {"json": {"redirect_url": "http://x/", "faults": "none"}}),
        ("post", "/sandbox/hubs", {"json": {"redirect_url": "http://x:port/"}}),
        (
            "post",
            "/sandbox/hubs",
            {"json": {"redirect_url": "http://x/", "step_delay_seconds": "10"}},
        ),
    ],
)
def test_hostile_hub_bodies_get_a_clear_4xx(
    base: str, method: str, path: str, kwargs: dict[str, object]
) -> None:
    answer = httpx.request(method, f"{base}{path}", **kwargs)  # type: ignore[arg-type]
    assert answer.status_code == 422
    assert answer.json()["meta"]["developer_message"]
    assert httpx.get(f"{base}/sandbox/hubs").json()["hubs"] == []


def test_wrong_types_are_refused_not_coerced(base: str, running_channel: dict[str, str]) -> None:
    url = f"{base}/sandbox/clients/{running_channel['client_id']}/api-key-permission"
    assert httpx.post(url, json={"granted": "yes"}).status_code == 422
    assert httpx.post(url, json={}).status_code == 422
    status_url = f"{base}/sandbox/channels/{running_channel['channel_id']}/status"
    assert httpx.post(status_url, json={"status": 5}).status_code == 422


def test_huge_body_is_refused(base: str) -> None:
    big = {"redirect_url": "http://x/", "name": "x" * (70 * 1024)}
    answer = httpx.post(f"{base}/sandbox/hubs", json=big)
    assert answer.status_code == 413
    assert "request body over" in answer.json()["meta"]["developer_message"]
    assert httpx.get(f"{base}/sandbox/hubs").json()["hubs"] == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("", [1, 2]),
        ("", {"auto_advance": "true"}),
        ("/faults", {"webhook_reorder": "yes"}),
        ("/faults", "drop everything"),
    ],
)
def test_patch_refuses_wrong_types(base: str, path: str, body: object) -> None:
    hub = create_hub(base)
    answer = httpx.patch(f"{base}/sandbox/hubs/{hub['partner_id']}{path}", json=body)
    assert answer.status_code == 422, answer.text
    assert httpx.get(f"{base}/sandbox/hubs/{hub['partner_id']}").json() == hub


def test_key_counts_follow_keys_generated_through_the_partner_api(
    base: str, running_channel: dict[str, str]
) -> None:
    pid, cid = running_channel["partner_id"], running_channel["channel_id"]
    api_key = httpx.get(f"{base}/sandbox/hubs/{pid}").json()["api_key"]
    url = f"{base}/api/v2/partners/{pid}/channels/{cid}/api_keys"
    for _ in range(2):
        assert httpx.post(url, headers={"x-api-key": api_key}).is_success

    assert httpx.get(f"{base}/sandbox/channels/{cid}").json()["keys_generated"] == 2
    counts = httpx.get(f"{base}/sandbox/hubs/{pid}/key-counts").json()
    assert counts["key_counts"] == {cid: 2}
    assert counts["total"] == 2
    keys = httpx.get(f"{base}/sandbox/channels/{cid}").json()["api_keys"]
    assert [k["revoked_at"] is None for k in keys] == [False, True]
    assert all("value" not in k and "api_key" not in k for k in keys)
