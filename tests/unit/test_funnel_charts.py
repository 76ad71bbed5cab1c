"""The funnel page's SVG geometry stays inside its viewBox whatever the numbers, and its
words for times and shares read right."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from onboard360.db.queries.funnel import Day
from onboard360.domain.funnel import OUTCOMES, STEPS, TTL_LABELS, conversion
from onboard360.web.dashboard import funnel_charts as charts


def test_durations_and_shares_in_words() -> None:
    assert charts.duration(None) == "—"
    assert charts.duration(0.04) == "0.0 s"
    assert charts.duration(4.26) == "4.3 s"
    assert charts.duration(42) == "42 s"
    assert charts.duration(90) == "1.5 min"
    assert charts.duration(7200) == "2.0 h"
    assert charts.duration(86400 * 3) == "3.0 d"
    assert charts.percent(None) == "—"
    assert charts.percent(0.6667) == "66.7%"
    assert conversion(2, 3) == 0.6667
    assert conversion(0, 0) is None


@given(st.lists(st.integers(0, 10**6), min_size=len(STEPS), max_size=len(STEPS)))
def test_conversion_bars_stay_inside(counts: list[int]) -> None:
    counts = sorted(counts, reverse=True)  # each step at most the one before
    steps = [
        {"step": s, "reached": n, "conversion": None if i == 0 else conversion(n, counts[i - 1])}
        for i, (s, n) in enumerate(zip(STEPS, counts, strict=True))
    ]
    chart = charts.conversion_chart(steps)
    for bar in chart["bars"]:
        assert 0 <= bar["x"] + bar["width"] <= chart["width"] + 0.05
        assert 0 <= bar["text_x"] <= chart["width"]
        assert bar["y"] + chart["bar"] <= chart["height"]
        assert (bar["width"] > 0) == (int(bar["text"].split(" ")[0]) > 0)


@given(st.lists(st.tuples(*(st.integers(0, 5000) for _ in OUTCOMES)), max_size=366))
def test_day_columns_stay_inside_and_stack_to_their_day(counts: list[tuple[int, ...]]) -> None:
    last = date(2026, 12, 4)
    days = [
        Day(last - timedelta(days=i), sum(c), dict(zip(OUTCOMES, c, strict=True)))
        for i, c in enumerate(counts)
    ]
    chart = charts.days_chart(days)
    assert len(chart["columns"]) == len(days)
    top = max((d.started for d in days), default=0) or 1
    for column, day in zip(chart["columns"], reversed(days), strict=True):
        assert column["day"] == day.day.isoformat()
        assert column["x"] >= 0
        assert column["x"] + column["width"] <= chart["width"] + 0.05
        stacked = sum(part["height"] for part in column["parts"])
        assert abs(stacked - chart["height"] * day.started / top) < 0.05 * len(OUTCOMES)
        assert all(part["y"] >= -0.05 for part in column["parts"])


def test_time_to_live_bars() -> None:
    buckets = [{"label": label, "journeys": n} for n, label in enumerate(TTL_LABELS)]
    chart = charts.ttl_chart(buckets)
    tallest = max(chart["bars"], key=lambda b: b["height"])
    assert tallest["label"] == TTL_LABELS[-1]
    assert tallest["y"] == 0
    assert chart["bars"][0]["height"] == 0
    assert all(b["x"] + b["width"] <= chart["width"] for b in chart["bars"])
