"""The popup in Chromium, opened from the demo's partner page, ending in the opener."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import DemoWorld
from tests.e2e.partner_page import DIRECT_PAYMENT_ID, PARTNER_PAYMENT_ID
from tests.e2e.popup_steps import pay, share_and_finish, sign_up
from tests.integration.popup_http import Popup, onboard, parse_redirect, unique_email

pytestmark = pytest.mark.browser


def open_popup(page: Page, world: DemoWorld, button: str, number: str = "") -> Page:
    page.goto(f"{world.partner_url}/")
    page.fill("#number", number)
    with page.expect_popup() as opened:
        page.click(f"#{button}")
    popup = opened.value
    popup.wait_for_load_state()
    return popup


def result_of(page: Page) -> dict[str, str]:
    expect(page.locator("#result-client")).to_have_text(re.compile(r"client: \w+CL"))
    lines = page.locator("#result div").all_inner_texts()
    return dict(line.split(": ", 1) for line in lines)


def test_partner_payment_onboarding_reaches_the_opener(page: Page, demo_world: DemoWorld) -> None:
    email = unique_email("pp")
    popup = open_popup(page, demo_world, f"connect-{PARTNER_PAYMENT_ID}", "+4915200000001")
    sign_up(popup, email)
    expect(popup.locator(".phone-number").first).to_have_value("+4915200000001")
    popup.click("#continue")
    share_and_finish(popup)

    result = result_of(page)
    client = demo_world.sandbox.find_client_by_email(PARTNER_PAYMENT_ID, email)
    assert client is not None
    assert result["client"] == client.id
    (channel,) = [c for c in dict(demo_world.sandbox.channels).values() if c.client_id == client.id]
    assert result["channels"] == channel.id
    assert result["revoked"] == "(none)"
    assert result["state"] == "matches"
    # The hub's webhooks reach the partner page too (step delay 0 in tests).
    running = page.locator("#webhooks li", has_text=f"channel_running · {channel.id}")
    expect(running).to_have_count(1, timeout=15_000)


def test_direct_payment_with_card_and_permission_reaches_the_opener(
    page: Page, demo_world: DemoWorld
) -> None:
    email = unique_email("dp")
    popup = open_popup(page, demo_world, f"connect-{DIRECT_PAYMENT_ID}")
    sign_up(popup, email)
    expect(popup.locator("h1")).to_have_text("Prices and payment")
    pay(popup, "4242 4242 4242 4242")
    popup.check("#grant")
    popup.click("#continue")
    popup.fill(".phone-number", "+4915200000002")
    popup.click("#add-number")
    popup.locator(".phone-number").nth(1).fill("+4915200000003")
    popup.click("#continue")
    share_and_finish(popup)

    result = result_of(page)
    client = demo_world.sandbox.clients[result["client"]]
    assert client.api_key_permission is True
    assert client.payment_method == "card ending 4242"
    assert len(result["channels"].split(", ")) == 2


def test_returning_client_revokes_a_number(page: Page, demo_world: DemoWorld) -> None:
    email = unique_email("back")
    with httpx.Client(base_url=demo_world.sandbox_url, timeout=10) as http:
        # Onboard first over HTTP; the partner page signs the popup link (IO Signature).
        signed = http.get(f"{demo_world.partner_url}/connect/{PARTNER_PAYMENT_ID}").headers
        popup_http = Popup(http, PARTNER_PAYMENT_ID)
        first = onboard(
            popup_http,
            email=email,
            numbers=["+4915200000010", "+4915200000011"],
            opened=popup_http.open(url=signed["location"]),
        )
    keep, revoke = parse_redirect(first.headers["location"]).channels

    popup = open_popup(page, demo_world, f"login-{PARTNER_PAYMENT_ID}")
    popup.fill("#email", email)
    popup.click("#continue")
    popup.click("#continue")  # no new number
    popup.uncheck(f"input[value='channel:{revoke}']")
    share_and_finish(popup)

    result = result_of(page)
    assert result["channels"] == keep
    assert result["revoked"] == revoke
    assert demo_world.sandbox.channels[revoke].shared is False


def test_missing_io_signature_shows_an_error_page(page: Page, demo_world: DemoWorld) -> None:
    before = len(demo_world.sandbox.clients)
    response = page.goto(f"{demo_world.sandbox_url}/dashboard/app/{PARTNER_PAYMENT_ID}?state=x")
    assert response is not None
    assert response.status == 403
    expect(page.locator("#error")).to_contain_text("without an IO Signature")
    expect(page.locator("form")).to_have_count(0)
    assert len(demo_world.sandbox.clients) == before


def test_declined_card_shows_a_message_and_cancel_creates_nothing(
    page: Page, demo_world: DemoWorld
) -> None:
    email = unique_email("declined")
    popup = open_popup(page, demo_world, f"connect-{DIRECT_PAYMENT_ID}")
    sign_up(popup, email)
    pay(popup, "4000 0000 0000 0002")
    expect(popup.locator("#error")).to_contain_text("declined")
    with popup.expect_event("close"):
        popup.click("#cancel")
    assert demo_world.sandbox.find_client_by_email(DIRECT_PAYMENT_ID, email) is None
    expect(page.locator("#result")).to_be_empty()
