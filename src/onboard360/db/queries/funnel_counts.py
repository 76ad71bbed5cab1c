"""Counting the funnel's journeys, and keeping each past day's counts
(db/queries/funnel.py answers from them; domain/funnel.py says what a journey, a step and
an outcome are).

A day's journeys are counted once (``_COUNTED``: how many started, reached each step,
ended in each outcome, …, and each step's time from the one before as a histogram) and
kept in ``funnel_counts`` (migration 0019) for every day before yesterday. A question adds
up its range's kept days (``_KEPT_TOTALS``: a range of the primary key, a few hundred rows
per day) and counts yesterday and today afresh, so its cost follows the number of days,
not the journeys in them. A kept day that a change made stale (0019's trigger marks it),
or one not counted yet, is counted first (``_keep``), under one advisory lock so two
questions never count the same day at once; the retention job keeps the last year's days
and counts stale ones again every night (``keep_days``), so questions find them kept.

Counting reads a range's journeys (``_JOURNEYS``): the first attempts started in it (an
index-only scan of ``onboardings_funnel``, or 0011's ``onboardings_newest`` and the
range's heap pages for a short range) and their resumed attempts through
``onboardings_resumed`` (0018), never the table's history
(tests/integration/test_funnel_plans.py). Days are UTC days.
"""

# ruff: noqa: S608 - every statement here is built from this module's own names

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Boolean, Date, Text, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.domain.funnel import (
    BUCKETS_PER_DOUBLING,
    MAX_DAYS,
    OUTCOMES,
    STEPS,
    SUB_SECOND_BUCKETS,
    TTL_EDGES,
    TTL_LABELS,
)

# The stamps after ``started``, in step order (domain/funnel.py).
_STAMPS = ("popup_opened", "redirected", "first_channel", "running", "key_stored", "activated")
_SIDE = ("popup_blocked", "popup_closed")
_LATEST = ("abandoned_at", "abandoned_step")

