"""The whole service stack for browser tests: tests/stack.py's stack plus a live worker.

A browser test cannot call ``stack.settle()``: Playwright's sync API keeps an event loop
running in the test's thread, so ``asyncio.run`` there fails. The worker runs in its own
thread and event loop instead, for the whole test, as in production; tests wait for what
a person would see.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import httpx

from onboard360.runtime.serving import in_background
from tests.integration.popup_http import Popup, onboard
from tests.integration.service_http import rows
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack, running_stack


@contextlib.contextmanager
def worker_running(stack: Stack, concurrency: int = 4, **options: Any) -> Iterator[None]:
    """A worker in a background thread until the block ends; cancelling it drains it.
    ``options`` go to run_worker. The block starts once the worker has registered with the
    queue (its start-up, and what it logs then, is over); it fails if the worker ended
    before it did."""
    work = functools.partial(stack.worker, until_idle=False, concurrency=concurrency, **options)
    with in_background(work, name="worker") as thread:  # raises the worker's failure
        wait_until(
            lambda: not thread.is_alive() or rows(stack, "SELECT 1 FROM procrastinate_workers"),
            timeout=30,
            what="the worker to start",
        )
        yield
        ended_early = not thread.is_alive()
    assert not ended_early, "the worker ended on its own"


# ---- the same, over HTTP, for what a test only needs to have happened --------------------


def onboard_over_http(
    stack: Stack, hub: str, user: str, email: str, numbers: list[str], **choices: Any
) -> list[str]:
    """A whole onboarding through the service's popup link and redirect, without a
    browser; answers the channel ids of ``numbers``, in that order."""
    created = stack.start_onboarding(hub, user)
    with httpx.Client(base_url=stack.sandbox_url, timeout=10) as http:
        signed = http.get(created["popup_url"])  # the service signs and sends us on
        assert signed.status_code == 303, signed.text
        popup = Popup(http, stack.hub(hub).partner_id)
        done = onboard(
            popup,
            email=email,
            numbers=numbers,
            direct=stack.hub(hub).billing == "direct",
            opened=popup.open(url=signed.headers["location"]),
            **choices,
        )
        assert done.status_code == 303, done.text
        back = http.get(done.headers["location"])  # the service's connect page
        assert back.status_code == 200, back.text
    by_number = {c.phone_number: c.id for c in dict(stack.sandbox.channels).values()}
    return [by_number[number] for number in numbers]


def product_received(stack: Stack, event_type: str, channel_id: str) -> None:
    def arrived() -> bool:
        return any(
            e["type"] == event_type and e["data"].get("channel_id") == channel_id
            for e in stack.product_events()
        )

    wait_until(arrived, timeout=15, what=f"{event_type} for {channel_id} at the product")


# The hosted page's browser tests: the sandbox does not echo state, so the hosted page
# ties each redirect to its attempt by the cookie the popup opener set (web/attempts.py).
HOSTED_PAGE_HUBS = {"auto_advance": True, "io_signature": True, "echo_state": False}


@contextlib.contextmanager
def hosted_page_stack(database_url: str) -> Iterator[Stack]:
    """The service, the sandbox (``HOSTED_PAGE_HUBS``) and a worker running meanwhile."""
    with running_stack(database_url, hub_options=HOSTED_PAGE_HUBS) as s, worker_running(s):
        yield s
