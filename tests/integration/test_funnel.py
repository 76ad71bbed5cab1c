"""GET /api/v1/funnel and /funnel/days against onboardings driven through the sandbox:
every count, conversion and percentile equals what the rows say, journeys count their
resumed attempts once, and every bad question is a precise 4xx."""

from __future__ import annotations

import statistics
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from onboard360.db.paging import encode_cursor
from onboard360.db.queries.funnel import DAYS_KEYSET
from tests.integration.abandon_http import abandon, resume
from tests.integration.service_http import (
    assert_error,
    count,
    execute,
    get_redirect,
    live_channel,
    onboarded_channels,
    redirect_query,
    rows,
    sandbox_channels,
    state_of,
)
from tests.stack import Stack

STEPS = ["popup_opened", "redirected", "first_channel", "running", "key_stored", "activated"]


def open_popup(stack: Stack, created: dict[str, Any]) -> None:
    answer = httpx.get(
        f"{stack.service_url}/connect/{created['hub']}/popup",
        params={"start": state_of(created)},
        timeout=10,
    )
    assert answer.status_code == 303, answer.text


def journeys_by_rows(stack: Stack, hubs: list[str]) -> dict[str, dict[str, Any]]:
    """Each journey's earliest stamp per step, computed here from the rows."""
    found: dict[str, dict[str, Any]] = {}
    attempts = rows(
        stack, "SELECT * FROM onboardings WHERE hub = ANY(%s) ORDER BY created_at", hubs
    )
    for a in attempts:
        key = str(a["journey_id"] or a["id"])
        j = found.setdefault(key, {"started": None, "abandoned_at": None})
        if a["journey_id"] is None:
            j["started"] = a["created_at"]
        j["abandoned_at"] = a["abandoned_at"]  # the latest attempt's
        for step in STEPS:
            stamp = a[f"{step}_at"]
            if stamp is not None and (j.get(step) is None or stamp < j[step]):
                j[step] = stamp
    return found


def expected_steps(journeys: dict[str, dict[str, Any]]) -> list[tuple[str, int, float | None]]:
    result = [("started", len(journeys), None)]
    before = "started"
    for i, step in enumerate(STEPS):
        reached = sum(1 for j in journeys.values() if any(j.get(s) for s in STEPS[i:]))
        gaps = [
            max(0.0, (j[step] - j[before]).total_seconds())
            for j in journeys.values()
            if j.get(step) and j.get(before)
        ]
        result.append((step, reached, round(statistics.median(gaps), 1) if gaps else None))
        before = step
    return result


def close_to(read: float | None, exact: float | None) -> bool:
    """A percentile read from the funnel's histograms is within 1/16 s or 4.4% of the
    exact one (domain/funnel.py), both rounded to 0.1 s here."""
    if read is None or exact is None:
        return read is exact
    return abs(read - exact) <= max(1 / 16, 0.044 * exact) + 0.1


@pytest.fixture
def driven(stack: Stack) -> dict[str, Any]:
    """Journeys on both hubs: live, stopped at permission, never back, resumed, returning."""
    live, _, _ = live_channel(stack, "pp")  # started → … → activated
    no_popup = stack.start_onboarding("pp", user="user-2")  # never came back
    gave_up = stack.start_onboarding("pp", user="user-4")
    blocked = httpx.post(
        f"{stack.service_url}/connect/pp/steps/popup_blocked",
        params={"start": state_of(gave_up)},
        timeout=10,
    )
    assert blocked.status_code == 200, blocked.text
    open_popup(stack, gave_up)  # went on in the same tab, then left
    abandon(stack, gave_up["id"])
    abandoned = stack.start_onboarding("pp", user="user-3")
    open_popup(stack, abandoned)
    abandon(stack, abandoned["id"])  # expired: the sweep marks both and tells the product
    resumed_by = resume(stack, abandoned["id"])
    open_popup(stack, resumed_by)
    client, channels = sandbox_channels(stack, "pp", permission=True)
    get_redirect(stack, "pp", redirect_query(state_of(resumed_by), client, channels))
    # Direct Payment without API-key permission: numbers, no key.
    denied, _, (channel,) = onboarded_channels(stack, "dp", permission=False)
    stack.sandbox.set_status(channel, "running")
    stack.settle()
    returning = stack.start_onboarding("pp", user="user-1")  # user-1 has a client now
    assert returning["returning_client"] is True
    return {"live": live, "no_popup": no_popup, "denied": denied, "returning": returning}


