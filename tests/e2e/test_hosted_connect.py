"""The whole flow in Chromium through the service's hosted connect page.

Sandbox (numbers advance to running by themselves, and the redirect carries no ``state``),
service, product sink and a live worker; each test starts where a partner's product would:
POST /api/v1/onboardings, then the person opens the ``connect_url`` it answered.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.popup_steps import (
    add_numbers,
    channel_id_of,
    choose_api_key_permission,
    expect_live,
    log_in,
    open_popup,
    row_of,
    share_and_finish,
    sign_up,
    sign_up_for_direct_payment,
)
from tests.e2e.service_stack import hosted_page_stack, onboard_over_http, product_received
from tests.integration.service_http import rows
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack

pytestmark = pytest.mark.browser


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with hosted_page_stack(database_url) as s:
        yield s


def assert_no_state_came_back(stack: Stack, onboarding_id: str) -> None:
    (row,) = rows(stack, "SELECT redirect_query FROM onboardings WHERE id = %s", onboarding_id)
    assert "client=" in row["redirect_query"]
    assert "state=" not in row["redirect_query"]


def test_partner_payment_numbers_go_live_on_the_hosted_page(stack: Stack, page: Page) -> None:
    created = stack.start_onboarding("pp", "crm-user-1")
    popup = open_popup(page, created["connect_url"])
    assert "io_signature=" in popup.url
    sign_up(popup, "pp@acme.test")
    add_numbers(popup, "+4915200000001", "+4915200000002")
    share_and_finish(popup)

    expect_live(page, "+4915200000001", "+4915200000002")
    assert_no_state_came_back(stack, created["id"])
    for number in ("+4915200000001", "+4915200000002"):
        channel_id = channel_id_of(page, number)
        assert stack.sandbox.channel(channel_id).keys_generated == 1
        product_received(stack, "channel.activated", channel_id)


def test_direct_payment_with_card_and_permission_goes_live(stack: Stack, page: Page) -> None:
    created = stack.start_onboarding("dp", "crm-user-2")
    popup = open_popup(page, created["connect_url"])
    sign_up_for_direct_payment(popup, "dp@acme.test", grant=True)
    add_numbers(popup, "+4915200000011")
    share_and_finish(popup)

    expect_live(page, "+4915200000011")
    assert_no_state_came_back(stack, created["id"])
    assert stack.sandbox.channel(channel_id_of(page, "+4915200000011")).keys_generated == 1


def test_direct_payment_without_permission_shows_why_and_gets_no_key(
    stack: Stack, page: Page
) -> None:
    created = stack.start_onboarding("dp", "crm-user-3")
    popup = open_popup(page, created["connect_url"])
    sign_up_for_direct_payment(popup, "deny@acme.test", grant=False)
    add_numbers(popup, "+4915200000021")
    share_and_finish(popup)

    reason = row_of(page, "+4915200000021").locator("td.reason")
    expect(reason).to_contain_text("Waiting for your permission", timeout=15_000)
    expect(page.locator(".onboard360-stage")).to_have_text(
        "We need your permission before your numbers can go live."
    )
    channel_id = channel_id_of(page, "+4915200000021")
    product_received(stack, "channel.permission_refused", channel_id)
    told = [e["type"] for e in stack.product_events() if e["data"].get("channel_id") == channel_id]
    assert "channel.shared" in told
    assert "channel.permission_granted" not in told  # denied in the popup: never granted
    assert stack.sandbox.channel(channel_id).keys_generated == 0
    assert stack.api.get(f"/api/v1/channels/{channel_id}/api-key").status_code == 409


def test_permission_granted_later_in_the_popup_makes_the_number_live(
    stack: Stack, page: Page
) -> None:
    (channel_id,) = onboard_over_http(
        stack, "dp", "crm-user-4", "later@acme.test", ["+4915200000031"], grant=False
    )
    product_received(stack, "channel.permission_refused", channel_id)
    told = [e["type"] for e in stack.product_events() if e["data"].get("channel_id") == channel_id]
    assert "channel.permission_granted" not in told

    # The product sends the same user to the popup again, with a new onboarding.
    created = stack.start_onboarding("dp", "crm-user-4")
    popup = open_popup(page, created["connect_url"])
    log_in(popup, "later@acme.test")
    expect(popup.locator("#deny")).to_be_checked()
    choose_api_key_permission(popup, grant=True)
    add_numbers(popup)  # no new number
    share_and_finish(popup)

    expect_live(page, "+4915200000031")
    assert stack.sandbox.channel(channel_id).keys_generated == 1
    product_received(stack, "channel.activated", channel_id)
    told = [e["type"] for e in stack.product_events() if e["data"].get("channel_id") == channel_id]
    # Shared (first visit), refused, shared again (second visit), then the key proves it.
    assert told.count("channel.shared") == 2
    assert told.count("channel.permission_granted") == 1
    assert told.index("channel.permission_refused") < told.index("channel.permission_granted")


def test_returning_client_unticking_a_number_revokes_it(stack: Stack, page: Page) -> None:
    keep, revoke = onboard_over_http(
        stack, "pp", "crm-user-5", "back@acme.test", ["+4915200000041", "+4915200000042"]
    )
    for channel_id in (keep, revoke):
        product_received(stack, "channel.activated", channel_id)

    created = stack.start_onboarding("pp", "crm-user-5")
    popup = open_popup(page, created["connect_url"])
    log_in(popup, "back@acme.test")
    add_numbers(popup)  # no new number
    share_and_finish(popup, untick=(revoke,))

    expect_live(page, "+4915200000041")
    expect(row_of(page, "+4915200000042")).to_contain_text("Permission removed")
    channel = stack.api.get(f"/api/v1/channels/{revoke}").json()
    assert channel["permission"] == "revoked"
    assert channel["api_key_available"] is False
    product_received(stack, "channel.permission_revoked", revoke)
    assert stack.sandbox.channel(revoke).shared is False
    assert stack.sandbox.channel(keep).keys_generated == 1
    wait_until(lambda: stack.api.get(f"/api/v1/channels/{revoke}/api-key").status_code == 409)
