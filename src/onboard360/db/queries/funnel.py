"""The funnel of the journeys started in a range of days: steps, conversion, times,
outcomes per day (domain/funnel.py says what a journey, a step and an outcome are).

The counts come from db/queries/funnel_counts.py: past days kept, yesterday and today
counted on each question. The median and p90 are read from the summed histograms
(domain/funnel.py: within 1/16 s or 4.4% of the exact value).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db.paging import InvalidCursor, Keyset, decode_cursor, encode_cursor
from onboard360.db.queries.funnel_counts import counted
from onboard360.domain.funnel import (
    OUTCOMES,
    STEPS,
    TTL_EDGES,
    TTL_LABELS,
    Step,
    conversion,
    percentile,
)


@dataclass(frozen=True)
class Day:
    """One UTC day's journeys by outcome."""

    day: date
    started: int
    outcomes: dict[str, int]


@dataclass(frozen=True)
class Funnel:
    """The journeys started from ``first`` to ``last`` (UTC days, both included)."""

    first: date
    last: date
    steps: list[Step]
    time_to_live: dict[str, Any]
    popup_blocked_unfinished: int
    popup_closed_unfinished: int
    resumed: int
    abandoned: int
    abandoned_by_step: dict[str, int]
    outcomes: dict[str, int] = field(default_factory=dict)


def _times(histogram: dict[int, int]) -> tuple[float | None, float | None]:
    """The median and p90 of a histogram, rounded to 0.1 s."""
    return _seconds(percentile(histogram, 0.5)), _seconds(percentile(histogram, 0.9))


async def summary(
    conn: AsyncConnection,
    hubs: Sequence[str],
    first: date,
    last: date,
    *,
    returning: bool | None = None,
) -> Funnel:
    """The funnel of the hubs' journeys started from ``first`` to ``last`` (UTC days);
    ``returning``: only returning (True) or new (False) clients' journeys. Keeps the
    range's past days it counts: the caller commits."""
    counts: Counter[str] = Counter()
    histograms: dict[str, dict[int, int]] = {}
    for row in await counted(conn, hubs, first, last, returning, per_day=False):
        if row.name.startswith("time:"):
            histogram = histograms.setdefault(row.name.removeprefix("time:"), {})
            histogram[row.bucket] = histogram.get(row.bucket, 0) + int(row.n)
        else:
            counts[row.name] += int(row.n)
    steps: list[Step] = []
    before = None
    for name in STEPS:
        reached = counts["started" if name == "started" else f"reached:{name}"]
        median, p90 = _times(histograms.get(name, {})) if name != "started" else (None, None)
        steps.append(
            Step(
                name,
                reached,
                None if before is None else conversion(reached, before),
                median,
                p90,
            )
        )
        before = reached
    outcomes = {o: counts[f"outcome:{o}"] for o in OUTCOMES}
    abandoned = {s: n for s in (*STEPS, "other") if (n := counts[f"abandoned:{s}"])}
    ttl_median, ttl_p90 = _times(histograms.get("ttl", {}))
    return Funnel(
        first=first,
        last=last,
        steps=steps,
        time_to_live={
            "median_seconds": ttl_median,
            "p90_seconds": ttl_p90,
            "buckets": [
                {
                    "label": label,
                    "min_seconds": TTL_EDGES[i - 1] if i else 0,
                    "max_seconds": TTL_EDGES[i] if i < len(TTL_EDGES) else None,
                    "journeys": counts[f"ttl:{i}"],
                }
                for i, label in enumerate(TTL_LABELS)
            ],
        },
        popup_blocked_unfinished=counts["blocked"],
        popup_closed_unfinished=counts["closed"],
        resumed=counts["resumed"],
        abandoned=outcomes["abandoned"],
        abandoned_by_step=abandoned,
        outcomes=outcomes,
    )


async def days(
    conn: AsyncConnection,
    hubs: Sequence[str],
    first: date,
    last: date,
    *,
    returning: bool | None = None,
) -> list[Day]:
    """Every UTC day from ``last`` back to ``first`` (newest first, days without a journey
    included), with its journeys by outcome. Keeps the past days it counts: the caller
    commits."""
    by_day: dict[date, dict[str, int]] = {}
    for r in await counted(conn, hubs, first, last, returning, per_day=True):
        day = by_day.setdefault(r.day, dict.fromkeys(OUTCOMES, 0))
        day[r.name.removeprefix("outcome:")] += int(r.n)
    result = []
    day = last
    while day >= first:
        outcomes = by_day.get(day, dict.fromkeys(OUTCOMES, 0))
        result.append(Day(day, sum(outcomes.values()), outcomes))
        day -= timedelta(days=1)
    return result


# A page of days is a window of ``limit`` days ending just before the previous page's
# oldest day (the cursor holds it, as its ordinal): every page reads only its own days.
DAYS_KEYSET = Keyset("funnel_days", (), (int,), descending=True)


async def days_page(
    conn: AsyncConnection,
    hubs: Sequence[str],
    first: date,
    last: date,
    *,
    returning: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Day], str | None]:
    """One page of ``days``, newest first, and the cursor of the next (None on the last)."""
    top = last
    if cursor is not None:
        (ordinal,) = decode_cursor(DAYS_KEYSET, cursor)
        if not 1 < ordinal <= date.max.toordinal():
            raise InvalidCursor
        top = min(last, date.fromordinal(ordinal) - timedelta(days=1))
    bottom = max(first, top - timedelta(days=limit - 1))
    if top < first:
        return [], None
    page = await days(conn, hubs, bottom, top, returning=returning)
    more = bottom > first
    return page, encode_cursor(DAYS_KEYSET, [bottom.toordinal()]) if more else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)
