"""The abandonment sweep: mark attempts that expired or stopped short, tell the product once.

A periodic job (``abandon_cron``) walks each hub's candidates through the two partial
indexes of migration 0016 — attempts that expired without their redirect, and redirected
attempts none of whose numbers has a key — oldest first, in batches of ``BATCH``. Each
batch is one short transaction: its attempts are locked ``FOR UPDATE SKIP LOCKED`` (a
second sweep running at once, or a transition refreshing one of them, is never waited
for: the row is taken by the next run), their facts are read in a later statement (so
they are what the lock holder left), domain/abandonment.py decides, and the marks, the
timeline lines and ``onboarding.abandoned`` (stored once per attempt by its dedupe key)
are written together. A mark is only ever set on a row that has none, so however many
sweeps run, each attempt is marked once and its event stored once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ARRAY, Text, bindparam, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from onboard360.config.hubs import HubConfig
from onboard360.config.settings import Settings
from onboard360.db import tables as t
from onboard360.domain.abandonment import (
    Abandonment,
    AttemptFacts,
    Policy,
    Stamps,
    WaitingNumber,
    abandoned,
    abandonment,
)
from onboard360.domain.stage import OnboardingFacts as StageFacts
from onboard360.jobs.effects import carry_out
from onboard360.runtime import clock
from onboard360.runtime.logging import get_logger
from onboard360.runtime.metrics import ABANDONED_ONBOARDINGS
from onboard360.wiring.service import Service

log = get_logger(__name__)

BATCH = 500
SOURCE = "abandon_sweep"

# Candidates of one hub after the keyset position, oldest first, locked; each one is an
# index range scan of its partial index (migration 0016).
_EXPIRED = """
    SELECT o.id, o.expires_at AS sort_at FROM onboardings o
    WHERE o.hub = :hub AND o.redirected_at IS NULL AND o.abandoned_at IS NULL
      AND o.expires_at <= :now AND (o.expires_at, o.id) > (:after_at, :after_id)
    ORDER BY o.expires_at, o.id LIMIT :batch FOR UPDATE OF o SKIP LOCKED"""
_STALLED = """
    SELECT o.id, o.redirected_at AS sort_at FROM onboardings o
    WHERE o.hub = :hub AND o.redirected_at IS NOT NULL AND o.abandoned_at IS NULL
      AND o.key_stored_at IS NULL AND o.stage <> 'live'
      AND o.redirected_at <= :due AND (o.redirected_at, o.id) > (:after_at, :after_id)
    ORDER BY o.redirected_at, o.id LIMIT :batch FOR UPDATE OF o SKIP LOCKED"""
PICKS = {"expired": _EXPIRED, "stalled": _STALLED}

_FACTS = text(
    """
    SELECT o.id, o.hub, o.external_user_id, o.client_id, o.channels, o.verification,
      o.stage, o.expires_at, o.abandoned_at, o.redirected_at, o.popup_opened_at,
      o.popup_blocked_at, o.popup_closed_at, o.first_channel_at, o.running_at,
      o.key_stored_at, o.activated_at, k.external_user_id AS client_owner
    FROM onboardings o LEFT JOIN clients k ON k.hub = o.hub AND k.client_id = o.client_id
    WHERE o.id = ANY(:ids) ORDER BY o.id
    """
).bindparams(bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))
_NUMBERS = text(
    """
    SELECT c.channel_id, c.client_id, c.status, c.key_status, c.blocker, c.reason
    FROM channels c WHERE c.hub = :hub AND c.channel_id = ANY(:channels)
    """
).bindparams(bindparam("channels", type_=ARRAY(Text)))
_MARK = text(
    """
    UPDATE onboardings o
    SET abandoned_at = u.due_at, abandoned_step = u.step, abandoned_reason = u.blocker
    FROM unnest(CAST(:ids AS uuid[]), CAST(:due AS timestamptz[]), CAST(:steps AS text[]),
                CAST(:blockers AS text[])) AS u(id, due_at, step, blocker)
    WHERE o.id = u.id AND o.abandoned_at IS NULL
    RETURNING o.id
    """
)

_STAMPS = tuple(Stamps.__dataclass_fields__)


def policy(settings: Settings) -> Policy:
    return Policy(
        abandon_after=timedelta(hours=settings.abandon_after_hours),
        notify_within=timedelta(hours=settings.abandon_notify_within_hours),
    )


def attempt_facts(row: Row[Any]) -> AttemptFacts:
    """An onboarding row (with its client's ``client_owner``) as the rule reads it."""
    return AttemptFacts(
        onboarding_id=str(row.id),
        external_user_id=row.external_user_id,
        expires_at=row.expires_at,
        stamps=Stamps(**{name: getattr(row, name) for name in _STAMPS}),
        stage=StageFacts(
            redirected=row.redirected_at is not None,
            verification=row.verification,
            client_id=row.client_id,
            external_user_id=row.external_user_id,
            channels=tuple(row.channels or ()),
            client_owner=row.client_owner,
        ),
        abandoned_at=row.abandoned_at,
        live=row.stage == "live",
    )


async def read_attempts(
    conn: AsyncConnection, hub: str, ids: Sequence[uuid.UUID]
) -> list[tuple[AttemptFacts, list[WaitingNumber]]]:
    """These onboardings of the hub and their listed numbers, as the rule reads them."""
    rows = list(await conn.execute(_FACTS, {"ids": list(ids)}))
    listed = sorted({c for row in rows for c in row.channels or ()})
    numbers: dict[str, WaitingNumber] = {}
    if listed:
        found = await conn.execute(_NUMBERS, {"hub": hub, "channels": listed})
        numbers = {n.channel_id: WaitingNumber(**n._mapping) for n in found}
    return [
        (attempt_facts(row), [numbers[c] for c in row.channels or () if c in numbers])
        for row in rows
    ]


@dataclass(frozen=True)
class Found:
    attempt: AttemptFacts
    verdict: Abandonment


async def mark(
    conn: AsyncConnection, hub: HubConfig, service: Service, found: Sequence[Found]
) -> tuple[int, int]:
    """Mark these attempts abandoned (those not marked yet), with a timeline line and
    ``onboarding.abandoned`` for each whose verdict says to notify: how many were marked,
    and how many of them announced."""
    if not found:
        return 0, 0
    result = await conn.execute(
        _MARK,
        {
            "ids": [uuid.UUID(f.attempt.onboarding_id) for f in found],
            "due": [f.verdict.due_at for f in found],
            "steps": [f.verdict.step.value for f in found],
            "blockers": [f.verdict.blocker for f in found],
        },
    )
    marked = {str(row.id) for row in result}
    told = [
        (f, abandoned(f.attempt, f.verdict))
        for f in found
        if f.verdict.notify and f.attempt.onboarding_id in marked
    ]
    if told:
        lines = [
            {
                "hub": hub.name,
                "client_id": effect.client_id,
                "channel_id": effect.channel_id,
                "source": SOURCE,
                "kind": "onboarding_abandoned",
                "detail": {
                    "onboarding_id": f.attempt.onboarding_id,
                    "step": f.verdict.step.value,
                    "blocker": f.verdict.blocker,
                },
            }
            for f, effect in told
        ]
        await conn.execute(t.timeline.insert(), lines)
        product = service.product_of(hub)
        await carry_out(conn, hub, product, [effect for _f, effect in told], {})
    return len(marked), len(told)


@dataclass
class SweepReport:
    """What one sweep marked (``abandoned``) and of those, told the product (``notified``)."""

    abandoned: int = 0
    notified: int = 0

    def summary(self) -> str:
        return f"{self.abandoned} abandoned, {self.notified} announced"


async def sweep(
    service: Service, *, now: datetime | None = None, batch: int = BATCH, dry_run: bool = False
) -> SweepReport:
    """One sweep over every hub's candidates, as of ``now`` (onboard360's clock: a test
    clock when following one). ``dry_run``: count what it would mark and announce, and
    write nothing (each batch's transaction still locks its candidates, briefly)."""
    moment = now or clock.now()
    rules = policy(service.settings)
    report = SweepReport()
    for hub in service.settings.hubs:
        for kind in PICKS:
            await _sweep_kind(
                service,
                hub,
                kind,
                now=moment,
                rules=rules,
                batch=batch,
                report=report,
                dry_run=dry_run,
            )
    if report.abandoned and not dry_run:
        log.info("abandoned onboardings marked", **vars(report))
    return report


async def _sweep_kind(
    service: Service,
    hub: HubConfig,
    kind: str,
    *,
    now: datetime,
    rules: Policy,
    batch: int,
    report: SweepReport,
    dry_run: bool = False,
) -> None:
    pick = text(PICKS[kind])
    # The keyset walks past candidates the rule leaves (a keyed number, not live yet).
    after_at, after_id = datetime.min.replace(tzinfo=UTC), uuid.UUID(int=0)
    params = {"hub": hub.name, "now": now, "due": now - rules.abandon_after, "batch": batch}
    while True:
        async with service.engine.begin() as conn:
            picked = list(
                await conn.execute(pick, {**params, "after_at": after_at, "after_id": after_id})
            )
            if not picked:
                return
            found = [
                Found(attempt, verdict)
                for attempt, numbers in await read_attempts(conn, hub.name, [p.id for p in picked])
                for verdict in [abandonment(attempt, numbers, now, rules)]
                if verdict is not None
            ]
            if dry_run:  # each candidate found is unmarked and locked: each would be marked
                marked, told = len(found), sum(f.verdict.notify for f in found)
            else:
                marked, told = await mark(conn, hub, service, found)
        report.abandoned += marked
        report.notified += told
        if not dry_run:
            ABANDONED_ONBOARDINGS.labels(hub.name, "true").inc(told)
            ABANDONED_ONBOARDINGS.labels(hub.name, "false").inc(marked - told)
        if len(picked) < batch:
            return
        after_at, after_id = picked[-1].sort_at, picked[-1].id


def as_abandoned(attempt: AttemptFacts, verdict: Abandonment) -> AttemptFacts:
    """The attempt once ``verdict`` is marked on it."""
    return replace(attempt, abandoned_at=verdict.due_at)
