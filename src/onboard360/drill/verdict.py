"""Judge a settled run: every guarantee checked per channel and per webhook, counts printed.

What must hold (docs/drill.md):

- every running, permitted channel: exactly one key generation at the sandbox — or one
  more per time its key job was cut off by a SIGKILL between 360dialog's answer and our
  commit and then recovered (docs/decisions/0002-exactly-once-keys.md: "exactly one more
  after a crash"); its key stored and working at the sandbox, its messaging webhook set,
  and exactly one distinct ``channel.activated`` handed to the product, whose key is the
  live one;
- a channel revoked once live: its one earlier key counted once, no key handed out now;
- a channel revoked early — at once, or as soon as 360dialog made its key (our key job
  possibly between 360dialog's answer and our commit): at most one generation and one
  ``channel.activated``, no key handed out now;
- a Direct Payment channel whose client denied permission: no key generation at all;
- every webhook the service acknowledged is stored and processed; reconciliation caught
  up the ones that never arrived; no job left queued, running or failed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from onboard360.drill import failover
from onboard360.drill.channel_checks import CHECKS, SeenChannel, agreement, at_most_one_key, one_key
from onboard360.drill.clients import Onboarding
from onboard360.drill.evidence import Evidence

MAX_LISTED = 12


@dataclass
class Verdict:
    counts: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def fail(self, message: str) -> None:
        self.violations.append(message)


@dataclass(frozen=True)
class Expected:
    permitted: set[str]
    revoked: set[str]
    revoked_early: set[str]
    denied: set[str]

    @classmethod
    def of(cls, plans: list[Onboarding]) -> Expected:
        return cls(
            permitted={c for ob in plans for c in ob.permitted},
            revoked={c for ob in plans if ob.revoke == "live" for c in ob.revoked},
            revoked_early={
                c for ob in plans if ob.revoke in ("at_once", "key_made") for c in ob.revoked
            },
            denied={c for ob in plans if ob.deny for c in ob.channels},
        )

    def category(self, channel_id: str) -> str:
        for name in ("permitted", "revoked", "revoked_early", "denied"):
            if channel_id in getattr(self, name):
                return name
        return "unknown"


def judge(
    plans: list[Onboarding], ev: Evidence, hub_names: dict[str, str], inbound_url: str
) -> Verdict:
    """``hub_names`` maps partner id to the service's hub name."""
    verdict = Verdict()
    expected = Expected.of(plans)
    _onboardings(plans, verdict)
    _channels(expected, ev, inbound_url, verdict)
    _webhooks(ev, hub_names, verdict)
    _jobs(ev, verdict)
    _product(expected, ev, verdict)
    return verdict


def _onboardings(plans: list[Onboarding], verdict: Verdict) -> None:
    failed = [ob for ob in plans if ob.error]
    for ob in failed[:MAX_LISTED]:
        verdict.fail(f"onboarding {ob.index} ({ob.hub}) failed: {ob.error}")
    if len(failed) > MAX_LISTED:
        verdict.fail(f"… and {len(failed) - MAX_LISTED} more onboardings failed")
    verdict.counts["onboardings"] = {
        "total": len(plans),
        "completed": len(plans) - len(failed),
        "pp": sum(not ob.direct for ob in plans),
        "dp": sum(ob.direct for ob in plans),
        "dp_denied": sum(ob.deny for ob in plans),
        "two_numbers": sum(len(ob.numbers) == 2 for ob in plans),
        "revoked_once_live": sum(bool(ob.revoked) and ob.revoke == "live" for ob in plans),
        "revoked_key_made": sum(bool(ob.revoked) and ob.revoke == "key_made" for ob in plans),
        "revoked_at_once": sum(bool(ob.revoked) and ob.revoke == "at_once" for ob in plans),
        "revocation_skipped_not_live": sum(bool(ob.revoke_skipped) for ob in plans),
        "service_retries": sum(ob.service_retries for ob in plans),
        "service_500s": sum(ob.service_500s for ob in plans),
        "seconds_median": _quantile([ob.seconds for ob in plans if ob.seconds], 0.5),
        "seconds_p95": _quantile([ob.seconds for ob in plans if ob.seconds], 0.95),
    }


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _channels(expected: Expected, ev: Evidence, inbound_url: str, verdict: Verdict) -> None:
    problems: list[str] = []
    tally: Counter[str] = Counter()
    gens_by: Counter[str] = Counter()
    crash_extra = unknown_extra = 0
    for cid, channel in sorted(ev.channels.items()):
        api_status, api_sha, webhook_url = ev.api_keys.get(cid, ("missing", None, None))
        seen = SeenChannel(
            cid=cid,
            kind=expected.category(cid),
            gens=channel.keys_generated,
            allowed_extra=ev.stalled_key_jobs.get(cid, 0) + ev.outcome_unknown.get(cid, 0),
            api_status=api_status,
            api_sha=api_sha,
            webhook_url=webhook_url,
            product=ev.product.get("channels", {}).get(cid, {}),
            product_check=ev.product_recheck.get(cid),
            service=ev.service_channels.get(cid),
        )
        tally[seen.kind] += 1
        gens_by[seen.kind] += seen.gens
        said = agreement(seen, channel.status, channel.permitted)
        if seen.kind in ("permitted", "revoked"):
            said += one_key(seen)
        if seen.kind == "revoked_early":
            said += at_most_one_key(seen)
        if 1 < seen.gens <= 1 + seen.allowed_extra and seen.kind != "denied":
            after_kill = min(seen.gens - 1, ev.stalled_key_jobs.get(cid, 0))
            crash_extra += after_kill
            unknown_extra += seen.gens - 1 - after_kill
        said += CHECKS.get(seen.kind, lambda _s, _u: [])(seen, inbound_url)
        if said:
            problems.append(f"channel {cid} ({seen.kind}): " + "; ".join(said))
    for cid in sorted(set(ev.service_channels) - set(ev.channels)):
        problems.append(f"channel {cid}: in the service, unknown to the sandbox")
    for problem in problems[:MAX_LISTED]:
        verdict.fail(problem)
    if len(problems) > MAX_LISTED:
        verdict.fail(f"… and {len(problems) - MAX_LISTED} more channels are wrong")
    verdict.counts["channels"] = {"total": len(ev.channels), **dict(tally)}
    verdict.counts["keys"] = {
        "generations_total": sum(gens_by.values()),
        "generations_permitted": gens_by["permitted"],
        "generations_revoked": gens_by["revoked"],
        "generations_revoked_early": gens_by["revoked_early"],
        "generations_denied": gens_by["denied"],
        "extra_after_crash": crash_extra,
        "extra_after_unknown_outcome": unknown_extra,
        "key_jobs_recovered_from_killed_workers": sum(ev.stalled_key_jobs.values()),
        "working_keys_handed_out": sum(v[0] == "ok" for v in ev.api_keys.values()),
    }


