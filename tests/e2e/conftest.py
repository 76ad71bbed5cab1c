"""Browser fixtures: Debian's Chromium through Playwright (never a downloaded browser), and
the demo's sandbox + partner page served on free ports."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from onboard360.runtime.serving import free_port, running
from onboard360.sandbox.app import create_app
from onboard360.sandbox.state import Sandbox
from tests.e2e.partner_page import create_partner_app, demo_hubs
from tests.sandbox_fixtures import FAST

CHROMIUM = Path(os.environ.get("ONBOARD360_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


# Module scope, not session: while Playwright's sync API is active it keeps an event loop
# running in this thread, and any other test's asyncio.run() on the same xdist worker
# would fail. pytest tears module fixtures down before a test of another module runs.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)")
    # Belt and braces: Playwright must never fetch a browser of its own.
    os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test; a screenshot of every open page when it fails."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    if request.node.stash.get(FAILED, False):
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)
        for index, each in enumerate(context.pages):
            each.screenshot(path=str(ARTIFACTS / f"{name}-{index}.png"), full_page=True)
    context.close()


@dataclass(frozen=True)
class DemoWorld:
    partner_url: str
    sandbox_url: str
    sandbox: Sandbox


@pytest.fixture(scope="module")
def demo_world() -> Iterator[DemoWorld]:
    """The demo's two hubs and partner page, on free ports, without step delays."""
    partner_port = free_port()
    partner_url = f"http://127.0.0.1:{partner_port}"
    hubs = demo_hubs(partner_url, step_delay_seconds=0)
    sandbox_app = create_app(hubs, webhook_settings=FAST)
    with running(sandbox_app) as sandbox_url:
        partner_app = create_partner_app(sandbox_url, hubs)
        with running(partner_app, port=partner_port):
            yield DemoWorld(partner_url, sandbox_url, sandbox_app.state.sandbox)
