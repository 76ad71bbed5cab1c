"""The funnel's plans, not the clock, over a year of journeys (100,000 first attempts and
their resumed ones, bench/funnel_seed.py):

- counting a range's journeys (yesterday and today on every question; a range of past
  days once, to keep them) reads ``onboardings`` through indexes on ``(hub,
  created_at)`` — 0018's covering ones index-only, or 0011's with a bitmap over the
  range's heap pages when the planner finds that cheaper for a short range — never a
  sequential scan: its cost follows the range's journeys, not the history before them;
- adding up kept days reads ``funnel_counts`` alone (0019), a month by its primary key:
  its cost follows the number of days, not the journeys in them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from bench.funnel_seed import SEED, seed_params

from onboard360.db.queries import funnel_counts as funnel
from tests.conftest import fresh_database
from tests.integration.service_http import to_libpq_uri

# The range's first attempts: 0018's covering index, or 0011's (hub, created_at DESC, id
# DESC) with the range's heap pages (the planner's choice for a short range of a small
# table); the resumed attempts: 0018's partial index.
ROOTS = {"onboardings_funnel", "onboardings_newest"}
HUBS = ["pp", "dp"]
RESUMED = "onboardings_resumed"


def _sql(clause: Any) -> str:
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", str(clause).replace("%", "%%"))


@pytest.fixture(scope="module")
def seeded(template_database: str) -> Iterator[psycopg.Connection[Any]]:
    with (
        fresh_database(template_database) as url,
        psycopg.connect(to_libpq_uri(url), autocommit=True) as conn,
    ):
        for statement in SEED:
            conn.execute(_sql(statement), seed_params(100_000))
        conn.execute("VACUUM ANALYZE onboardings")  # as autovacuum leaves a settled table
        today = datetime.now(UTC).date()
        year = {"hubs": HUBS, "first": today - timedelta(days=366), "last": today}
        bounds = funnel._bounds(year["first"], year["last"])
        conn.execute(_sql(funnel._KEEP), {**year, "returning": None, **bounds})  # every day
        conn.execute("VACUUM ANALYZE funnel_counts")
        yield conn


def _scans(plan: dict[str, Any], table: str = "onboardings") -> Iterator[dict[str, Any]]:
    if plan.get("Relation Name") == table:
        yield plan
    for child in plan.get("Plans", ()):
        yield from _scans(child, table)


def _plan(conn: psycopg.Connection[Any], statement: Any, params: dict[str, Any]) -> Any:
    (plan,) = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {_sql(statement)}", params).fetchone()
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


@pytest.mark.parametrize("days", [2, 30])
@pytest.mark.parametrize("query", ["totals", "days"])
@pytest.mark.parametrize("returning", [None, True])
def test_counting_a_range_reads_only_its_index_entries(
    seeded: psycopg.Connection[Any], days: int, query: str, returning: bool | None
) -> None:
    today = datetime.now(UTC).date()
    params = {
        "hubs": HUBS,
        "returning": returning,
        **funnel._bounds(today - timedelta(days=days - 1), today),
    }
    statement = funnel._FRESH_TOTALS if query == "totals" else funnel._FRESH_DAYS
    scans = list(_scans(_plan(seeded, statement, params)))
    assert len(scans) == 2, scans  # the range's first attempts, the resumed ones
    assert not [s for s in scans if s["Node Type"] == "Seq Scan"], scans
    used = [set(_indexes(s)) for s in scans]
    assert sorted(map(len, used)) == [1, 1], scans
    assert {RESUMED} in used, scans
    assert any(u <= ROOTS for u in used), scans
    # Each scan reads about the range's rows, not the table's (100,000 plus resumed).
    for scan in scans:
        assert scan["Actual Rows"] < 100_000 * days / 365 * 1.2, scan
        assert scan.get("Heap Fetches", 0) == 0, scan


@pytest.mark.parametrize("days", [30, 366])
@pytest.mark.parametrize("query", ["totals", "days"])
def test_kept_days_are_read_by_their_key_and_never_the_journeys(
    seeded: psycopg.Connection[Any], days: int, query: str
) -> None:
    today = datetime.now(UTC).date()
    (kept,) = seeded.execute("SELECT count(*) FROM funnel_counts").fetchone() or (0,)
    params = {
        "hubs": HUBS,
        "returning": None,
        "first": today - timedelta(days=days),
        "last": today - timedelta(days=2),
    }
    plan = _plan(seeded, funnel._KEPT_TOTALS if query == "totals" else funnel._KEPT_DAYS, params)
    assert not list(_scans(plan)), plan  # no journey is read again
    scans = list(_scans(plan, "funnel_counts"))
    assert len(scans) == 1, plan
    if days == 30:  # a month of a year: its key range only
        assert set(_indexes(scans[0])) == {"funnel_counts_pkey"}, scans
        assert scans[0]["Actual Rows"] < kept * 30 / 366 * 1.2, scans


def _indexes(plan: dict[str, Any]) -> Iterator[str]:
    if "Index Name" in plan:
        yield plan["Index Name"]
    for child in plan.get("Plans", ()):
        yield from _indexes(child)
