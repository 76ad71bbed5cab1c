"""The funnel of the journeys started in a range of days (domain/funnel.py says what a
journey, a step and an outcome are).

Both questions read the journeys of the range the same way (``_JOURNEYS``): the first
attempts started in it (an index-only scan of ``onboardings_funnel`` over that range, or
for a short range the planner may prefer 0011's ``onboardings_newest`` and the range's
heap pages) and their resumed attempts through ``onboardings_resumed`` (migration 0018),
so the cost follows the range's journeys, never the table's history
(tests/integration/test_funnel_plans.py). ``summary`` aggregates
them in one pass (counts, exact percentiles, outcomes, abandoned by step, time-to-live
buckets, side counts); ``days`` counts them per day and outcome. Days are UTC days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ARRAY, Boolean, Text, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.db.paging import InvalidCursor, Keyset, decode_cursor, encode_cursor
from onboard360.domain.funnel import OUTCOMES, STEPS, TTL_EDGES, TTL_LABELS, Step, conversion

# The stamps after ``started``, in step order (domain/funnel.py).
_STAMPS = ("popup_opened", "redirected", "first_channel", "running", "key_stored", "activated")
_SIDE = ("popup_blocked", "popup_closed")
_LATEST = ("abandoned_at", "abandoned_step")

_EDGES = ", ".join(f"{edge}.0" for edge in TTL_EDGES)
_ROOT_COLUMNS = ", ".join(
    ["o.id", "o.created_at"]
    + [f"o.{s}_at" for s in (*_STAMPS, *_SIDE)]
    + [f"o.{c}" for c in _LATEST]
)
_LATER_COLUMNS = ", ".join(
    [f"min(a.{s}_at) AS {s}_at" for s in (*_STAMPS, *_SIDE)]
    + [f"(array_agg(a.{c} ORDER BY a.created_at DESC))[1] AS {c}" for c in _LATEST]
)
_JOURNEY_COLUMNS = ", ".join(
    [f"least(r.{s}_at, l.{s}_at) AS {s}" for s in (*_STAMPS, *_SIDE)]
    + [f"CASE WHEN l.id IS NULL THEN r.{c} ELSE l.{c} END AS {c}" for c in _LATEST]
)
# One row per journey started in [start, end): its earliest stamp of each step, its
# latest attempt's abandonment, whether it was resumed.
_JOURNEYS = f"""
WITH roots AS (
  SELECT {_ROOT_COLUMNS} FROM onboardings o
  WHERE o.hub = ANY(:hubs) AND o.journey_id IS NULL
    AND o.created_at >= :start AND o.created_at < :end
    AND (CAST(:returning AS boolean) IS NULL OR o.returning_client = :returning)
), later AS (
  SELECT a.journey_id AS id, {_LATER_COLUMNS}
  FROM onboardings a WHERE a.journey_id IS NOT NULL
    AND a.hub = ANY(:hubs) AND a.created_at >= :start
  GROUP BY a.journey_id
), journeys AS (
  SELECT r.created_at AS started, {_JOURNEY_COLUMNS}, l.id IS NOT NULL AS resumed
  FROM roots r LEFT JOIN later l ON l.id = r.id
), outcomes AS (
  SELECT j.*, CASE WHEN coalesce(j.key_stored, j.activated) IS NOT NULL THEN 'live'
    WHEN j.abandoned_at IS NOT NULL THEN 'abandoned' ELSE 'in_progress' END AS outcome,
    width_bucket(extract(epoch FROM j.key_stored - j.started)::float8,
      ARRAY[{_EDGES}]::float8[]) AS ttl
  FROM journeys j
)"""  # noqa: S608 - column names are ours


def _reached(index: int) -> str:
    """Reached step ``index`` of _STAMPS: it, or any later step, is stamped."""
    return f"count(coalesce({', '.join(_STAMPS[index:])}))"


def _times(index: int) -> str:
    """Median and p90 of the seconds from the step before, over the journeys with both
    stamps (``greatest`` would turn a missing one into 0: the FILTER keeps them out)."""
    before = "started" if index == 0 else _STAMPS[index - 1]
    return (
        "percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP "
        f"(ORDER BY greatest(0, extract(epoch FROM {_STAMPS[index]} - {before}))) "
        f"FILTER (WHERE {_STAMPS[index]} IS NOT NULL AND {before} IS NOT NULL)"
    )


_STEP_COLUMNS = ", ".join(
    f"{_reached(i)} AS {s}, {_times(i)} AS {s}_times" for i, s in enumerate(_STAMPS)
)
# The abandonment sweep names the last step an attempt reached with the funnel's own step
# names; anything else (or none) is counted as "other".
_STEP_NAMES = ", ".join(f"'{step}'" for step in STEPS)
_BREAKDOWN = ", ".join(
    [f"count(*) FILTER (WHERE outcome = '{o}') AS outcome_{o}" for o in OUTCOMES]
    + [
        f"count(*) FILTER (WHERE outcome = 'live' AND ttl = {i}) AS ttl_{i}"
        for i in range(len(TTL_LABELS))
    ]
    + [
        f"count(*) FILTER (WHERE outcome = 'abandoned' AND abandoned_step = '{step}') "
        f"AS abandoned_{step}"
        for step in STEPS
    ]
    + [
        "count(*) FILTER (WHERE outcome = 'abandoned' AND "
        f"coalesce(abandoned_step, '') NOT IN ({_STEP_NAMES})) AS abandoned_other"
    ]
)
_SUMMARY = text(
    _JOURNEYS  # noqa: S608 - column names are ours
    + f"SELECT count(*) AS started, {_STEP_COLUMNS}"
    + """, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP
        (ORDER BY greatest(0, extract(epoch FROM key_stored - started)))
        FILTER (WHERE key_stored IS NOT NULL) AS ttl_times,
      count(*) FILTER (WHERE popup_blocked IS NOT NULL AND redirected IS NULL) AS blocked,
      count(*) FILTER (WHERE popup_closed IS NOT NULL AND redirected IS NULL) AS closed,
      count(*) FILTER (WHERE resumed) AS resumed, """
    + _BREAKDOWN
    + " FROM outcomes"
).bindparams(bindparam("hubs", type_=ARRAY(Text)), bindparam("returning", type_=Boolean))

_DAYS = text(
    _JOURNEYS  # noqa: S608 - column names are ours
    + """
    SELECT (started AT TIME ZONE 'UTC')::date AS day, outcome, count(*) AS n
    FROM outcomes GROUP BY 1, 2"""
).bindparams(bindparam("hubs", type_=ARRAY(Text)), bindparam("returning", type_=Boolean))


# Sorting a year of journeys for the percentiles and grouping them by day fit in memory
# with this much (the server's default, 4MB, spills them to temporary files); for this
# transaction only, whatever the server's setting.
_WORK_MEM = text("SET LOCAL work_mem = '32MB'")


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


def _bounds(first: date, last: date) -> dict[str, datetime]:
    start = datetime.combine(first, time(), UTC)
    return {"start": start, "end": datetime.combine(last, time(), UTC) + timedelta(days=1)}


async def _day_rows(
    conn: AsyncConnection, hubs: Sequence[str], first: date, last: date, returning: bool | None
) -> list[Any]:
    if not hubs or last < first:
        return []
    params = {"hubs": list(hubs), "returning": returning, **_bounds(first, last)}
    await conn.execute(_WORK_MEM)
    return list(await conn.execute(_DAYS, params))


async def summary(
    conn: AsyncConnection,
    hubs: Sequence[str],
    first: date,
    last: date,
    *,
    returning: bool | None = None,
) -> Funnel:
    """The funnel of the hubs' journeys started from ``first`` to ``last`` (UTC days);
    ``returning``: only returning (True) or new (False) clients' journeys."""
    row: Any = None
    if hubs:
        params = {"hubs": list(hubs), "returning": returning, **_bounds(first, last)}
        await conn.execute(_WORK_MEM)
        row = (await conn.execute(_SUMMARY, params)).one()
    steps: list[Step] = []
    before = None
    for name in STEPS:
        reached = int(getattr(row, "started" if name == "started" else name, 0) or 0)
        times = (getattr(row, f"{name}_times", None) if row is not None else None) or (None, None)
        steps.append(
            Step(
                name,
                reached,
                None if before is None else conversion(reached, before),
                _seconds(times[0]),
                _seconds(times[1]),
            )
        )
        before = reached

    def counted(name: str) -> int:
        return int(getattr(row, name)) if row is not None else 0

    outcomes = {o: counted(f"outcome_{o}") for o in OUTCOMES}
    buckets = [counted(f"ttl_{i}") for i in range(len(TTL_LABELS))]
    abandoned = {step: n for step in (*STEPS, "other") if (n := counted(f"abandoned_{step}"))}
    ttl = (row.ttl_times if row is not None else None) or (None, None)
    return Funnel(
        first=first,
        last=last,
        steps=steps,
        time_to_live={
            "median_seconds": _seconds(ttl[0]),
            "p90_seconds": _seconds(ttl[1]),
            "buckets": [
                {
                    "label": label,
                    "min_seconds": TTL_EDGES[i - 1] if i else 0,
                    "max_seconds": TTL_EDGES[i] if i < len(TTL_EDGES) else None,
                    "journeys": buckets[i],
                }
                for i, label in enumerate(TTL_LABELS)
            ],
        },
        popup_blocked_unfinished=counted("blocked"),
        popup_closed_unfinished=counted("closed"),
        resumed=counted("resumed"),
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
    included), with its journeys by outcome."""
    counted: dict[date, dict[str, int]] = {}
    for r in await _day_rows(conn, hubs, first, last, returning):
        day = counted.setdefault(r.day, dict.fromkeys(OUTCOMES, 0))
        day[r.outcome] += r.n
    result = []
    day = last
    while day >= first:
        outcomes = counted.get(day, dict.fromkeys(OUTCOMES, 0))
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
