"""Which attempt a redirect to the hosted connect page belongs to (web/attempts.py): the
cookie the popup opener set, with ``state`` only as a check — over real HTTP, each case
judged by the rows it leaves."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from pydantic import SecretStr

from onboard360.config.hubs import ProductConfig
from onboard360.web.attempts import COOKIE_PREFIX
from tests.integration.service_http import (
    execute,
    onboarding_row,
    redirect_query,
    rows,
    sandbox_channels,
    snapshot,
    state_of,
)
from tests.stack import Stack, running_stack


@contextmanager
def browser(stack: Stack) -> Iterator[httpx.Client]:
    """One browser: its own cookie jar, talking to the service."""
    with httpx.Client(base_url=stack.service_url, timeout=10) as client:
        yield client


def open_popup(http: httpx.Client, hub: str, state: str) -> httpx.Response:
    """Click Connect: the opener sets the attempt's cookie and sends us to 360dialog."""
    answer = http.get(f"/connect/{hub}/popup", params={"start": state})
    assert answer.status_code == 303, answer.text
    return answer


def assert_refused(
    stack: Stack, http: httpx.Client, client: str, channels: list[str], status: int
) -> None:
    """A redirect without state from this browser is refused and changes nothing."""
    before = snapshot(stack)
    answer = http.get(f"/connect/pp?{redirect_query(None, client, channels)}")
    assert answer.status_code == status, answer.text
    assert snapshot(stack) == before


def assert_no_attempt_of_ours(
    stack: Stack, http: httpx.Client, client: str, channels: list[str], onboarding_id: str
) -> None:
    """A redirect without state whose browser holds no cookie of a live attempt is no
    attempt's: a direct link. It lands as an unclaimed client (friendly page), and the
    attempt the browser tried to name is untouched: nothing bound, nothing keyed."""
    answer = http.get(f"/connect/pp?{redirect_query(None, client, channels)}")
    assert answer.status_code == 200, answer.text
    assert onboarding_row(stack, onboarding_id)["redirected_at"] is None
    owners = rows(stack, "SELECT external_user_id FROM clients WHERE client_id = %s", client)
    assert [row["external_user_id"] for row in owners] in ([], [None])
    assert rows(stack, "SELECT * FROM key_generations") == []


def test_a_redirect_without_state_finds_its_attempt_by_the_cookie(stack: Stack) -> None:
    created = stack.start_onboarding("pp", "user-a")
    client, channels = sandbox_channels(stack, "pp")
    with browser(stack) as http:
        open_popup(http, "pp", state_of(created))
        answer = http.get(f"/connect/pp?{redirect_query(None, client, channels)}")
    assert answer.status_code == 200, answer.text
    row = onboarding_row(stack, created["id"])
    assert (row["client_id"], row["channels"]) == (client, channels)
    (bound,) = rows(stack, "SELECT external_user_id FROM clients WHERE client_id = %s", client)
    assert bound["external_user_id"] == "user-a"
    # The popup's last page watches the attempt by its cookie, not by a state.
    assert f'data-onboard360-attempt="{row["id"].hex}"' in answer.text


