"""The funnel page in Chromium, on a laptop and on a phone, over onboardings driven through
the sandbox's popup: gone live, stopped at Direct Payment's permission, never opened,
abandoned, and abandoned then resumed to live. Every number on the page is
``GET /api/v1/funnel``'s. Screenshots go to test-artifacts/ (pass or fail)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.popup_steps import (
    add_numbers,
    expect_live,
    open_popup,
    share_and_finish,
    sign_up,
    sign_up_for_direct_payment,
)
from tests.e2e.service_stack import hosted_page_stack, onboard_over_http
from tests.e2e.test_dashboard_browser import VIEWPORTS, off_thread
from tests.integration.abandon_http import abandon, resume
from tests.integration.dashboard_http import PASSWORD, make_operator
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack

pytestmark = pytest.mark.browser


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with hosted_page_stack(database_url) as s:
        yield s


def drive(stack: Stack, browser: Browser) -> None:
    """Seven attempts, six journeys, through the hosted page, the popup and plain HTTP;
    each person in a browser of their own (the hosted page ties a redirect to the attempt
    its browser opened)."""
    opened: list[BrowserContext] = []

    def person() -> Page:
        context = browser.new_context()
        context.set_default_timeout(15_000)
        opened.append(context)
        return context.new_page()

    try:
        _drive(stack, person)
    finally:
        for context in opened:
            context.close()


def _drive(stack: Stack, person: Callable[[], Page]) -> None:
    live = stack.start_onboarding("pp", "crm-live")
    page = person()
    popup = open_popup(page, live["connect_url"])
    sign_up(popup, "live@acme.test")
    add_numbers(popup, "+4915300000001")
    share_and_finish(popup)
    expect_live(page, "+4915300000001")

    denied = stack.start_onboarding("dp", "crm-denied")
    popup = open_popup(person(), denied["connect_url"])
    sign_up_for_direct_payment(popup, "denied@acme.test", grant=False)
    add_numbers(popup, "+4915300000002")
    share_and_finish(popup)

    off_thread(onboard_over_http, stack, "pp", "crm-http", "http@acme.test", ["+4915300000003"])

    stack.start_onboarding("pp", "crm-never")  # the person never came to the page

    gave_up = stack.start_onboarding("pp", "crm-gave-up")
    open_popup(person(), gave_up["connect_url"]).close()  # closed 360dialog's window
    off_thread(abandon, stack, gave_up["id"])  # its expiry passes; the sweep marks it

    first = stack.start_onboarding("pp", "crm-resumed")
    open_popup(person(), first["connect_url"]).close()
    off_thread(abandon, stack, first["id"])
    again = resume(stack, first["id"])  # the product nudges its user with a fresh link
    page = person()  # back another day, on another device
    popup = open_popup(page, again["connect_url"])
    sign_up(popup, "resumed@acme.test")
    add_numbers(popup, "+4915300000004")
    share_and_finish(popup)
    expect_live(page, "+4915300000004")

    def settled() -> bool:
        body = stack.api.get("/api/v1/funnel").json()
        steps = {s["step"]: s["reached"] for s in body["steps"]}
        return steps["activated"] == 3 and steps["running"] == 4

    wait_until(settled, timeout=30, what="three journeys activated, the denied one running")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"funnel-{name}.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"funnel-{name}-screen.png"))


def number(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)


def assert_page_shows(page: Page, api: dict[str, Any]) -> None:
    expect(page.locator("#journeys")).to_have_text(str(api["journeys"]))
    for step in api["steps"]:
        row = page.locator(f"#steps tr[data-step='{step['step']}']")
        cells = {
            name: number(row.locator(f"td.{name}").get_attribute("data-value"))
            for name in ("reached", "conversion", "median", "p90")
        }
        assert cells == {
            "reached": step["reached"],
            "conversion": step["conversion"],
            "median": step["median_seconds"],
            "p90": step["p90_seconds"],
        }, step["step"]
        label = page.locator(f"svg.conversion g[data-step='{step['step']}'] text.value")
        expect(label).to_contain_text(str(step["reached"]))
    for outcome, count in api["outcomes"].items():
        card = page.locator(f"#outcomes [data-outcome='{outcome}'] .n")
        expect(card).to_have_text(str(count))
    for side in ("resumed", "popup_blocked_unfinished", "popup_closed_unfinished"):
        expect(page.locator(f"li[data-side='{side}'] .count")).to_have_text(str(api[side]))
    expect(page.locator("li[data-side='abandoned'] .count")).to_have_text(
        str(api["abandoned"]["total"])
    )
    for step, count in api["abandoned"]["by_step"].items():
        expect(page.locator(f"#abandoned tr[data-step='{step}'] td.num")).to_have_text(str(count))
    buckets = page.locator("svg.ttl g[data-bucket] title")
    shown = [t.split(": ")[-1] for t in buckets.all_text_contents()]
    assert shown == [str(b["journeys"]) for b in api["time_to_live"]["buckets"]]


def test_funnel_page_shows_the_apis_numbers(stack: Stack, browser: Browser) -> None:
    drive(stack, browser)
    api = stack.api.get("/api/v1/funnel").json()
    assert api["journeys"] == 6
    assert api["resumed"] == 1
    assert api["outcomes"] == {"live": 3, "abandoned": 1, "in_progress": 2}
    assert api["abandoned"]["by_step"] == {"popup_opened": 1}
    direct = stack.api.get("/api/v1/funnel", params={"billing": "direct"}).json()
    assert direct["journeys"] == 1
    off_thread(make_operator, stack, "ops@example.test")

    for device in ("laptop", "phone"):
        context = browser.new_context(**VIEWPORTS[device])  # type: ignore[arg-type]
        context.set_default_timeout(15_000)
        operator = context.new_page()
        operator.goto(f"{stack.service_url}/dashboard")
        operator.fill("#email", "ops@example.test")
        operator.fill("#password", PASSWORD)
        operator.click("#login")
        expect(operator.locator("h1")).to_have_text("Overview")
        operator.click("#nav-funnel")
        expect(operator.locator("h1")).to_contain_text("Funnel")
        shot(operator, f"{device}-1-all")
        assert_page_shows(operator, api)
        # On a phone nothing is wider than the screen: the charts scale to it.
        width = operator.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert width <= 1, f"{device}: {width}px wider than the screen"

        operator.select_option("#f-billing", "direct")
        operator.click("#funnel-filters button")
        expect(operator.locator("#f-billing")).to_have_value("direct")
        shot(operator, f"{device}-2-direct")
        assert_page_shows(operator, direct)

        operator.goto(f"{stack.service_url}/dashboard/funnel?from=2026-13-01")
        expect(operator.locator("main")).to_contain_text("YYYY-MM-DD")
        context.close()