def _webhooks(ev: Evidence, hub_names: dict[str, str], verdict: Verdict) -> None:
    if ev.log_truncated:
        verdict.fail("the sandbox's delivery log was truncated: run fewer onboardings")
    events: dict[tuple[str, str], dict[str, Any]] = {}
    for attempt in ev.attempts:
        key = (hub_names[attempt["partner_id"]], attempt["event_id"])
        entry = events.setdefault(
            key, {"event": attempt["event"], "subject": attempt["subject_id"], "acked": False}
        )
        entry["acked"] |= attempt["outcome"] == "delivered"
        entry["dropped"] = entry.get("dropped", False) or attempt["outcome"] == "dropped"
    acked = {key for key, entry in events.items() if entry["acked"]}
    stored = {(row["hub"], row["event_id"]) for row in ev.inbox}
    lost = sorted(acked - stored)
    if lost:
        verdict.fail(f"{len(lost)} acknowledged webhooks are not in the inbox, e.g. {lost[:3]}")
    unprocessed = [row for row in ev.inbox if not row["done"]]
    if unprocessed:
        verdict.fail(f"{len(unprocessed)} stored webhooks were never processed")
    unusable = [row for row in ev.inbox if row["error"]]
    if unusable:
        verdict.fail(f"{len(unusable)} webhooks were stored as unusable: {unusable[0]['error']}")
    # Channels whose news never reached the service by webhook: only a sync can know them.
    reached: dict[str, set[str]] = {}
    for entry in events.values():
        if entry["event"].startswith("channel_") and entry["subject"]:
            reached.setdefault(entry["subject"], set())
            if entry["acked"]:
                reached[entry["subject"]].add(entry["event"])
    verdict.counts["webhooks"] = {
        "attempts": len(ev.attempts),
        "events": len(events),
        "acknowledged": len(acked),
        "dropped": sum(bool(e.get("dropped")) for e in events.values()),
        "never_acknowledged": len(events) - len(acked),
        "duplicates_sent": sum(bool(a["duplicate"]) for a in ev.attempts),
        "failed_attempts": sum(a["outcome"] in ("failed", "error") for a in ev.attempts),
        "inbox_rows": len(ev.inbox),
        "inbox_processed": len(ev.inbox) - len(unprocessed),
        "acknowledged_but_lost": len(lost),
        "delivery_ms_median": _quantile(_durations_ms(ev.attempts), 0.5),
        "delivery_ms_p95": _quantile(_durations_ms(ev.attempts), 0.95),
    }
    verdict.counts["reconciliation"] = {
        "channels_running_webhook_never_arrived": sum(
            "channel_running" not in got for got in reached.values()
        ),
        "channels_no_webhook_arrived": sum(not got for got in reached.values()),
    }


def _durations_ms(attempts: list[dict[str, Any]]) -> list[float]:
    """How long the service took to answer each webhook the sandbox sent."""
    return [
        (
            datetime.fromisoformat(a["finished_at"]) - datetime.fromisoformat(a["started_at"])
        ).total_seconds()
        * 1000
        for a in attempts
        if a["outcome"] != "dropped" and a["started_at"] and a["finished_at"]
    ]


