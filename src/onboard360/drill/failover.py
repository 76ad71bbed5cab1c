"""The drill's failover evidence and verdict: the database restarts and the flaky product.

- no worker exited on its own (a PostgreSQL restart must not end one: worker/runner.py);
- the product's endpoint was never disabled (a blip is not sustained failure), and every
  event reached the product once it answered again;
- extra key generations, by cause: after a SIGKILL between 360dialog's answer and our
  commit (ADR 0002 allows one each), after a key request with no clear answer (allowed
  too, counted), and unexplained (a violation, found by the channel checks).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from onboard360.drill import evidence as witness
from onboard360.drill.chaos import ChaosLog

# Each undelivered event with what says why: its age, its attempts, its delivery jobs.
_UNDELIVERED = """
SELECT e.id, e.event_type, e.channel_id, e.attempts, e.failed_at IS NOT NULL AS failed,
       round(extract(epoch FROM now() - e.created_at)::numeric, 1)::float8 AS age_seconds,
       (SELECT string_agg(j.id || ' ' || j.status, ', ' ORDER BY j.id)
          FROM procrastinate_jobs j
         WHERE j.task_name = 'deliver_product_event' AND j.args->>'event_id' = e.id::text) AS jobs
  FROM product_events e WHERE e.delivered_at IS NULL ORDER BY e.created_at LIMIT 20
"""


async def gather(database_url: str) -> dict[str, Any]:
    async with await witness.connect(database_url) as conn:
        disabled = await (
            await conn.execute(
                "SELECT product, disabled_reason FROM product_endpoints"
                " WHERE disabled_at IS NOT NULL"
            )
        ).fetchall()
        undelivered = await (await conn.execute(_UNDELIVERED)).fetchall()
        unknown = await (
            await conn.execute(
                "SELECT channel_id, count(*) AS n FROM timeline"
                " WHERE kind = 'key_outcome_unknown' GROUP BY 1"
            )
        ).fetchall()
        failed_deliveries = await (
            await conn.execute(
                "SELECT count(*) FILTER (WHERE status IS NULL) AS timeouts,"
                " count(*) FILTER (WHERE status >= 300) AS refused"
                " FROM delivery_attempts"
            )
        ).fetchone()
    return {
        "endpoints_disabled": [dict(row) for row in disabled],
        "events_undelivered": [dict(row) for row in undelivered],
        "key_outcome_unknown": {row["channel_id"]: int(row["n"]) for row in unknown},
        "delivery_timeouts": int(failed_deliveries["timeouts"]) if failed_deliveries else 0,
        "delivery_refusals": int(failed_deliveries["refused"]) if failed_deliveries else 0,
    }


def judge(
    found: dict[str, Any], log: ChaosLog, keys: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The failover counts, and what is wrong."""
    problems: list[str] = []
    exits = Counter(name.split("-")[0] for name in log.unexpected_deaths)
    if exits["worker"]:
        problems.append(f"{exits['worker']} worker exit(s) without a SIGKILL")
    for row in found["endpoints_disabled"]:
        problems.append(
            f"the product endpoint {row['product']} was disabled: {row['disabled_reason']}"
        )
    if undelivered := found["events_undelivered"]:
        problems.append(f"{len(undelivered)} event(s) never reached the product: {undelivered}")
    counts = {
        "database_restarts": len(log.database_restarts),
        "database_down_seconds": round(sum(log.database_restarts), 1),
        "worker_exits": exits["worker"],
        "web_exits": exits["web"],
        "product_outages": log.product_outages,
        "delivery_refusals": found["delivery_refusals"],
        "delivery_timeouts": found["delivery_timeouts"],
        "endpoint_disabled": bool(found["endpoints_disabled"]),
        "events_undelivered": len(found["events_undelivered"]),
        "key_outcome_unknown": sum(found["key_outcome_unknown"].values()),
        "extra_generations": {
            "after_kill": keys["extra_after_crash"],
            "after_unknown_outcome": keys.get("extra_after_unknown_outcome", 0),
        },
    }
    return counts, problems


def render(counts: dict[str, Any]) -> str:
    extra = counts["extra_generations"]
    return (
        f"failover      {counts['database_restarts']} database restarts "
        f"({counts['database_down_seconds']} s down), {counts['worker_exits']} worker exits, "
        f"{counts['web_exits']} web exits; product: {counts['product_outages']} outage, "
        f"{counts['delivery_refusals']} deliveries refused, {counts['delivery_timeouts']} "
        f"timed out, endpoint {'DISABLED' if counts['endpoint_disabled'] else 'never disabled'}"
        f", {counts['events_undelivered']} events undelivered; extra key generations: "
        f"{extra['after_kill']} after a kill, {extra['after_unknown_outcome']} after an "
        f"unknown outcome ({counts['key_outcome_unknown']} unknown outcomes)"
    )