_EDGES = ", ".join(f"{edge}.0" for edge in TTL_EDGES)
_ROOT_COLUMNS = ", ".join(
    ["o.id", "o.hub", "o.returning_client", "o.created_at"]
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
  SELECT r.hub, r.returning_client, r.created_at AS started, {_JOURNEY_COLUMNS},
    l.id IS NOT NULL AS resumed
  FROM roots r LEFT JOIN later l ON l.id = r.id
), outcomes AS (
  SELECT j.*, CASE WHEN coalesce(j.key_stored, j.activated) IS NOT NULL THEN 'live'
    WHEN j.abandoned_at IS NOT NULL THEN 'abandoned' ELSE 'in_progress' END AS outcome,
    width_bucket(extract(epoch FROM j.key_stored - j.started)::float8,
      ARRAY[{_EDGES}]::float8[]) AS ttl
  FROM journeys j
)"""


def seconds_sql(later: str, earlier: str) -> str:
    """The seconds from ``earlier`` to ``later`` as float8 (NULL when either is NULL):
    ``date_part``, not ``extract``, whose numeric is several times slower to compute."""
    return f"date_part('epoch', {later} - {earlier})"


def bucket_sql(seconds: str) -> str:
    """domain.funnel.bucket_of of ``seconds`` (float8; NULL stays NULL), ln(s)/ln(2) as
    there so that both round alike."""
    below, past = SUB_SECOND_BUCKETS, BUCKETS_PER_DOUBLING
    return (
        f"CASE WHEN {seconds} < 1 THEN floor(greatest(0, {seconds}) * {below})::int "
        f"ELSE {below} + floor(ln({seconds}) / ln(2) * {past})::int END"
    )


_STEP_NAMES = ", ".join(f"'{step}'" for step in STEPS)
# What is counted of each journey: (name, condition). A step is reached if it or any
# later step is stamped. The abandonment sweep names the last step reached with the
# funnel's step names; anything else (or none) is counted as "other".
_COUNTERS = (
    [("started", "true")]
    + [
        (f"reached:{step}", f"coalesce({', '.join(later)}) IS NOT NULL")
        for step, later in ((s, _STAMPS[i:]) for i, s in enumerate(_STAMPS))
    ]
    + [(f"outcome:{o}", f"outcome = '{o}'") for o in OUTCOMES]
    + [(f"ttl:{i}", f"outcome = 'live' AND ttl = {i}") for i in range(len(TTL_LABELS))]
    + [
        (f"abandoned:{step}", f"outcome = 'abandoned' AND abandoned_step = '{step}'")
        for step in STEPS
    ]
    + [
        (
            "abandoned:other",
            f"outcome = 'abandoned' AND coalesce(abandoned_step, '') NOT IN ({_STEP_NAMES})",
        ),
        ("blocked", "popup_blocked IS NOT NULL AND redirected IS NULL"),
        ("closed", "popup_closed IS NOT NULL AND redirected IS NULL"),
        ("resumed", "resumed"),
    ]
)
# The histograms: ``time:<step>`` of the seconds from the step before (journeys with
# both stamps), ``time:ttl`` of the time to live.
_TIMES = [
    (f"time:{step}", seconds_sql(step, "started" if i == 0 else _STAMPS[i - 1]))
    for i, step in enumerate(_STAMPS)
] + [("time:ttl", seconds_sql("key_stored", "started"))]
_COUNT_COLUMNS = ", ".join(
    f"count(*) FILTER (WHERE {condition}) AS c{i}" for i, (_, condition) in enumerate(_COUNTERS)
)
_COUNT_VALUES = ", ".join(f"('{name}', c.c{i})" for i, (name, _) in enumerate(_COUNTERS))
_TIME_VALUES = ", ".join(f"('{name}', {seconds})" for name, seconds in _TIMES)
# The range's journeys counted per hub, UTC day and kind of client, as (name, bucket, n)
# rows: the counters with bucket 0 (one pass, then one row per counter that is not 0),
# and each histogram's buckets.
_COUNTED = (
    _JOURNEYS
    + f""", dated AS (
  SELECT o.*, (o.started AT TIME ZONE 'UTC')::date AS day FROM outcomes o
), counters AS (
  SELECT hub, day, returning_client, {_COUNT_COLUMNS} FROM dated GROUP BY 1, 2, 3
), counted AS (
  SELECT c.hub, c.day, c.returning_client, m.name, 0 AS bucket, m.n
  FROM counters c CROSS JOIN LATERAL (VALUES {_COUNT_VALUES}) m(name, n) WHERE m.n > 0
  UNION ALL
  SELECT d.hub, d.day, d.returning_client, m.name, {bucket_sql("m.seconds")} AS bucket,
    count(*) AS n
  FROM dated d CROSS JOIN LATERAL (VALUES {_TIME_VALUES}) m(name, seconds)
  WHERE m.seconds IS NOT NULL GROUP BY 1, 2, 3, 4, 5
)"""
)
_HUBS = bindparam("hubs", type_=ARRAY(Text))
_RETURNING = bindparam("returning", type_=Boolean)
_OUTCOME_ROWS = "name LIKE 'outcome:%'"

# Counted afresh (yesterday and today): the range's totals, or its outcomes per day.
_FRESH_TOTALS = text(
    _COUNTED + " SELECT name, bucket, sum(n)::bigint AS n FROM counted GROUP BY name, bucket"
).bindparams(_HUBS, _RETURNING)
_FRESH_DAYS = text(
    _COUNTED
    + f" SELECT day, name, sum(n)::bigint AS n FROM counted WHERE {_OUTCOME_ROWS} GROUP BY 1, 2"
).bindparams(_HUBS, _RETURNING)
# The same, from the kept days.
_KEPT_RANGE = """FROM funnel_counts WHERE hub = ANY(:hubs) AND day >= :first AND day <= :last
  AND (CAST(:returning AS boolean) IS NULL OR returning_client = :returning)"""
_KEPT_TOTALS = text(
    f"SELECT name, bucket, sum(n)::bigint AS n {_KEPT_RANGE} GROUP BY name, bucket"
).bindparams(_HUBS, _RETURNING)
_KEPT_DAYS = text(
    f"SELECT day, name, sum(n)::bigint AS n {_KEPT_RANGE} AND {_OUTCOME_ROWS} GROUP BY 1, 2"
).bindparams(_HUBS, _RETURNING)

# ---- keeping days --------------------------------------------------------------------------

# Held by whoever counts days to keep them, until its transaction ends.
_KEEP_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('onboard360:funnel_counts'))")
_DAY_SERIES = "generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') d(day)"
# The days of [first, last] that some hub of ``hubs`` has not kept, or kept stale.
_UNKEPT = text(
    f"""
    SELECT d.day::date AS day FROM {_DAY_SERIES}
    WHERE EXISTS (SELECT 1 FROM unnest(CAST(:hubs AS text[])) h(hub)
      WHERE NOT EXISTS (SELECT 1 FROM funnel_days_kept k WHERE k.hub = h.hub AND k.day = d.day)
         OR EXISTS (SELECT 1 FROM funnel_stale s WHERE s.hub = h.hub AND s.day = d.day))
    ORDER BY 1"""
).bindparams(_HUBS)
# The days of [first, last] that some hub of ``hubs`` kept and a change made stale.
_MARKED = text(
    """
    SELECT DISTINCT day FROM funnel_stale
    WHERE hub = ANY(:hubs) AND day >= :first AND day <= :last ORDER BY 1"""
).bindparams(_HUBS)
_RUN = "hub = ANY(:hubs) AND day >= :first AND day <= :last"
_MARKS = text(f"SELECT id FROM funnel_stale WHERE {_RUN}").bindparams(_HUBS)
_FORGET = text(f"DELETE FROM funnel_counts WHERE {_RUN}").bindparams(_HUBS)
_KEEP = text(
    _COUNTED
    + """ INSERT INTO funnel_counts (hub, day, returning_client, name, bucket, n)
    SELECT hub, day, returning_client, name, bucket, n FROM counted"""
).bindparams(_HUBS, _RETURNING)
_KEPT = text(
    f"""
    INSERT INTO funnel_days_kept (hub, day)
    SELECT h.hub, d.day::date FROM unnest(CAST(:hubs AS text[])) h(hub) CROSS JOIN {_DAY_SERIES}
    ON CONFLICT (hub, day) DO UPDATE SET counted_at = now()"""
).bindparams(_HUBS)
_SEEN = text("DELETE FROM funnel_stale WHERE id = ANY(:ids)").bindparams(
    bindparam("ids", type_=ARRAY(BigInteger))
)
_STALE = text(
    "SELECT hub, min(day) AS first, max(day) AS last FROM funnel_stale"
    " WHERE day < :before GROUP BY hub ORDER BY hub"
).bindparams(bindparam("before", type_=Date))
# Counting a range's journeys (a year of them, the first time) fits in memory with this
# much (the server's default, 4MB, spills to temporary files); for this transaction only.
_WORK_MEM = text("SET LOCAL work_mem = '32MB'")


def _bounds(first: date, last: date) -> dict[str, datetime]:
    start = datetime.combine(first, time(), UTC)
    return {"start": start, "end": datetime.combine(last, time(), UTC) + timedelta(days=1)}


def _runs(days: Sequence[date]) -> Iterable[tuple[date, date]]:
    """Sorted ``days`` as runs of consecutive days, (first, last) each."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last) for first, last in runs]