def test_the_funnel_is_what_the_rows_say(stack: Stack, driven: dict[str, Any]) -> None:
    answer = stack.api.get("/api/v1/funnel")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    today = datetime.now(UTC).date()
    assert body["to"] == today.isoformat()
    assert body["from"] == (today - timedelta(days=29)).isoformat()
    assert sorted(body["hubs"]) == ["dp", "pp"]
    journeys = journeys_by_rows(stack, ["pp", "dp"])
    assert body["journeys"] == len(journeys) == 6  # the resumed attempt is no journey
    got = [(s["step"], s["reached"], s["median_seconds"]) for s in body["steps"]]
    expected = expected_steps(journeys)
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    for (step, _, median), (_, _, exact) in zip(got, expected, strict=True):
        assert close_to(median, exact), (step, median, exact)
    steps = {s["step"]: s for s in body["steps"]}
    assert steps["activated"]["reached"] == 1
    assert steps["redirected"]["reached"] == 3  # live, resumed, denied
    assert steps["redirected"]["conversion"] == round(3 / steps["popup_opened"]["reached"], 4)
    assert steps["running"]["reached"] == 2  # live, denied (running without a key)
    assert body["outcomes"] == {"live": 1, "abandoned": 1, "in_progress": 4}
    assert body["abandoned"] == {"total": 1, "by_step": {"popup_opened": 1}}
    assert body["resumed"] == 1
    assert body["popup_blocked_unfinished"] == 1
    assert body["popup_closed_unfinished"] == 0
    ttl = body["time_to_live"]
    assert sum(b["journeys"] for b in ttl["buckets"]) == 1
    assert ttl["median_seconds"] is not None

    direct = stack.api.get("/api/v1/funnel", params={"billing": "direct"}).json()
    assert direct["hubs"] == ["dp"]
    assert direct["journeys"] == 1
    assert [s["reached"] for s in direct["steps"]][3:] == [1, 1, 0, 0]
    back = stack.api.get("/api/v1/funnel", params={"client": "returning"}).json()
    assert back["journeys"] == 1
    assert back["steps"][1]["reached"] == 0
    new = stack.api.get("/api/v1/funnel", params={"client": "new", "hub": "pp"}).json()
    assert new["journeys"] == 4
    gone = stack.api.get("/api/v1/funnel", params={"to": (today - timedelta(days=1)).isoformat()})
    assert gone.json()["journeys"] == 0


def test_days_page_through_the_range(stack: Stack, driven: dict[str, Any]) -> None:
    today = datetime.now(UTC).date()
    first = today - timedelta(days=9)
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10):
        params = {"from": first.isoformat(), "limit": 3, **({"cursor": cursor} if cursor else {})}
        answer = stack.api.get("/api/v1/funnel/days", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert [d["day"] for d in seen] == [(today - timedelta(days=n)).isoformat() for n in range(10)]
    assert seen[0] == {
        "day": today.isoformat(),
        "started": 6,
        "live": 1,
        "abandoned": 1,
        "in_progress": 4,
    }
    assert all(d["started"] == 0 for d in seen[1:])


# Every stamp of an attempt, moved back together (a journey keeps its times).
_STAMP_COLUMNS = ["created_at", "expires_at", "popup_blocked_at", "popup_closed_at"] + [
    f"{step}_at" for step in (*STEPS, "abandoned")
]


def move_back(stack: Stack, days: int) -> None:
    moved = ", ".join(f"{c} = {c} - make_interval(days => %s)" for c in _STAMP_COLUMNS)
    execute(stack, f"UPDATE onboardings SET {moved}", *[days] * len(_STAMP_COLUMNS))  # noqa: S608


def test_past_days_are_kept_and_a_change_to_one_is_counted_again(
    stack: Stack, driven: dict[str, Any]
) -> None:
    """Days before yesterday are counted once and kept; the same journeys read from kept
    days say what they said counted afresh, and a later change to one of them (0019's
    trigger marks its day) is in the next answer."""
    assert count(stack, "funnel_stale") == 0  # today's journeys moving on mark nothing
    today = datetime.now(UTC).date()
    fresh = stack.api.get("/api/v1/funnel").json()
    move_back(stack, 10)
    day = (today - timedelta(days=10)).isoformat()
    assert rows(stack, "SELECT DISTINCT hub, day::text AS day FROM funnel_stale ORDER BY 1") == [
        {"hub": "dp", "day": day},
        {"hub": "pp", "day": day},
    ]

    kept = stack.api.get("/api/v1/funnel").json()
    assert (kept["journeys"], kept["steps"], kept["outcomes"]) == (
        fresh["journeys"],
        fresh["steps"],
        fresh["outcomes"],
    )
    assert kept["time_to_live"] == fresh["time_to_live"]
    assert count(stack, "funnel_stale") == 0  # counted again, the marks it read are gone
    assert rows(stack, "SELECT count(*) AS n FROM funnel_days_kept WHERE day = %s", day) == [
        {"n": 2}  # both hubs, with the other 27 past days of the range
    ]
    per_day = stack.api.get("/api/v1/funnel/days", params={"limit": 31}).json()["data"]
    assert [d for d in per_day if d["started"]] == [
        {"day": day, "started": 6, "live": 1, "abandoned": 1, "in_progress": 4}
    ]

    opened = fresh["steps"][1]["reached"]
    execute(
        stack,
        "UPDATE onboardings SET popup_opened_at = created_at + interval '2 seconds' WHERE id = %s",
        driven["no_popup"]["id"],
    )
    again = stack.api.get("/api/v1/funnel").json()
    assert again["steps"][1]["reached"] == opened + 1
    assert count(stack, "funnel_stale") == 0


def test_questions_at_once_count_a_past_day_once(stack: Stack, driven: dict[str, Any]) -> None:
    """Several questions needing the same unkept days at once: one counts them (the
    advisory lock), the others find them kept; every answer is the same and whole."""
    move_back(stack, 5)

    def ask(_: int) -> dict[str, Any]:
        with httpx.Client(base_url=stack.service_url, headers=stack.api.headers) as http:
            answer = http.get("/api/v1/funnel", timeout=30)
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, range(4)))
    assert all(a == answers[0] for a in answers)
    assert answers[0]["journeys"] == 6
    assert count(stack, "funnel_stale") == 0
    kept = rows(stack, "SELECT count(*) AS n FROM funnel_days_kept")[0]["n"]
    assert kept == 2 * 28  # two hubs, the range's days before yesterday, each once


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"from": "2026-12-05", "to": "2026-12-04"}, 422, "invalid_range"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, 422, "invalid_range"),
        ({"from": "2026-13-01"}, 422, "validation_failed"),
        ({"from": "20261201"}, 422, "validation_failed"),
        ({"to": "2026-12-04T00:00:00Z"}, 422, "validation_failed"),
        ({"billing": "both"}, 422, "validation_failed"),
        ({"client": "old"}, 422, "validation_failed"),
        ({"hub": "pp", "billing": "direct"}, 422, "invalid_filter"),
        ({"hub": "nope"}, 404, "not_found"),
        ({"form": "2026-12-01"}, 422, "validation_failed"),
        ({"day": "2026-12-01"}, 422, "validation_failed"),
    ],
)
def test_bad_questions_are_precise_4xx(
    stack: Stack, params: dict[str, str], status: int, code: str
) -> None:
    assert_error(stack.api.get("/api/v1/funnel", params=params), status, code)
    assert_error(stack.api.get("/api/v1/funnel/days", params=params), status, code)


