"""An operator finds a stuck client in the dashboard and fixes it, in Chromium, on a laptop
and on a phone. Screenshots of every step are kept in test-artifacts/ (pass or fail)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect

from onboard360.handoff import verify
from tests.e2e.shots import VIEWPORTS, Shots
from tests.integration.dashboard_http import PASSWORD, api_key, make_operator, onboarded, sql
from tests.stack import Stack

pytestmark = pytest.mark.browser
T = TypeVar("T")


def off_thread(work: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run stack helpers (they use asyncio.run) beside Playwright's loop in this thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work, *args, **kwargs).result()


@pytest.fixture(params=sorted(VIEWPORTS))
def device(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def operator_page(browser: Browser, device: str) -> Iterator[Page]:
    context = browser.new_context(**VIEWPORTS[device])
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def log_in(page: Page, stack: Stack, shots: Shots) -> None:
    off_thread(make_operator, stack, "ops@example.test")
    page.goto(f"{stack.service_url}/dashboard")
    expect(page.locator("h1")).to_have_text("Operator login")
    shots.take(page, "login")
    page.fill("#email", "ops@example.test")
    page.fill("#password", PASSWORD)
    page.click("#login")
    expect(page.locator("h1")).to_have_text("Overview")


def open_attention(page: Page, hub: str, kind: str, channel: str) -> None:
    entry = page.locator(f"#hub-{hub} li[data-kind='{kind}'] .count")
    expect(entry).to_have_text("1")
    page.locator(
        f"#hub-{hub} details[data-kind='{kind}'] tr[data-channel-id='{channel}'] a"
    ).first.click()
    expect(page.locator(f"#channel-{channel}")).to_be_visible()


def test_operator_retries_a_failed_provisioning_once_the_fault_is_gone(
    stack: Stack, operator_page: Page, device: str
) -> None:
    shots = Shots("dashboard", "retry", device)
    _, (channel,) = off_thread(onboarded, stack, "pp", hub_down_after_redirect=True)
    page = operator_page

    log_in(page, stack, shots)
    shots.take(page, "overview")
    open_attention(page, "pp", "provisioning_failed", channel)
    card = page.locator(f"#channel-{channel}")
    expect(card.locator(".key")).to_have_text("being generated (#1)")
    shots.take(page, "client-stuck")

    stack.sandbox_hub("pp").faults.api_5xx_rate = 0.0
    card.get_by_role("link", name="Retry provisioning").click()
    expect(page.locator("#plan")).to_contain_text("gave up")
    shots.take(page, "confirm")
    page.click("#confirm")
    expect(page.locator("#done")).to_contain_text("queued again")
    off_thread(stack.drain)

    page.reload()
    expect(page.locator(f"#channel-{channel} .key")).to_have_text("yes (version 1)")
    expect(page.locator("#timeline")).to_contain_text("retry-provisioning")
    shots.take(page, "client-fixed")
    assert stack.sandbox.channel(channel).keys_generated == 1
    page.goto(f"{stack.service_url}/dashboard")
    expect(page.locator("#hub-pp li[data-kind='provisioning_failed'] .count")).to_have_text("0")


def test_operator_sends_a_repermission_link_and_the_client_grants_permission(
    stack: Stack, operator_page: Page, browser: Browser, device: str
) -> None:
    shots = Shots("dashboard", "repermission", device)
    _, (channel,) = off_thread(onboarded, stack, "dp", user="crm-9", permission=False)
    page = operator_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    log_in(page, stack, shots)
    open_attention(page, "dp", "waiting_for_permission", channel)
    expect(page.locator(f"#channel-{channel} .reason")).to_contain_text("permission")
    shots.take(page, "client-stuck")
    page.click("#repermission")
    expect(page.locator("#plan")).to_contain_text("crm-9")
    page.click("#confirm")
    page.click("#copy")
    expect(page.locator("#copied")).to_be_visible()
    shots.take(page, "link")
    link = page.locator("#link").input_value()
    assert re.fullmatch(rf"{re.escape(stack.service_url)}/connect/dp\?start=[\w-]+", link)

    # The client, in their own browser, follows the link and grants permission.
    client_context = browser.new_context(**VIEWPORTS[device])
    client_context.set_default_timeout(15_000)
    client = client_context.new_page()
    client.goto(link)
    with client.expect_popup() as opened:
        client.get_by_role("button", name="Connect WhatsApp").click()
    popup = opened.value
    popup.wait_for_load_state()
    popup.fill("#email", "crm-9@acme.test")  # the login page: next=login
    popup.click("#continue")
    popup.check("#grant")
    popup.click("#continue")
    popup.click("#continue")  # no new number
    with popup.expect_event("close"):
        popup.click("#continue")  # share the number again
    off_thread(stack.settle)
    expect(client.locator(".onboard360-stage")).to_have_text("All your numbers are live.")
    client_context.close()

    page.goto(f"{stack.service_url}/dashboard/channels/dp/{channel}")
    # Key intent 1 was the one 360dialog refused; the first key made is version 2.
    expect(page.locator(f"#channel-{channel} .key")).to_have_text("yes (version 2)")
    expect(page.locator(f"#channel-{channel} .permission")).to_have_text("granted")
    shots.take(page, "client-fixed")
    assert stack.sandbox.channel(channel).keys_generated == 1


def test_operator_enables_a_disabled_endpoint_and_the_held_events_are_delivered(
    stack: Stack, operator_page: Page, device: str
) -> None:
    shots = Shots("dashboard", "deliveries", device)
    page = operator_page
    seen: list[str] = []  # every page's HTML, to look for the API key

    def step(name: str) -> None:
        shots.take(page, name)
        seen.append(page.content())

    # The product answers its first event 410 Gone: the endpoint is disabled at once and
    # every event stays pending. Every later answer is 200: the product is fixed.
    stack.product.answer_next(410)
    _, (channel,) = off_thread(onboarded, stack, "pp")
    key = api_key(stack, channel)
    (gone,) = [r.headers["webhook-id"] for r in stack.product.requests()]
    held = sorted(row.id for row in off_thread(sql, stack, "SELECT id FROM product_events"))
    assert gone in held
    assert len(held) > 1

    log_in(page, stack, shots)
    expect(page.locator("#hub-pp li[data-kind='endpoint_disabled'] .count")).to_have_text("1")
    disabled = page.locator("#hub-pp details[data-kind='endpoint_disabled']")
    expect(disabled.locator(".what")).to_contain_text("410 Gone")
    step("overview-disabled")
    disabled.locator("a.product-page").click()
    expect(page.locator("h1")).to_have_text("Product default")
    expect(page.locator("#endpoint")).to_have_attribute("data-state", "disabled")
    expect(page.locator("#pending")).to_have_text(str(len(held)))
    expect(page.locator("#events tbody tr")).to_have_count(len(held))
    expect(page.locator(f"#events tr[data-event-id='{gone}']")).to_contain_text("410")
    step("product-disabled")

    page.click("#enable")
    expect(page.locator("#plan")).to_contain_text(f"queues the {len(held)} pending event(s)")
    step("confirm")
    page.click("#confirm")
    expect(page.locator("#done")).to_contain_text("enabled again")
    expect(page.locator("#endpoint")).to_have_attribute("data-state", "enabled")
    step("enabled")

    off_thread(stack.drain)
    secret = stack.settings.products[0].webhook_secrets[0]
    delivered = stack.product.requests()[1:]
    for request in delivered:
        verify(secret, request.headers, request.body, now=int(time.time()))
    assert sorted(r.headers["webhook-id"] for r in delivered) == held  # each one once
    page.reload()
    expect(page.locator("#pending")).to_have_text("0")
    expect(page.locator("#events")).to_have_count(0)
    step("product-delivered")
    page.goto(f"{stack.service_url}/dashboard")
    expect(page.locator("#hub-pp li[data-kind='endpoint_disabled'] .count")).to_have_text("0")
    step("overview-fixed")

    page.goto(f"{stack.service_url}/dashboard/events/{gone}")
    expect(page.locator("#state")).to_contain_text("delivered")
    expect(page.locator("#attempts tbody tr")).to_have_count(2)
    expect(page.locator("#attempts tr[data-attempt='1'] .status")).to_have_text("410")
    expect(page.locator("#attempts tr[data-attempt='2'] .status")).to_have_text("200")
    step("event")
    assert all(key not in html for html in seen)
