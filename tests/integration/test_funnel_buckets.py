"""The funnel's SQL puts a time in the same bucket as domain.funnel.bucket_of does."""

from __future__ import annotations

import random

import psycopg

from onboard360.db.queries.funnel_counts import bucket_sql, seconds_sql
from onboard360.domain.funnel import bucket_of
from tests.integration.service_http import to_libpq_uri


def test_sql_and_python_buckets_agree(database_url: str) -> None:
    rng = random.Random(7)
    seconds = [0.0, 0.0625, 0.5, 0.999999, 1.0, 2.0, 4.0, 60.0, 3600.0, 86400.0, 3.15e7]
    seconds += [rng.lognormvariate(3, 3) for _ in range(2000)]
    seconds = [round(s, 6) for s in seconds]  # an interval keeps microseconds
    between = bucket_sql(seconds_sql("make_interval(secs => s)", "make_interval()"))
    stamp_missing = bucket_sql(seconds_sql("NULL::interval", "make_interval()"))
    with psycopg.connect(to_libpq_uri(database_url)) as conn:
        query = f"SELECT s, {between} FROM unnest(%s::float8[]) s"  # noqa: S608 - ours
        buckets = conn.execute(query, (seconds,)).fetchall()
        missing = conn.execute(f"SELECT {stamp_missing}").fetchone()
    assert [(s, b) for s, b in buckets] == [(s, bucket_of(s)) for s in seconds]
    assert missing == (None,)  # a journey without both stamps is in no bucket
