"""What a person does in the 360dialog popup (the sandbox's), and what the hosted connect
page shows them: the steps every browser test shares."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

TEST_CARD = "4242 4242 4242 4242"


def open_popup(page: Page, connect_url: str) -> Page:
    """Open the hosted connect page and click its Connect button: the 360dialog popup."""
    page.goto(connect_url)
    with page.expect_popup() as opened:
        page.click("#connect button")
    popup = opened.value
    popup.wait_for_load_state()
    return popup


def sign_up(popup: Page, email: str) -> None:
    popup.fill("#name", "Acme GmbH")
    popup.fill("#email", email)
    popup.click("#continue")


def log_in(popup: Page, email: str) -> None:
    """A returning client: the service knows them, so the popup opens on login."""
    expect(popup.locator("h1")).to_have_text("Log in to 360dialog")
    popup.fill("#email", email)
    popup.click("#continue")


def pay(popup: Page, card_number: str = TEST_CARD) -> None:
    popup.fill("#card_number", card_number)
    popup.fill("#expiry", "12/39")
    popup.fill("#cvc", "123")
    popup.click("#continue")


def choose_api_key_permission(popup: Page, *, grant: bool) -> None:
    popup.check("#grant" if grant else "#deny")
    popup.click("#continue")


def sign_up_for_direct_payment(popup: Page, email: str, *, grant: bool) -> None:
    """Direct Payment: account, the price page with the card, the API-key permission choice."""
    sign_up(popup, email)
    expect(popup.locator("h1")).to_have_text("Prices and payment")
    pay(popup)
    choose_api_key_permission(popup, grant=grant)


def add_numbers(popup: Page, *numbers: str) -> None:
    for index, number in enumerate(numbers):
        if index:
            popup.click("#add-number")
        popup.locator(".phone-number").nth(index).fill(number)
    popup.click("#continue")


def share_and_finish(popup: Page, *, untick: tuple[str, ...] = ()) -> None:
    expect(popup.locator("h1")).to_contain_text("Share numbers")
    for channel_id in untick:
        popup.uncheck(f"input[value='channel:{channel_id}']")
    with popup.expect_event("close"):
        popup.click("#continue")


def row_of(page: Page, number: str) -> Any:
    """The hosted page's progress row of one number."""
    return page.locator("#connect tr[data-channel-id]", has_text=number)


def channel_id_of(page: Page, number: str) -> str:
    channel_id = row_of(page, number).get_attribute("data-channel-id")
    assert channel_id, f"no row for {number}"
    return channel_id


def expect_live(page: Page, *numbers: str) -> None:
    for number in numbers:
        expect(row_of(page, number).locator("td.live")).to_have_text("Live", timeout=15_000)
    expect(page.locator(".onboard360-stage")).to_have_text("All your numbers are live.")