def test_a_cursor_of_another_list_is_refused(stack: Stack) -> None:
    other = stack.api.get("/api/v1/onboardings", params={"limit": 1})
    stack.start_onboarding("pp")
    stack.start_onboarding("pp", user="user-2")
    cursor = stack.api.get("/api/v1/onboardings", params={"limit": 1}).json()["next_cursor"]
    assert other.status_code == 200
    assert cursor
    huge = encode_cursor(DAYS_KEYSET, [10**15])
    for bad in (cursor, "garbage", "e30", huge, encode_cursor(DAYS_KEYSET, [0])):
        answer = stack.api.get("/api/v1/funnel/days", params={"cursor": bad})
        assert_error(answer, 400, "invalid_cursor")
    assert_error(httpx.get(f"{stack.service_url}/api/v1/funnel"), 401, "unauthorized")


def test_a_range_given_by_its_first_day_is_its_thirty_days_up_to_today(stack: Stack) -> None:
    stack.start_onboarding("pp")
    today = datetime.now(UTC).date()
    cases = {
        today - timedelta(days=100): today - timedelta(days=71),
        today - timedelta(days=3): today,
        today + timedelta(days=5): today + timedelta(days=5),  # the future: nothing yet
    }
    for first, last in cases.items():
        body = stack.api.get("/api/v1/funnel", params={"from": first.isoformat()}).json()
        assert (body["from"], body["to"]) == (first.isoformat(), last.isoformat())
        assert body["journeys"] == (1 if first <= today <= last else 0)


def test_a_returning_client_sharing_a_live_number_again_reaches_activated(stack: Stack) -> None:
    first, client, channel = live_channel(stack, "pp")
    again = stack.start_onboarding("pp")  # the same user, back to share the number again
    answer = get_redirect(stack, "pp", redirect_query(state_of(again), client, [channel]))
    assert answer.status_code == 200, answer.text
    stack.settle()
    stamps = {
        str(r["id"]): r
        for r in rows(
            stack,
            "SELECT id, redirected_at, first_channel_at, running_at, key_stored_at, "
            "activated_at FROM onboardings",
        )
    }
    # channel.activated went to the product before this attempt owned the number: the
    # stage refresh that made it its own stamped every step, activated included, once.
    for attempt in (first, again):
        row = stamps[attempt["id"]]
        times = [
            row[k]
            for k in (
                "redirected_at",
                "first_channel_at",
                "running_at",
                "key_stored_at",
                "activated_at",
            )
        ]
        assert None not in times, row
        assert times == sorted(times), row
    assert stamps[again["id"]]["activated_at"] > stamps[first["id"]]["activated_at"]