async def _keep(
    conn: AsyncConnection, hubs: Sequence[str], first: date, last: date, *, stale_only: bool = False
) -> None:
    """Count and keep every day of [first, last] that the hubs have not kept, or kept stale
    (with ``stale_only``, the stale ones only).

    A run's stale marks are read before its days are counted, and only those are
    deleted: a change committed meanwhile leaves a mark of its own for the next time."""
    span = {"hubs": list(hubs), "first": first, "last": last}
    needed = _MARKED if stale_only else _UNKEPT
    if not list(await conn.execute(needed, span)):
        return
    await conn.execute(_KEEP_LOCK)
    days = [row.day for row in await conn.execute(needed, span)]  # kept by another meanwhile?
    for run_first, run_last in _runs(days):
        run = {"hubs": list(hubs), "first": run_first, "last": run_last}
        marks = [row.id for row in await conn.execute(_MARKS, run)]
        await conn.execute(_FORGET, run)
        await conn.execute(_KEEP, {**run, "returning": None, **_bounds(run_first, run_last)})
        await conn.execute(_KEPT, run)
        if marks:
            await conn.execute(_SEEN, {"ids": marks})


def _fresh_from(today: date | None) -> date:
    """The first day counted afresh on every question (yesterday): 0019's trigger marks
    only the days before its transaction's today, so only the days before this are kept."""
    return (today or datetime.now(UTC).date()) - timedelta(days=1)


async def keep_days(conn: AsyncConnection, hubs: Sequence[str], today: date | None = None) -> int:
    """Count and keep the hubs' past days of the last year not kept yet, and count again
    every kept day a change made stale, so that questions find them kept and marks never
    pile up where nobody asks (the retention job calls this nightly). Answers how many
    (hub, first day, last day) spans of stale days it found."""
    fresh_from = _fresh_from(today)
    stale = list(await conn.execute(_STALE, {"before": fresh_from}))
    await conn.execute(_WORK_MEM)
    if hubs:
        await _keep(
            conn, hubs, fresh_from - timedelta(days=MAX_DAYS), fresh_from - timedelta(days=1)
        )
    for row in stale:  # marks older than a year too, and only the marked days
        await _keep(conn, [row.hub], row.first, row.last, stale_only=True)
    return len(stale)


async def counted(
    conn: AsyncConnection,
    hubs: Sequence[str],
    first: date,
    last: date,
    returning: bool | None,
    *,
    per_day: bool,
) -> list[Any]:
    """The range's counts as (name, bucket, n) rows, or with ``per_day`` its outcomes as
    (day, name, n): the days before yesterday from those kept (counted first if need
    be), yesterday and today counted now."""
    if not hubs or last < first:
        return []
    await conn.execute(_WORK_MEM)
    rows: list[Any] = []
    fresh_from = _fresh_from(None)
    kept_last = min(last, fresh_from - timedelta(days=1))
    if first <= kept_last:
        await _keep(conn, hubs, first, kept_last)
        kept = {"hubs": list(hubs), "returning": returning, "first": first, "last": kept_last}
        rows += await conn.execute(_KEPT_DAYS if per_day else _KEPT_TOTALS, kept)
    if last >= (fresh_first := max(first, fresh_from)):
        fresh = {"hubs": list(hubs), "returning": returning, **_bounds(fresh_first, last)}
        rows += await conn.execute(_FRESH_DAYS if per_day else _FRESH_TOTALS, fresh)
    return rows
