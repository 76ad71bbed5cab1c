"""The redirect consumer (GET /connect/{hub}?client=…&channels=[…]&state=…) over real HTTP:
every form in the wild accepted, hostile ones refused with a clear page and no state change,
states tied to their attempt, replays counted once."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from onboard360.domain import ListStyle, RedirectResult, format_redirect
from tests.integration.service_http import (
    count,
    execute,
    get_redirect,
    redirect_query,
    rows,
    sandbox_channels,
    snapshot,
    state_of,
)
from tests.stack import Stack


def started(stack: Stack) -> str:
    return state_of(stack.start_onboarding("pp"))


def assert_refused_page(answer_text: str, content_type: str) -> None:
    assert content_type.startswith("text/html")
    assert "We cannot continue" in answer_text
    for raw in ("<script", "<img", "onerror=", "' OR", "DROP TABLE", "../"):
        assert raw not in answer_text


# ---- hostile and malformed forms ------------------------------------------------------------

LONG_ID = "A" * 65
HOSTILE = {
    "no client": "channels=[ChanA1CH]",
    "empty client": "client=&channels=[ChanA1CH]",
    "script client": "client=%3Cscript%3Ealert(1)%3C/script%3E&channels=[ChanA1CH]",
    "img in channels": "client=ClA1CL&channels=[%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E]",
    "sql in client": "client=ClA1CL'%20OR%201=1--&channels=[ChanA1CH]",
    "sql in channels": "client=ClA1CL&channels=[ChanA1CH;DROP%20TABLE%20channels]",
    "path in channels": "client=ClA1CL&channels=[../../etc/passwd]",
    "overlong id": f"client=ClA1CL&channels=[{LONG_ID}]",
    "101 ids": "client=ClA1CL&channels=[" + ",".join(f"C{i}CH" for i in range(101)) + "]",
    "1000 ids": "client=ClA1CL&channels=[" + ",".join(f"C{i}CH" for i in range(1000)) + "]",
    "unbalanced": "client=ClA1CL&channels=[ChanA1CH",
    "granted and revoked": "client=ClA1CL&channels=[ChanA1CH]&revoked=[ChanA1CH]",
    "two clients": "client=ClA1CL&client=ClB2CL&channels=[ChanA1CH]",
    "two channel lists": "client=ClA1CL&channels=[ChanA1CH]&channels=[ChanB2CH]",
    "non-ascii id": "client=ClA1CL&channels=[Chan%C3%A91CH]",
    "too many params": "client=ClA1CL&" + "&".join(f"p{i}=1" for i in range(40)),
    "encoded too often": "client=ClA1CL&channels="
    + quote(quote(quote(quote(quote("[ChanA1CH]"))))),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_redirect_is_a_clear_400_page_and_changes_nothing(stack: Stack, case: str) -> None:
    state = started(stack)
    before = snapshot(stack)
    answer = get_redirect(stack, "pp", f"{HOSTILE[case]}&state={state}")
    assert answer.status_code == 400, answer.text
    assert_refused_page(answer.text, answer.headers["content-type"])
    # Without a client it is no redirect at all: the connect page asks for a state.
    assert ("malformed" if "client=" in HOSTILE[case] else "no onboarding state") in answer.text
    assert snapshot(stack) == before
    assert answer.headers["cache-control"] == "no-store"


def test_bad_state_values_are_refused(stack: Stack) -> None:
    started(stack)
    for state in ("a b", "x" * 513, "%3Cscript%3E", "caf%C3%A9"):
        answer = get_redirect(stack, "pp", f"client=ClA1CL&channels=[ChanA1CH]&state={state}")
        assert answer.status_code == 400
        assert_refused_page(answer.text, answer.headers["content-type"])
    assert count(stack, "channels") == 0


def test_overlong_query_is_refused(stack: Stack) -> None:
    state = started(stack)
    answer = get_redirect(
        stack, "pp", f"client=ClA1CL&channels=[ChanA1CH]&x={'y' * 9000}&state={state}"
    )
    assert 400 <= answer.status_code < 500
    assert count(stack, "channels") == 0


# ---- every form seen in the wild ------------------------------------------------------------


@pytest.mark.parametrize("style", list(ListStyle))
def test_every_list_style_is_accepted(stack: Stack, style: ListStyle) -> None:
    state = started(stack)
    client, channels = sandbox_channels(stack, "pp", 2)
    query = format_redirect(RedirectResult(client, tuple(channels), (), state), style)
    answer = get_redirect(stack, "pp", query)
    assert answer.status_code == 200, answer.text
    (row,) = rows(stack, "SELECT client_id, channels FROM onboardings")
    assert (row["client_id"], sorted(row["channels"])) == (client, sorted(channels))


def test_repeated_agreeing_params_and_duplicate_ids_are_normalised(stack: Stack) -> None:
    state = started(stack)
    client, (a, b) = sandbox_channels(stack, "pp", 2)
    query = (
        f"client={client}&channels=[{a},{b},{a}]&client={client}&channels=%5B{b},{a}%5D"
        f"&state={state}&utm_source=mail"
    )
    assert get_redirect(stack, "pp", query).status_code == 200
    (row,) = rows(stack, "SELECT channels FROM onboardings")
    assert row["channels"] == [a, b]


# ---- states ---------------------------------------------------------------------------------


def test_unknown_state_is_refused_and_records_nothing(stack: Stack) -> None:
    started(stack)
    before = snapshot(stack)
    client, channels = sandbox_channels(stack, "pp")
    answer = get_redirect(stack, "pp", redirect_query("never-issued-state", client, channels))
    assert answer.status_code == 400
    assert "unknown" in answer.text
    assert snapshot(stack) == before


def test_a_redirect_without_state_is_a_direct_link_recorded_unbound(stack: Stack) -> None:
    client, channels = sandbox_channels(stack, "pp")
    answer = get_redirect(stack, "pp", redirect_query(None, client, channels))
    assert answer.status_code == 200
    assert "being connected" in answer.text
    (row,) = rows(stack, "SELECT external_user_id FROM clients")
    assert row["external_user_id"] is None
    assert count(stack, "key_generations") == 0


def test_a_state_of_another_hub_is_unknown_here(stack: Stack) -> None:
    state = state_of(stack.start_onboarding("dp"))
    client, channels = sandbox_channels(stack, "pp")
    assert get_redirect(stack, "pp", redirect_query(state, client, channels)).status_code == 400
    assert count(stack, "channels") == 0


def test_expired_state_is_refused_with_410(stack: Stack) -> None:
    state = started(stack)
    execute(stack, "UPDATE onboardings SET expires_at = now() - interval '1 second'")
    before = snapshot(stack)
    client, channels = sandbox_channels(stack, "pp")
    answer = get_redirect(stack, "pp", redirect_query(state, client, channels))
    assert answer.status_code == 410
    assert "expired" in answer.text
    assert snapshot(stack) == before


def test_a_completed_onboarding_still_accepts_its_own_late_replay(stack: Stack) -> None:
    state = started(stack)
    client, channels = sandbox_channels(stack, "pp")
    query = redirect_query(state, client, channels)
    assert get_redirect(stack, "pp", query).status_code == 200
    execute(stack, "UPDATE onboardings SET expires_at = now() - interval '1 second'")
    assert get_redirect(stack, "pp", query).status_code == 200


def test_a_used_state_with_a_different_result_is_refused(stack: Stack) -> None:
    state = started(stack)
    client, (a, b) = sandbox_channels(stack, "pp", 2)
    assert get_redirect(stack, "pp", redirect_query(state, client, [a])).status_code == 200
    before = snapshot(stack)
    for other in (
        redirect_query(state, client, [a, b]),
        redirect_query(state, client, [], revoked=[a]),
        redirect_query(state, "OtherClientCL", [a]),
    ):
        answer = get_redirect(stack, "pp", other)
        assert answer.status_code == 409
        assert "already completed" in answer.text
    assert snapshot(stack) == before


def test_the_same_redirect_twice_is_accepted_and_counted_once(stack: Stack) -> None:
    state = started(stack)
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    query = redirect_query(state, client, [channel])
    assert get_redirect(stack, "pp", query).status_code == 200
    stack.settle()
    before = snapshot(stack)
    # The official button calls back twice; its opener reloads with an encoded copy.
    encoded = format_redirect(
        RedirectResult(client, (channel,), (), state), ListStyle.ENCODED, question_mark=True
    )
    for again in (query, encoded.removeprefix("?")):
        assert get_redirect(stack, "pp", again).status_code == 200
    stack.settle()
    assert snapshot(stack) == before
    assert stack.sandbox.channel(channel).keys_generated == 1
    completed = rows(stack, "SELECT id FROM timeline WHERE kind = 'onboarding_completed'")
    assert len(completed) == 1


def test_concurrent_copies_of_one_redirect_count_once(stack: Stack) -> None:
    import concurrent.futures  # noqa: PLC0415

    state = started(stack)
    client, channels = sandbox_channels(stack, "pp", 2)
    query = redirect_query(state, client, channels)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: get_redirect(stack, "pp", query), range(12)))
    assert {a.status_code for a in answers} == {200}
    completed = rows(stack, "SELECT id FROM timeline WHERE kind = 'onboarding_completed'")
    assert len(completed) == 1


# ---- what pages reflect ---------------------------------------------------------------------


def test_the_connect_page_reflects_no_markup(stack: Stack) -> None:
    for start in ("%3Cscript%3Ealert(1)%3C/script%3E", "%22%3E%3Cimg%20src=x%3E"):
        answer = get_redirect(stack, "pp", f"start={start}")
        assert answer.status_code == 400
        assert_refused_page(answer.text, answer.headers["content-type"])


def test_unknown_hub_page_is_404_and_reflects_nothing(stack: Stack) -> None:
    answer = get_redirect(stack, "%3Cscript%3E", "client=ClA1CL&channels=[ChanA1CH]")
    assert answer.status_code == 404
    assert "<script" not in answer.text.lower().replace("<script src", "")