def test_the_cookie_is_http_only_lax_scoped_and_only_its_digest_is_stored(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    with browser(stack) as http:
        answer = open_popup(http, "pp", state_of(created))
    header = answer.headers["set-cookie"]
    name, _, rest = header.partition("=")
    token = rest.split(";")[0]
    assert name == COOKIE_PREFIX + created["id"].replace("-", "")
    attributes = {part.strip().lower() for part in header.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/connect/pp"} <= attributes
    max_age = next(int(a.split("=")[1]) for a in attributes if a.startswith("max-age="))
    assert 0 < max_age <= stack.settings.onboarding_ttl_seconds
    row = onboarding_row(stack, created["id"])
    assert row["attempt_cookie_sha256"] is not None
    assert token.encode() not in bytes(row["attempt_cookie_sha256"])
    assert token not in str(rows(stack, "SELECT * FROM onboardings"))


def test_state_disagreeing_with_the_cookie_refuses_and_changes_nothing(stack: Stack) -> None:
    mine = stack.start_onboarding("pp", "user-a")
    other = stack.start_onboarding("pp", "user-b")
    client, channels = sandbox_channels(stack, "pp")
    with browser(stack) as http:
        open_popup(http, "pp", state_of(mine))
        before = snapshot(stack)
        answer = http.get(f"/connect/pp?{redirect_query(state_of(other), client, channels)}")
    assert answer.status_code == 400, answer.text
    assert "another onboarding" in answer.text
    assert snapshot(stack) == before


def test_state_finds_its_own_cookie_among_many(stack: Stack) -> None:
    """A browser (or a test client) that opened more popups than are ever read at once."""
    created = [stack.start_onboarding("pp", "user-a") for _ in range(10)]
    client, channels = sandbox_channels(stack, "pp")
    with browser(stack) as http:
        for each in created:
            open_popup(http, "pp", state_of(each))
        query = redirect_query(state_of(created[0]), client, channels)
        assert http.get(f"/connect/pp?{query}").status_code == 200
    assert onboarding_row(stack, created[0]["id"])["client_id"] == client


def test_a_cookie_made_up_for_someone_elses_attempt_identifies_nothing(stack: Stack) -> None:
    victim = stack.start_onboarding("pp", "victim")
    with browser(stack) as http:
        open_popup(http, "pp", state_of(victim))  # the victim's own browser
    client, channels = sandbox_channels(stack, "pp")
    forged = {COOKIE_PREFIX + victim["id"].replace("-", ""): secrets.token_urlsafe(32)}
    with httpx.Client(base_url=stack.service_url, cookies=forged, timeout=10) as attacker:
        assert_no_attempt_of_ours(stack, attacker, client, channels, victim["id"])


def two_attempts_of_one_user(
    stack: Stack,
) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    """Two onboardings of one user, a sandbox client, and its redirect without state."""
    first = stack.start_onboarding("pp", "user-a")
    second = stack.start_onboarding("pp", "user-a")
    client, channels = sandbox_channels(stack, "pp")
    return first, second, client, redirect_query(None, client, channels)


def test_the_latest_popup_opened_in_a_browser_gets_the_redirect(stack: Stack) -> None:
    first, second, client, query = two_attempts_of_one_user(stack)
    with browser(stack) as http:
        open_popup(http, "pp", state_of(first))
        open_popup(http, "pp", state_of(second))
        assert http.get(f"/connect/pp?{query}").status_code == 200
        before = snapshot(stack)
        # A reload of the popup's last page is a replay: answered, counted once.
        assert http.get(f"/connect/pp?{query}").status_code == 200
    assert snapshot(stack) == before
    assert onboarding_row(stack, second["id"])["client_id"] == client
    assert onboarding_row(stack, first["id"])["redirected_at"] is None


def test_a_replay_goes_to_the_attempt_that_recorded_it_not_a_newer_one(stack: Stack) -> None:
    first, second, _, query = two_attempts_of_one_user(stack)
    with browser(stack) as http:
        open_popup(http, "pp", state_of(first))
        assert http.get(f"/connect/pp?{query}").status_code == 200
        open_popup(http, "pp", state_of(second))
        before = snapshot(stack)
        assert http.get(f"/connect/pp?{query}").status_code == 200
    after = snapshot(stack)
    # Only the second opening's cookie digest and time moved; no redirect was applied.
    for name in ("channels", "clients", "timeline", "product_events"):
        assert after[name] == before[name]
    assert onboarding_row(stack, second["id"])["redirected_at"] is None


def test_open_attempts_of_two_users_in_one_browser_are_not_guessed(stack: Stack) -> None:
    alice = stack.start_onboarding("pp", "alice")
    bob = stack.start_onboarding("pp", "bob")
    client, channels = sandbox_channels(stack, "pp")
    with browser(stack) as http:
        open_popup(http, "pp", state_of(alice))
        open_popup(http, "pp", state_of(bob))
        assert_refused(stack, http, client, channels, 409)


def test_an_attempt_expired_before_its_redirect_is_refused_by_cookie_too(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = sandbox_channels(stack, "pp")
    with browser(stack) as http:
        open_popup(http, "pp", state_of(created))
        execute(stack, "UPDATE onboardings SET expires_at = now() - interval '1 second'")
        assert_refused(stack, http, client, channels, 410)


def test_reopening_an_attempt_elsewhere_retires_the_older_cookie(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, channels = sandbox_channels(stack, "pp")
    with browser(stack) as old, browser(stack) as new:
        open_popup(old, "pp", state_of(created))
        open_popup(new, "pp", state_of(created))
        assert_no_attempt_of_ours(stack, old, client, channels, created["id"])
        assert new.get(f"/connect/pp?{redirect_query(None, client, channels)}").status_code == 200


# ---- progress ---------------------------------------------------------------------------------


def test_progress_by_attempt_needs_the_browsers_cookie(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    attempt = created["id"].replace("-", "")
    with browser(stack) as http:
        open_popup(http, "pp", state_of(created))
        mine = http.get("/connect/pp/progress", params={"attempt": attempt})
    assert mine.status_code == 200, mine.text
    assert mine.json()["id"] == created["id"]
    stranger = httpx.get(
        f"{stack.service_url}/connect/pp/progress", params={"attempt": attempt}, timeout=10
    )
    assert stranger.status_code == 400
    assert "id" not in stranger.json()


def test_progress_answers_no_wildcard_cors(stack: Stack) -> None:
    state = state_of(stack.start_onboarding("pp"))
    answer = httpx.get(
        f"{stack.service_url}/connect/pp/progress",
        params={"start": state},
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


def test_progress_answers_cors_only_to_the_products_embedding_pages(database_url: str) -> None:
    embedder = ProductConfig(
        name="embedder",
        api_tokens=[SecretStr("embedder-token-" + "e" * 24)],
        embed_origins=["https://app.example"],
    )
    overrides = {"pp": {"product": "embedder"}}
    with running_stack(database_url, hub_overrides=overrides, extra_products=[embedder]) as stack:
        created = httpx.post(
            f"{stack.service_url}/api/v1/onboardings",
            json={"hub": "pp", "external_user_id": "u"},
            headers={"Authorization": "Bearer embedder-token-" + "e" * 24},
            timeout=10,
        ).json()
        for origin, allowed in (("https://app.example", True), ("https://evil.example", False)):
            answer = httpx.get(
                f"{stack.service_url}/connect/pp/progress",
                params={"start": state_of(created)},
                headers={"Origin": origin},
                timeout=10,
            )
            assert answer.status_code == 200
            assert answer.headers.get("access-control-allow-origin") == (
                origin if allowed else None
            )
            assert answer.headers["vary"] == "Origin"


def test_progress_after_a_forged_redirect_shows_none_of_the_victims_data(stack: Stack) -> None:
    """Issue 10's leak: my state, someone else's client and number in a typed redirect."""
    victim = stack.start_onboarding("pp", "victim")
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    honest = redirect_query(state_of(victim), client, [channel])
    assert httpx.get(f"{stack.service_url}/connect/pp?{honest}", timeout=10).status_code == 200
    stack.settle()
    phone = stack.sandbox.channel(channel).phone_number

    mine = state_of(stack.start_onboarding("pp", "attacker"))
    for forged in (
        redirect_query(mine, client, [channel]),
        redirect_query(mine, "AttackerOwnCL", [channel]),
    ):
        httpx.get(f"{stack.service_url}/connect/pp?{forged}", timeout=10)
        answer = httpx.get(
            f"{stack.service_url}/connect/pp/progress", params={"start": mine}, timeout=10
        )
        assert answer.status_code == 200
        # Nor does the product's view of the attacker's onboarding.
        view = stack.api.get("/api/v1/onboardings", params={"external_user_id": "attacker"})
        assert view.json()["data"][0]["channels"] == []
        for shown in (answer.text, view.text):
            for theirs in (client, channel, phone.lstrip("+")):
                assert theirs not in shown
        execute(
            stack,
            "UPDATE onboardings SET redirected_at = NULL, client_id = NULL, channels = '{}'"
            " WHERE external_user_id = 'attacker'",
        )
