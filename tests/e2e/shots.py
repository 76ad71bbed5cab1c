"""What the browser tests that keep screenshots share: a laptop and a phone, and numbered
screenshots of each step in test-artifacts/, kept whatever the outcome."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.e2e.conftest import ARTIFACTS

VIEWPORTS: dict[str, dict[str, Any]] = {
    "laptop": {"viewport": {"width": 1366, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


class Shots:
    """Numbered full-page screenshots of one test (``<area>-<test>-<device>-<n>-<step>``)."""

    def __init__(self, area: str, test: str, device: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.prefix = f"{area}-{test}-{device}"
        self.count = 0

    def take(self, page: Page, step: str) -> None:
        self.count += 1
        name = f"{self.prefix}-{self.count}-{step}"
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        # What a person sees first, before scrolling (a phone's full page is very tall).
        page.screenshot(path=str(ARTIFACTS / f"{name}-screen.png"))