def _jobs(ev: Evidence, verdict: Verdict) -> None:
    left = {
        task: n
        for task, statuses in ev.jobs_by_status.items()
        if (n := statuses.get("todo", 0) + statuses.get("doing", 0))
    }
    if left:
        verdict.fail(f"jobs still queued or running after the drain: {left}")
    for job in ev.failed_jobs[:MAX_LISTED]:
        verdict.fail(f"job {job['id']} {job['task_name']} failed for good: {job['args']}")
    verdict.counts["jobs"] = {
        "by_task": {task: sum(s.values()) for task, s in ev.jobs_by_status.items()},
        "failed": len(ev.failed_jobs),
        "stalled_recovered": ev.stalled_jobs,
    }


def _product(expected: Expected, ev: Evidence, verdict: Verdict) -> None:
    report = ev.product
    if report.get("bad_signatures"):
        verdict.fail(f"the product refused {report['bad_signatures']} badly signed events")
    activated_anywhere = {
        cid for cid, seen in report.get("channels", {}).items() if seen.get("activated_ids")
    }
    stray = activated_anywhere - expected.permitted - expected.revoked - expected.revoked_early
    if stray:
        verdict.fail(f"channel.activated for channels never permitted: {sorted(stray)[:5]}")
    verdict.counts["product"] = {
        "deliveries": report.get("deliveries"),
        "redeliveries_ignored": report.get("redeliveries"),
        "distinct_events": report.get("distinct_events"),
        "bad_signatures": report.get("bad_signatures"),
        "by_type": report.get("by_type"),
    }


def render(counts: dict[str, Any], violations: list[str]) -> str:
    """The summary for a person, one fact per line."""
    ob, ch, keys = counts["onboardings"], counts["channels"], counts["keys"]
    wh, rec, chaos = counts["webhooks"], counts["reconciliation"], counts["chaos"]
    prod, jobs, timing = counts["product"], counts["jobs"], counts["timing"]
    lines = [
        f"onboardings   {ob['completed']}/{ob['total']} completed ({ob['pp']} partner payment, "
        f"{ob['dp']} direct payment, {ob['dp_denied']} denied API-key permission, "
        f"{ob['two_numbers']} with two numbers; {ob['revoked_once_live']} revoked a number once "
        f"live, {ob['revoked_key_made']} as soon as 360dialog made its key, "
        f"{ob['revoked_at_once']} at once, {ob['revocation_skipped_not_live']} skipped: not "
        "live in time); "
        f"{ob['service_retries']} service calls retried ({ob['service_500s']} after a 500); "
        f"each took {ob['seconds_median']}s (median), {ob['seconds_p95']}s (p95)",
        f"chaos         {chaos['kills']} SIGKILLs ({chaos['web_kills']} web, "
        f"{chaos['worker_kills']} worker), {chaos['api_bursts']} 429/5xx bursts, "
        f"{chaos['blackouts']} webhook blackouts, {jobs['stalled_recovered']} stalled jobs "
        f"recovered, {chaos['proxy_refused']} connections found no web process",
        f"channels      {ch['total']} at 360dialog: {ch.get('permitted', 0)} running+permitted, "
        f"{ch.get('revoked', 0)} revoked once live, {ch.get('revoked_early', 0)} revoked "
        f"early, {ch.get('denied', 0)} denied",
        f"keys          {keys['generations_total']} generations at 360dialog "
        f"({keys['generations_permitted']} permitted, {keys['generations_revoked']} revoked "
        f"once live, {keys['generations_revoked_early']} revoked early, "
        f"{keys['generations_denied']} denied); {keys['extra_after_crash']} extra after a "
        f"kill between answer and commit; {keys['working_keys_handed_out']} working keys "
        "handed out",
        f"webhooks      {wh['events']} events, {wh['attempts']} attempts: {wh['acknowledged']} "
        f"acknowledged, {wh['dropped']} dropped, {wh['duplicates_sent']} duplicates sent, "
        f"{wh['failed_attempts']} failed attempts; inbox {wh['inbox_rows']} rows, "
        f"{wh['inbox_processed']} processed, {wh['acknowledged_but_lost']} lost; answered in "
        f"{wh['delivery_ms_median']} ms (median), {wh['delivery_ms_p95']} ms (p95)",
        f"reconcile     {rec['permitted_without_key_before_sync']} permitted channels had no "
        f"key before `onboard360 sync`; {rec['channels_running_webhook_never_arrived']} never "
        f"got channel_running, {rec['channels_no_webhook_arrived']} got no webhook at all",
        f"product       {prod['distinct_events']} distinct events "
        f"({prod['redeliveries_ignored']} redeliveries ignored, {prod['bad_signatures']} bad "
        f"signatures): {prod['by_type']}",
        f"jobs          {jobs['by_task']} ({jobs['failed']} failed)",
        *([failover.render(counts["failover"])] if "failover" in counts else []),
        f"timing        {timing}",
    ]
    if violations:
        lines.append(f"FAILED: {len(violations)} violation(s)")
        lines += [f"  - {v}" for v in violations]
    else:
        lines.append("OK: every guarantee held")
    return "\n".join(lines)
