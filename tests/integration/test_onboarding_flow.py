"""From an onboarding request to a live channel with its key handed to the product."""

from __future__ import annotations

import httpx
from sqlalchemy import create_engine, text

from onboard360.domain import RedirectResult, format_redirect
from tests.stack import Stack, running_stack


def state_of(created: dict[str, str]) -> str:
    return httpx.URL(created["connect_url"]).params["start"]


def redirect(
    stack: Stack,
    hub: str,
    state: str,
    client: str,
    channels: list[str],
    *,
    revoked: list[str] | None = None,
) -> httpx.Response:
    query = format_redirect(RedirectResult(client, tuple(channels), tuple(revoked or ()), state))
    return httpx.get(f"{stack.service_url}/connect/{hub}?{query}")


def onboard_in_sandbox(
    stack: Stack, hub: str, *, permission: bool | None = None, numbers: int = 1
) -> tuple[str, list[str]]:
    partner_id = stack.hub(hub).partner_id
    client = stack.sandbox.create_client(
        partner_id, "Acme", "ops@acme.test", api_key_permission=permission
    )
    channels = [
        stack.sandbox.create_channel(client.id, f"+49151000000{n}").id for n in range(numbers)
    ]
    return client.id, channels


def test_partner_payment_channel_goes_live_with_one_key(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = onboard_in_sandbox(stack, "pp")
    assert redirect(stack, "pp", state_of(created), client, channels).status_code == 200
    stack.settle()
    view = stack.api.get(f"/api/v1/onboardings/{created['id']}").json()
    assert view["stage"] == "connecting"
    assert view["channels"][0]["reason"].startswith("the channel is not running yet")

    stack.sandbox.set_status(channels[0], "running")
    stack.settle()

    assert stack.sandbox.channel(channels[0]).keys_generated == 1
    view = stack.api.get(f"/api/v1/onboardings/{created['id']}").json()
    assert view["stage"] == "live"
    key = stack.api.get(f"/api/v1/channels/{channels[0]}/api-key").json()["api_key"]
    messaging = httpx.get(f"{stack.sandbox_url}/v1/configs/webhook", headers={"D360-API-KEY": key})
    assert messaging.status_code == 200
    events = [e["type"] for e in stack.product_events()]
    assert "channel.activated" in events


def test_direct_payment_without_permission_gets_no_key_and_says_why(stack: Stack) -> None:
    created = stack.start_onboarding("dp")
    client, channels = onboard_in_sandbox(stack, "dp", permission=False)
    redirect(stack, "dp", state_of(created), client, channels)
    stack.sandbox.set_status(channels[0], "running")
    stack.settle()

    assert stack.sandbox.channel(channels[0]).keys_generated == 0
    channel = stack.api.get(f"/api/v1/channels/{channels[0]}").json()
    assert channel["api_key_available"] is False
    assert "permission" in channel["reason"]
    assert channel["permission"] == "refused"
    events = {e["type"]: e["data"] for e in stack.product_events()}
    # The redirect shared the number; only 360dialog's refusal says API-key permission is
    # missing, and nothing ever claimed it was granted.
    assert events["channel.shared"]["shared"] is True
    assert events["channel.permission_refused"]["key_permission"] == "refused"
    assert "channel.permission_granted" not in events


def test_direct_payment_key_generated_tells_the_product_permission_was_granted(
    stack: Stack,
) -> None:
    created = stack.start_onboarding("dp")
    client, channels = onboard_in_sandbox(stack, "dp", permission=True)
    redirect(stack, "dp", state_of(created), client, channels)
    stack.settle()
    types = [e["type"] for e in stack.product_events()]
    assert "channel.shared" in types
    assert "channel.permission_granted" not in types  # shared, not running: nothing tried
    assert stack.api.get(f"/api/v1/channels/{channels[0]}").json()["permission"] == "shared"

    stack.sandbox.set_status(channels[0], "running")
    stack.settle()
    events = [e for e in stack.product_events() if e["data"].get("channel_id") == channels[0]]
    types = [e["type"] for e in events]
    assert types.index("channel.permission_granted") < types.index("channel.activated")
    granted = events[types.index("channel.permission_granted")]["data"]
    assert (granted["shared"], granted["key_permission"]) == (True, "granted")
    assert stack.api.get(f"/api/v1/channels/{channels[0]}").json()["permission"] == "granted"


def test_replayed_redirect_changes_nothing(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = onboard_in_sandbox(stack, "pp")
    stack.sandbox.set_status(channels[0], "running")
    first = redirect(stack, "pp", state_of(created), client, channels)
    stack.settle()
    again = redirect(stack, "pp", state_of(created), client, channels)
    stack.settle()
    assert (first.status_code, again.status_code) == (200, 200)
    assert stack.sandbox.channel(channels[0]).keys_generated == 1


def test_a_different_redirect_for_a_used_state_is_refused(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = onboard_in_sandbox(stack, "pp", numbers=2)
    redirect(stack, "pp", state_of(created), client, channels[:1])
    answer = redirect(stack, "pp", state_of(created), client, channels)
    assert answer.status_code == 409
    assert "already completed" in answer.text


def test_unknown_state_is_refused_and_records_nothing(stack: Stack) -> None:
    client, channels = onboard_in_sandbox(stack, "pp")
    answer = redirect(stack, "pp", "not-a-state-we-made", client, channels)
    assert answer.status_code == 400
    assert stack.api.get(f"/api/v1/channels/{channels[0]}").status_code == 404


def test_readyz_says_ready_on_a_migrated_database(stack: Stack) -> None:
    answer = httpx.get(f"{stack.service_url}/readyz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ready"


def test_readyz_says_which_migration_is_missing(stack: Stack) -> None:
    engine = create_engine(stack.database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    engine.dispose()
    answer = httpx.get(f"{stack.service_url}/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "migrations_pending"


def test_activated_channel_gets_its_messaging_webhook_pointed_at_the_product(
    database_url: str,
) -> None:
    with running_stack(database_url, messaging_webhook=True) as stack:
        created = stack.start_onboarding("pp")
        client, channels = onboard_in_sandbox(stack, "pp")
        stack.sandbox.set_status(channels[0], "running")
        redirect(stack, "pp", state_of(created), client, channels)
        stack.settle()
        configured = stack.sandbox.channel(channels[0]).messaging_webhook
        assert configured is not None
        assert configured["url"].endswith("/inbound")


def test_a_returning_user_is_sent_to_the_popups_login(stack: Stack) -> None:
    first = stack.start_onboarding("pp", "crm-user-9")
    assert first["returning_client"] is False
    client, channels = onboard_in_sandbox(stack, "pp")
    redirect(stack, "pp", first["state"], client, channels)

    again = stack.start_onboarding("pp", "crm-user-9")
    popup = httpx.get(again["popup_url"], follow_redirects=False)

    assert again["returning_client"] is True
    assert popup.status_code == 303
    assert "next=login" in popup.headers["location"]
    first_popup = httpx.get(first["popup_url"], follow_redirects=False)
    assert "next=login" not in first_popup.headers["location"]
