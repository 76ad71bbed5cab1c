"""The funnel's plans, not the clock: over a year of journeys (100,000 first attempts and
their resumed ones, bench/funnel_seed.py), the funnel of the last 7 or 30 days reads
``onboardings`` through indexes on ``(hub, created_at)`` — 0018's covering ones
index-only, or 0011's with a bitmap over the range's heap pages when the planner finds
that cheaper for a short range — never a sequential scan: its cost follows the range's
journeys, not the history before them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from bench.funnel_seed import SEED, seed_params

from onboard360.db.queries import funnel
from tests.conftest import fresh_database
from tests.integration.service_http import to_libpq_uri

# The range's first attempts: 0018's covering index, or 0011's (hub, created_at DESC, id
# DESC) with the range's heap pages (the planner's choice for a short range of a small
# table); the resumed attempts: 0018's partial index.
ROOTS = {"onboardings_funnel", "onboardings_newest"}
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
        yield conn


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if plan.get("Relation Name") == "onboardings":
        yield plan
    for child in plan.get("Plans", ()):
        yield from _scans(child)


@pytest.mark.parametrize("days", [7, 30])
@pytest.mark.parametrize("query", ["summary", "days"])
@pytest.mark.parametrize("returning", [None, True])
def test_a_recent_range_reads_only_its_index_entries(
    seeded: psycopg.Connection[Any], days: int, query: str, returning: bool | None
) -> None:
    today = datetime.now(UTC).date()
    params = {
        "hubs": ["pp", "dp"],
        "returning": returning,
        "edges": [60.0, 300.0],
        **funnel._bounds(today - timedelta(days=days - 1), today),
    }
    statement = _sql(funnel._SUMMARY if query == "summary" else funnel._DAYS)
    (plan,) = seeded.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params).fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    scans = list(_scans(plan[0]["Plan"]))
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


def _indexes(plan: dict[str, Any]) -> Iterator[str]:
    if "Index Name" in plan:
        yield plan["Index Name"]
    for child in plan.get("Plans", ()):
        yield from _indexes(child)
