"""The hosted connect page notices what the person does, in Chromium, on a laptop and on a
phone: a blocked popup goes on in the page's own tab and comes back to it; a popup closed
before finishing offers "Try again". Each is a funnel step stamped on the attempt.
Screenshots of every step are kept in test-artifacts/connect-*.png (pass or fail).

The blocked popup is simulated: an init script makes ``window.open`` return null, which
is what Chromium's popup blocker answers (Playwright's Chromium runs with the blocker off,
and a click is a user gesture the blocker would let through anyway).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.popup_steps import add_numbers, expect_live, share_and_finish, sign_up
from tests.e2e.service_stack import hosted_page_stack
from tests.e2e.shots import VIEWPORTS, Shots
from tests.integration.service_http import onboarding_row
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack

pytestmark = pytest.mark.browser

BLOCK_POPUPS = "window.open = function () { return null; };"


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    with hosted_page_stack(database_url) as s:
        yield s


@pytest.fixture(params=sorted(VIEWPORTS))
def device(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def person(browser: Browser, device: str, *, blocks_popups: bool = False) -> Iterator[Page]:
    context = browser.new_context(**VIEWPORTS[device])
    context.set_default_timeout(15_000)
    if blocks_popups:
        context.add_init_script(BLOCK_POPUPS)
    yield context.new_page()
    context.close()


@pytest.fixture
def visitor(browser: Browser, device: str) -> Iterator[Page]:
    yield from person(browser, device)


@pytest.fixture
def blocking_visitor(browser: Browser, device: str) -> Iterator[Page]:
    yield from person(browser, device, blocks_popups=True)


def stamp(stack: Stack, onboarding_id: str, column: str) -> datetime | None:
    at: datetime | None = onboarding_row(stack, onboarding_id)[column]
    return at


def test_a_blocked_popup_goes_on_in_this_tab_and_comes_back(
    stack: Stack, blocking_visitor: Page, device: str
) -> None:
    shots = Shots("connect", "blocked", device)
    page = blocking_visitor
    created = stack.start_onboarding("pp", f"blocked-{device}")
    page.goto(created["connect_url"])
    shots.take(page, "connect-page")
    page.click("#connect button")

    notice = page.locator(".onboard360-notice[data-onboard360-notice='popup_blocked']")
    expect(notice).to_contain_text("Your browser blocked the 360dialog window")
    expect(page.locator(".onboard360-stage")).to_have_count(0)  # not "waiting for you"
    shots.take(page, "blocked")
    wait_until(lambda: stamp(stack, created["id"], "popup_blocked_at") is not None)
    assert stamp(stack, created["id"], "popup_opened_at") is None

    page.get_by_role("link", name="Continue to 360dialog in this tab").click()
    expect(page).to_have_url(re.compile("^" + re.escape(stack.sandbox_url)))
    sign_up(page, f"blocked-{device}@acme.test")
    add_numbers(page, "+4915200000051")
    expect(page.locator("h1")).to_contain_text("Share numbers")
    shots.take(page, "360dialog-in-this-tab")
    page.click("#continue")

    # 360dialog's redirect lands back on the connect page, in this same tab.
    expect(page.locator("h1")).to_have_text("Welcome back")
    expect(page.locator("#closing")).not_to_contain_text("close this window")
    expect_live(page, "+4915200000051")
    shots.take(page, "back-and-live")
    row = onboarding_row(stack, created["id"])
    assert row["redirected_at"] is not None
    assert row["popup_closed_at"] is None
    assert row["popup_blocked_at"] < row["popup_opened_at"] < row["redirected_at"]


def test_a_popup_closed_before_finishing_offers_try_again(
    stack: Stack, visitor: Page, device: str
) -> None:
    shots = Shots("connect", "closed", device)
    page = visitor
    created = stack.start_onboarding("pp", f"closed-{device}")
    page.goto(created["connect_url"])
    with page.expect_popup() as opened:
        page.click("#connect button")
    popup = opened.value
    popup.wait_for_load_state()
    expect(page.locator(".onboard360-stage")).to_have_text(
        "Waiting for you to finish in the 360dialog window…"
    )
    shots.take(page, "waiting")
    popup.close()  # the person closes 360dialog's window without finishing

    notice = page.locator(".onboard360-notice[data-onboard360-notice='popup_closed']")
    expect(notice).to_contain_text("The 360dialog window was closed before you finished")
    expect(page.locator(".onboard360-stage")).to_have_count(0)
    shots.take(page, "closed")
    first = stamp(stack, created["id"], "popup_closed_at")
    assert first is not None  # the notice shows only once the service recorded it

    with page.expect_popup() as reopened:
        notice.get_by_role("button", name="Try again").click()
    popup = reopened.value
    popup.wait_for_load_state()
    expect(notice).to_be_hidden()
    sign_up(popup, f"closed-{device}@acme.test")
    add_numbers(popup, "+4915200000061")
    share_and_finish(popup)

    expect_live(page, "+4915200000061")
    expect(notice).to_be_hidden()  # the window that finished closed itself: no notice
    shots.take(page, "live")
    assert stamp(stack, created["id"], "popup_closed_at") == first  # stamped once
    assert stamp(stack, created["id"], "popup_blocked_at") is None


def test_a_popup_that_only_looks_closed_is_followed_to_the_end(
    stack: Stack, visitor: Page, device: str
) -> None:
    """If 360dialog's pages cut off their opener, the page cannot tell a closed window
    from one it lost: it shows the notice, keeps following the attempt, and steps aside
    when the redirect comes back. The funnel step is stamped, and so is the redirect."""
    shots = Shots("connect", "opener-cut", device)
    page = visitor
    # What 360dialog's pages might send (not documented either way): the opener loses the
    # popup, ``closed`` is true at once and the popup cannot message back.
    stack.sandbox_hub("pp").opener_policy = "same-origin"
    created = stack.start_onboarding("pp", f"coop-{device}")
    page.goto(created["connect_url"])
    with page.expect_popup() as opened:
        page.click("#connect button")
    popup = opened.value
    popup.wait_for_load_state()

    notice = page.locator(".onboard360-notice[data-onboard360-notice='popup_closed']")
    expect(notice).to_contain_text("If it is still open, finish there")
    shots.take(page, "looks-closed")
    sign_up(popup, f"coop-{device}@acme.test")
    add_numbers(popup, "+4915200000071")
    expect(popup.locator("h1")).to_contain_text("Share numbers")
    popup.click("#continue")
    # Cut off from its opener, the redirect's page cannot hand over or close itself.
    expect(popup.locator("#closing")).to_contain_text("close this window")
    shots.take(popup, "redirect-page-left-open")

    expect_live(page, "+4915200000071")
    expect(notice).to_be_hidden()
    shots.take(page, "followed-to-live")
    row = onboarding_row(stack, created["id"])
    assert row["popup_closed_at"] is not None
    assert row["redirected_at"] is not None
