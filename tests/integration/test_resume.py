"""`POST /api/v1/onboardings/{id}/resume` over HTTP: a fresh link for an abandoned
attempt's user with the same prefill, in the same journey, at most once — and every
refusal leaves the database as it was."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.abandon_http import expire, redirected_ago, run_sweeps
from tests.integration.dashboard_http import onboarded
from tests.integration.service_http import (
    OTHER_TOKEN,
    assert_error,
    count,
    get_redirect,
    redirect_query,
    rows,
    sandbox_channels,
    snapshot,
    state_of,
    two_products,
)
from tests.stack import Stack

PREFILL = {"number": "+4915112345678", "email": "owner@shop.test", "name": "Shop GmbH"}


def resume(stack: Stack, onboarding_id: str, **options: Any) -> httpx.Response:
    return stack.api.post(f"/api/v1/onboardings/{onboarding_id}/resume", **options)


def popup_parameters(stack: Stack, onboarding_id: str) -> dict[str, str]:
    answer = stack.api.post(f"/api/v1/onboardings/{onboarding_id}/popup-parameters")
    assert answer.status_code == 200, answer.text
    params: dict[str, str] = answer.json()["query_parameters"]
    return params


def expired_attempt(stack: Stack, user: str = "crm-user-1") -> dict[str, Any]:
    created = stack.start_onboarding("pp", user, **PREFILL)
    expire(stack, created["id"])
    return created


def test_an_expired_attempt_resumes_with_the_same_prefill_in_the_same_journey(
    stack: Stack,
) -> None:
    old = expired_attempt(stack)

    answer = resume(stack, old["id"])

    assert answer.status_code == 201, answer.text
    new = answer.json()
    assert new["id"] != old["id"]
    assert (new["journey_id"], new["resumed_from"]) == (old["id"], old["id"])
    assert new["returning_client"] is False
    assert state_of(new) != state_of(old)
    params = popup_parameters(stack, new["id"])
    assert {k: params[k] for k in PREFILL} == PREFILL
    assert "next" not in params
    view = stack.api.get(f"/api/v1/onboardings/{new['id']}").json()
    assert (view["stage"], view["journey_id"], view["resumed_from"]) == (
        "waiting_for_popup",
        old["id"],
        old["id"],
    )
    # The browser holding the new link sees its progress, not the journey's other attempts.
    progress = httpx.get(
        f"{stack.service_url}/connect/pp/progress", params={"start": state_of(new)}, timeout=10
    )
    assert progress.status_code == 200, progress.text
    assert not {"journey_id", "resumed_from", "external_user_id"} & set(progress.json())
    assert old["id"] not in progress.text
    # The old attempt is marked (the product asked: no onboarding.abandoned); the new
    # one is announced like any other.
    (mark,) = rows(stack, "SELECT abandoned_step FROM onboardings WHERE id = %s", old["id"])
    assert mark["abandoned_step"] == "started"
    stack.drain()
    types = [e["type"] for e in stack.product_events()]
    assert types.count("onboarding.started") == 2
    assert "onboarding.abandoned" not in types
    assert run_sweeps(stack)[0].abandoned == 0


def test_a_resumed_attempt_completes_normally(stack: Stack) -> None:
    old = expired_attempt(stack)
    new = resume(stack, old["id"]).json()
    client, channels = sandbox_channels(stack, "pp", permission=True)
    assert (
        get_redirect(stack, "pp", redirect_query(state_of(old), client, channels)).status_code
        == 410
    )

    answer = get_redirect(stack, "pp", redirect_query(state_of(new), client, channels))
    assert answer.status_code == 200, answer.text
    stack.sandbox.set_status(channels[0], "running")
    stack.settle()

    view = stack.api.get(f"/api/v1/onboardings/{new['id']}").json()
    assert (view["stage"], view["client_id"]) == ("live", client)
    completed = [e for e in stack.product_events() if e["type"] == "onboarding.completed"]
    assert [e["data"]["onboarding_id"] for e in completed] == [new["id"]]


def test_a_stuck_direct_payment_client_resumes_on_login_and_goes_live(stack: Stack) -> None:
    client, (channel,) = onboarded(stack, "dp", user="crm-dp", permission=False)
    (old,) = rows(stack, "SELECT id::text FROM onboardings")
    assert_error(resume(stack, old["id"]), 409, "in_progress")
    redirected_ago(stack, 73)
    run_sweeps(stack)

    answer = resume(stack, old["id"])

    assert answer.status_code == 201, answer.text
    new = answer.json()
    assert new["returning_client"] is True
    assert popup_parameters(stack, new["id"])["next"] == "login"
    # Back in the popup the client grants API-key permission and shares the number again.
    stack.sandbox.set_api_key_permission(client, True)
    query = redirect_query(state_of(new), client, [channel])
    assert get_redirect(stack, "dp", query).status_code == 200
    stack.settle()
    view = stack.api.get(f"/api/v1/onboardings/{new['id']}").json()
    assert (view["stage"], view["journey_id"]) == ("live", old["id"])
    assert stack.sandbox.channel(channel).keys_generated == 1


def test_an_attempt_is_resumed_once_and_its_resume_continues_the_journey(stack: Stack) -> None:
    first = expired_attempt(stack)
    second = resume(stack, first["id"]).json()

    again = resume(stack, first["id"])
    assert_error(again, 409, "already_resumed")
    assert second["id"] in again.json()["error"]["message"]
    assert_error(resume(stack, second["id"]), 409, "still_open")

    expire(stack, second["id"])
    third = resume(stack, second["id"])
    assert third.status_code == 201, third.text
    assert (third.json()["journey_id"], third.json()["resumed_from"]) == (
        first["id"],
        second["id"],
    )
    assert count(stack, "onboardings") == 3


def test_concurrent_resumes_make_one_attempt(stack: Stack) -> None:
    old = expired_attempt(stack)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _n: resume(stack, old["id"]), range(6)))

    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
    for answer in answers:
        if answer.status_code == 409:
            assert_error(answer, 409, "already_resumed")
    resumed = rows(stack, "SELECT id FROM onboardings WHERE resumed_from = %s", old["id"])
    assert len(resumed) == 1
    assert count(stack, "onboardings") == 2


def test_an_open_or_live_attempt_is_not_resumed_and_nothing_changes(stack: Stack) -> None:
    open_one = stack.start_onboarding("pp", "crm-open")
    onboarded(stack, "pp", user="crm-live")
    (live,) = rows(stack, "SELECT id::text FROM onboardings WHERE stage = 'live'")
    before = snapshot(stack)

    assert_error(resume(stack, open_one["id"]), 409, "still_open")
    assert_error(resume(stack, live["id"]), 409, "already_live")

    assert snapshot(stack) == before


@pytest.mark.parametrize(
    ("path", "options", "status", "code"),
    [
        ("not-a-uuid", {}, 422, "validation_failed"),
        ("00000000-0000-0000-0000-000000000000", {}, 404, "not_found"),
        (
            "{id}",
            {"content": b"{not json", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
        ),
        ("{id}", {"json": {"external_user_id": "someone-else"}}, 422, "validation_failed"),
        ("{id}", {"json": []}, 422, "validation_failed"),
    ],
)
def test_hostile_requests_are_refused_and_change_nothing(
    stack: Stack, path: str, options: dict[str, Any], status: int, code: str
) -> None:
    old = expired_attempt(stack)
    before = snapshot(stack)

    answer = resume(stack, path.format(id=old["id"]), **options)

    assert_error(answer, status, code)
    assert snapshot(stack) == before


def test_an_empty_body_resumes_as_no_body_does(stack: Stack) -> None:
    assert resume(stack, expired_attempt(stack)["id"], json={}).status_code == 201


def test_another_products_onboarding_is_not_found(database_url: str) -> None:
    with two_products(database_url) as stack:
        theirs = stack.start_onboarding("pp", "crm-user")  # "default" owns pp
        expire(stack, theirs["id"])
        before = snapshot(stack)
        with httpx.Client(
            base_url=stack.service_url, headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
        ) as other:
            answer = other.post(f"/api/v1/onboardings/{theirs['id']}/resume")
        assert_error(answer, 404, "not_found")
        unauthenticated = httpx.post(
            f"{stack.service_url}/api/v1/onboardings/{theirs['id']}/resume"
        )
        assert_error(unauthenticated, 401, "unauthorized")
        assert snapshot(stack) == before
