"""The connect page's funnel steps (POST /connect/{hub}/steps/{step}): the browser blocked
the popup, or the person closed it before the redirect came back. Each is stamped once on
the attempt; everything else is refused with a precise 4xx and leaves every row as it was.
Over real HTTP, judged by the rows left behind."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from onboard360.web.attempts import COOKIE_PREFIX
from tests.integration.service_http import (
    execute,
    onboarding_row,
    redirect_query,
    sandbox_channels,
    snapshot,
    state_of,
)
from tests.stack import Stack


def post_step(http: httpx.Client, step: str, hub: str = "pp", **params: str) -> httpx.Response:
    return http.post(f"/connect/{hub}/steps/{step}", params=params)


def assert_refused(answer: httpx.Response, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


@pytest.fixture
def http(stack: Stack) -> Any:
    with httpx.Client(base_url=stack.service_url, timeout=10) as client:
        yield client


def test_a_blocked_popup_is_stamped_once_the_first_time(stack: Stack, http: httpx.Client) -> None:
    created = stack.start_onboarding("pp")
    first = post_step(http, "popup_blocked", start=state_of(created))
    assert first.status_code == 200, first.text
    stamp = onboarding_row(stack, created["id"])["popup_blocked_at"]
    assert isinstance(stamp, datetime)
    assert datetime.fromisoformat(first.json()["at"]) == stamp

    before = snapshot(stack)
    again = post_step(http, "popup_blocked", start=state_of(created))
    assert again.status_code == 200, again.text
    assert datetime.fromisoformat(again.json()["at"]) == stamp  # the first one stays
    assert snapshot(stack) == before
    assert onboarding_row(stack, created["id"])["popup_closed_at"] is None


def test_a_popup_closed_early_is_stamped_for_the_browser_that_opened_it(
    stack: Stack, http: httpx.Client
) -> None:
    created = stack.start_onboarding("pp")
    opened = http.get("/connect/pp/popup", params={"start": state_of(created)})
    assert opened.status_code == 303, opened.text
    # The popup's last page names the attempt by id and the cookie (no state came back).
    hex_id = created["id"].replace("-", "")
    answer = post_step(http, "popup_closed", attempt=hex_id)
    assert answer.status_code == 200, answer.text
    stamp = onboarding_row(stack, created["id"])["popup_closed_at"]
    assert isinstance(stamp, datetime)
    before = snapshot(stack)
    assert post_step(http, "popup_closed", start=state_of(created)).status_code == 200
    assert snapshot(stack) == before


def test_closing_a_popup_never_opened_is_refused(stack: Stack, http: httpx.Client) -> None:
    created = stack.start_onboarding("pp")
    before = snapshot(stack)
    answer = post_step(http, "popup_closed", start=state_of(created))
    assert_refused(answer, 409, "never opened")
    assert snapshot(stack) == before


def test_steps_after_the_redirect_came_back_are_refused(stack: Stack, http: httpx.Client) -> None:
    created = stack.start_onboarding("pp")
    state = state_of(created)
    assert http.get("/connect/pp/popup", params={"start": state}).status_code == 303
    client, channels = sandbox_channels(stack, "pp")
    assert http.get(f"/connect/pp?{redirect_query(state, client, channels)}").status_code == 200
    stack.settle()
    before = snapshot(stack)
    for step in ("popup_closed", "popup_blocked"):
        assert_refused(post_step(http, step, start=state), 409, "already came back")
    assert snapshot(stack) == before


def test_an_expired_attempt_is_refused(stack: Stack, http: httpx.Client) -> None:
    created = stack.start_onboarding("pp")
    execute(stack, "UPDATE onboardings SET expires_at = now() - interval '1 minute'")
    before = snapshot(stack)
    assert_refused(post_step(http, "popup_blocked", start=state_of(created)), 410, "expired")
    assert snapshot(stack) == before


@pytest.mark.parametrize(
    "case",
    [
        ("pp", "popup_blocked", {"start": "forged-state"}, 400),
        ("pp", "popup_blocked", {}, 400),
        ("pp", "popup_closed", {"attempt": "not-hex"}, 400),
        ("pp", "popup_opened", {"start": "STATE"}, 404),
        ("pp", "popup-blocked", {"start": "STATE"}, 404),
        ("nohub", "popup_blocked", {"start": "STATE"}, 404),
        ("dp", "popup_blocked", {"start": "STATE"}, 400),  # another hub's attempt
    ],
)
def test_hostile_step_calls_are_refused_and_change_nothing(
    stack: Stack, http: httpx.Client, case: tuple[str, str, dict[str, str], int]
) -> None:
    hub, step, params, status = case
    state = state_of(stack.start_onboarding("pp"))
    named = {k: state if v == "STATE" else v for k, v in params.items()}
    before = snapshot(stack)
    answer = post_step(http, step, hub, **named)
    assert answer.status_code == status, answer.text
    assert snapshot(stack) == before


def test_another_browsers_cookie_does_not_name_the_attempt(
    stack: Stack, http: httpx.Client
) -> None:
    created = stack.start_onboarding("pp")
    assert http.get("/connect/pp/popup", params={"start": state_of(created)}).status_code == 303
    hex_id = created["id"].replace("-", "")
    before = snapshot(stack)
    with httpx.Client(base_url=stack.service_url, timeout=10) as other:
        other.cookies.set(f"{COOKIE_PREFIX}{hex_id}", "a-guessed-token", path="/connect/pp")
        answer = post_step(other, "popup_closed", attempt=hex_id)
    assert_refused(answer, 400, "did not open")
    assert snapshot(stack) == before


def test_a_get_is_not_a_step(stack: Stack, http: httpx.Client) -> None:
    created = stack.start_onboarding("pp")
    answer = http.get("/connect/pp/steps/popup_blocked", params={"start": state_of(created)})
    assert answer.status_code == 405
    assert onboarding_row(stack, created["id"])["popup_blocked_at"] is None


def test_a_tab_visit_comes_back_to_a_welcome_page_and_a_popup_clears_the_mark(
    stack: Stack, http: httpx.Client
) -> None:
    created = stack.start_onboarding("pp")
    state = state_of(created)
    tab = http.get("/connect/pp/popup", params={"start": state, "in": "tab"})
    assert tab.status_code == 303, tab.text
    mark = "onboard360_tab_" + created["id"].replace("-", "")
    assert http.cookies.get(mark) == "1"
    # Then the person clicks Connect again in a browser that lets the popup open.
    popup = http.get("/connect/pp/popup", params={"start": state})
    assert popup.status_code == 303
    assert http.cookies.get(mark) is None

    assert http.get("/connect/pp/popup", params={"start": state, "in": "tab"}).status_code == 303
    client, channels = sandbox_channels(stack, "pp")
    back = http.get(f"/connect/pp?{redirect_query(None, client, channels)}")
    assert back.status_code == 200, back.text
    assert "Welcome back" in back.text
    assert "close this window" not in back.text
    assert "window.opener" not in back.text
    assert onboarding_row(stack, created["id"])["client_id"] == client
