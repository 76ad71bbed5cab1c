"""The plans, not the clock: at 100,000 onboardings (and clients, channels, events,
timeline lines, webhook bodies and delivery attempts in a year's proportions), the
overview, the stage filters, search and the client page read the history and the traffic
tables (``WATCHED``) through indexes only — no sequential scan, so they do not grow with
the history."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from bench.history_retention import TRAFFIC, traffic_params
from bench.history_seed import GROWING, HUB, PRODUCT, SEED, seed_params

from onboard360.db.queries import clients, overview, search
from onboard360.domain.stage import STAGES
from onboard360.jobs import abandon, queue, scrape
from tests.conftest import fresh_database
from tests.integration.service_http import to_libpq_uri

WATCHED = set(GROWING)
PARAMS: dict[str, Any] = {
    "hub": HUB,
    "hubs": [HUB],
    "client": "C42",
    "channels": ["CH42", "CH15193"],
    "external_user_id": "user-42",
    "limit": 50,
    "stuck_before": datetime.now(UTC) - timedelta(hours=1),
    "products": [PRODUCT],
}


def _sql(clause: Any) -> str:
    """A ``text()`` clause's SQL with psycopg's placeholders."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", str(clause).replace("%", "%%"))


def _lists(stage: str) -> str:
    return (
        "SELECT * FROM onboardings o WHERE o.product = %(product)s AND o.hub = %(hub)s "  # noqa: S608
        f"AND {overview.stage_filter(stage)} ORDER BY o.created_at DESC, o.id DESC LIMIT 101"
    )


QUERIES: dict[str, tuple[str, dict[str, Any]]] = {
    "stage counts": (_sql(overview._STAGES), {}),
    "channel states": (_sql(overview._CHANNEL_STATES), {}),
    **{
        f"attention {kind}": (_sql(f"SELECT count(*) FROM ({spec.sql}) items"), {})  # noqa: S608
        for kind, spec in overview.ATTENTION.items()
    },
    **{f"stage={s}": (_lists(s), {"product": PRODUCT}) for s in STAGES},
    **{
        f"search {q} {prefix=}": (
            _sql(search._CLIENTS),
            search._params(q, [HUB], search.Prefixes(prefix, prefix)),
        )
        # what people type to find one client: prefix (with or without + and spaces),
        # suffix, id, user id; not queries matching much of the table, which may scan
        for q in ("491500001234", "+49 150 0012 34", "12345", "C4242", "user-4242", "H1234")
        for prefix in (True, False)
    },
    **{
        f"search channels {q} {prefix=}": (
            _sql(search._CHANNELS),
            search._params(q, [HUB], search.Prefixes(prefix, prefix)),
        )
        for q in ("491500001234", "CH4242")
        for prefix in (True, False)
    },
    "search prefixes found": (
        _sql(search._PREFIXES_FOUND),
        {"phone": "491500001234%", "part": "user-4242%"},
    ),
    "search onboardings": (
        _sql(search._ONBOARDINGS),
        search._params("user-77", [HUB], search.Prefixes()),
    ),
    "metrics jobs": (_sql(queue._COUNTS), {}),
    "metrics inbox lag": (_sql(scrape._INBOX_LAG), {}),
    "metrics undelivered": (_sql(scrape._UNDELIVERED), {}),
    "client channels": (_sql(clients._CHANNELS), {}),
    "client onboardings": (_sql(clients._ONBOARDINGS), {}),
    "client events": (_sql(clients._PRODUCT_EVENTS), {}),
    "client timeline": (_sql(clients._TIMELINE), {}),
    **{
        f"abandonment sweep {kind}": (
            _sql(pick),
            {
                "now": datetime.now(UTC),
                "due": datetime.now(UTC) - timedelta(hours=72),
                "batch": abandon.BATCH,
                "after_at": datetime.min.replace(tzinfo=UTC),
                "after_id": "00000000-0000-0000-0000-000000000000",
            },
        )
        for kind, pick in abandon.PICKS.items()
    },
    "resumed by": (
        "SELECT id FROM onboardings WHERE resumed_from = %(onboarding)s",
        {"onboarding": "00000000-0000-0000-0000-000000000042"},
    ),
}


@pytest.fixture(scope="module")
def seeded(template_database: str) -> Iterator[psycopg.Connection[Any]]:
    with (
        fresh_database(template_database) as url,
        psycopg.connect(to_libpq_uri(url), autocommit=True) as conn,
    ):
        params = seed_params(100_000)
        for statement in SEED:
            conn.execute(_sql(statement), params)
        for statement in TRAFFIC:
            conn.execute(_sql(statement), traffic_params(params))
        conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a settled table
        yield conn


def _scans(plan: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if "Relation Name" in plan:
        yield plan["Node Type"], plan["Relation Name"]
    for child in plan.get("Plans", ()):
        yield from _scans(child)


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_no_sequential_scan_of_the_history(seeded: psycopg.Connection[Any], name: str) -> None:
    sql, extra = QUERIES[name]
    (plan,) = seeded.execute(f"EXPLAIN (FORMAT JSON) {sql}", {**PARAMS, **extra}).fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    scans = list(_scans(plan[0]["Plan"]))
    assert not [s for s in scans if s[0] == "Seq Scan" and s[1] in WATCHED], scans


def _indexes(plan: dict[str, Any]) -> Iterator[str]:
    if "Index Name" in plan:
        yield plan["Index Name"]
    for child in plan.get("Plans", ()):
        yield from _indexes(child)


# Migration 0016's partial indexes hold only the attempts the sweep may still need; any
# other index would walk the history's expired or redirected attempts.
SWEEP_INDEXES = {
    "abandonment sweep expired": "onboardings_expiring",
    "abandonment sweep stalled": "onboardings_stalling",
    "resumed by": "onboardings_resumed_from",
}


@pytest.mark.parametrize("name", sorted(SWEEP_INDEXES))
def test_the_sweep_and_resume_read_their_own_partial_index(
    seeded: psycopg.Connection[Any], name: str
) -> None:
    sql, extra = QUERIES[name]
    (plan,) = seeded.execute(f"EXPLAIN (FORMAT JSON) {sql}", {**PARAMS, **extra}).fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    assert SWEEP_INDEXES[name] in set(_indexes(plan[0]["Plan"])), plan
