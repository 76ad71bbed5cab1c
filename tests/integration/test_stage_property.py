"""The stored stage end to end: random histories of signups, redirects (honest and forged),
360dialog's webhooks in any order, permission changes, key rotations and expiry against
the real service, database and sandbox. Whatever happened, every onboarding's stored
stage is the one derived from the rows (domain/stage.py, and the SQL derivation the lists
used before the stage was stored), and the overview's counts are a ``count(*)`` over the
derived stages. The funnel's step stamps (migration 0014) are consistent with the rows:
every step the own numbers reach now is stamped, stamps are never moved or cleared, and a
step's stamp is never earlier than the one before it."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboard360.db.pooling import one_off_async_engine
from onboard360.db.queries.overview import channel_states, stage_counts
from onboard360.domain.stage import (
    NUMBER_STEPS,
    NumberFacts,
    OnboardingFacts,
    number_steps,
    shown,
    stage_of,
)
from tests.integration.service_http import (
    channel_event,
    execute,
    get_redirect,
    post_webhook,
    redirect_query,
    rows,
    state_of,
)
from tests.stack import Stack

HUBS = ["pp", "dp"]
USERS = ["alice", "bob"]

# The derivation the lists used before the stage was stored (migration 0011's backfill).
DERIVED = """
SELECT o.id, CASE
  WHEN o.redirected_at IS NULL AND o.expires_at <= now() THEN 'expired'
  WHEN o.redirected_at IS NULL THEN 'waiting_for_popup'
  WHEN o.verification = 'pending' THEN 'confirming'
  WHEN EXISTS (SELECT 1 FROM channels c WHERE {own})
    AND NOT EXISTS (SELECT 1 FROM channels c WHERE {own}
      AND (c.key_status <> 'stored' OR c.status IS DISTINCT FROM 'running')) THEN 'live'
  WHEN EXISTS (SELECT 1 FROM channels c WHERE {own}
      AND ((c.key_status = 'stored' AND c.status = 'running')
        OR c.blocker IS NULL OR c.blocker NOT IN
        ('waiting_for_permission', 'permission_revoked', 'terminated'))) THEN 'connecting'
  ELSE 'action_needed' END AS derived
FROM onboardings o
""".format(  # noqa: S608 - fixed SQL
    own="""c.hub = o.hub AND c.channel_id = ANY(o.channels) AND c.client_id = o.client_id
      AND EXISTS (SELECT 1 FROM clients k WHERE k.hub = o.hub AND k.client_id = o.client_id
        AND k.external_user_id = o.external_user_id)"""
)


@dataclass
class World:
    """What the test made: onboardings waiting for their redirect, clients, channels."""

    waiting: list[tuple[str, str, str]] = field(default_factory=list)  # hub, user, state
    clients: list[tuple[str, str]] = field(default_factory=list)  # hub, client
    channels: list[tuple[str, str]] = field(default_factory=list)  # hub, channel
    numbers: dict[str, list[str]] = field(default_factory=dict)  # client -> channels
    n: int = 0
    stamps: dict[Any, dict[str, Any]] = field(default_factory=dict)  # id -> stamps seen


steps = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.sampled_from(HUBS), st.sampled_from(USERS)),
        st.tuples(st.just("signup"), st.integers(0, 9), st.integers(1, 2), st.booleans()),
        st.tuples(st.just("forge"), st.integers(0, 9), st.integers(0, 9)),
        st.tuples(
            st.just("webhook"),
            st.integers(0, 19),
            st.sampled_from(
                [
                    ("channel_created", "pending"),
                    ("channel_ready", "ready"),
                    ("channel_running", "running"),
                    ("channel_running", "terminated"),
                ]
            ),
        ),
        st.tuples(st.just("status"), st.integers(0, 19), st.sampled_from(["ready", "running"])),
        st.tuples(st.just("permission"), st.integers(0, 9), st.booleans()),
        st.tuples(st.just("rotate"), st.integers(0, 19)),
        st.tuples(st.just("expire"), st.integers(0, 9)),
    ),
    min_size=1,
    max_size=8,
)


def pick(items: list[Any], n: int) -> Any:
    return items[n % len(items)] if items else None


def run(stack: Stack, world: World, step: tuple[Any, ...]) -> None:
    kind, *args = step
    world.n += 1
    if kind == "start":
        hub, user = args
        world.waiting.append((hub, user, state_of(stack.start_onboarding(hub, user=user))))
    elif kind == "signup" and world.waiting:
        (n, numbers, granted) = args
        hub, _, state = world.waiting.pop(n % len(world.waiting))
        partner = stack.hub(hub).partner_id
        client = stack.sandbox.create_client(
            partner, "Acme", "a@acme.test", api_key_permission=granted if hub == "dp" else None
        ).id
        made = [
            stack.sandbox.create_channel(client, f"+4916{world.n:06d}{k}").id
            for k in range(numbers)
        ]
        world.clients.append((hub, client))
        world.channels.extend((hub, c) for c in made)
        world.numbers[client] = made
        get_redirect(stack, hub, redirect_query(state, client, made))
    elif kind == "forge" and world.waiting and world.clients:
        n, c = args
        hub, _, state = world.waiting.pop(n % len(world.waiting))
        owner_hub, client = pick(world.clients, c)
        if owner_hub == hub:  # someone else's client: a conflict, never bound
            get_redirect(stack, hub, redirect_query(state, client, world.numbers[client]))
    elif kind == "webhook" and world.channels:
        n, (event, status) = args
        hub, channel = pick(world.channels, n)
        post_webhook(stack, hub, channel_event(stack, event, channel, status))
    elif kind == "status" and world.channels:
        n, status = args
        _, channel = pick(world.channels, n)
        if stack.sandbox.channel(channel).status != "terminated":
            stack.sandbox.set_status(channel, status)
    elif kind == "permission" and world.clients:
        n, granted = args
        hub, client = pick(world.clients, n)
        if hub == "dp":
            stack.sandbox.set_api_key_permission(client, granted)
    elif kind == "rotate" and world.channels:
        (n,) = args
        _, channel = pick(world.channels, n)
        stack.api.post(f"/api/v1/channels/{channel}/rotate-key", json={})
    elif kind == "expire":
        (n,) = args
        execute(
            stack,
            "UPDATE onboardings SET expires_at = now() - interval '1 minute' WHERE id = "
            "(SELECT id FROM onboardings ORDER BY sequence OFFSET %s LIMIT 1)",
            n,
        )


# The funnel's steps after the redirect, in order (db/stages.py and the delivery job).
STAMPS = ["redirected_at", *(f"{step}_at" for step in NUMBER_STEPS), "activated_at"]


def check_stamps(stack: Stack, world: World, reached: dict[Any, tuple[str, ...]]) -> None:
    for o in rows(stack, f"SELECT id, {', '.join(STAMPS)} FROM onboardings"):  # noqa: S608
        stamps = {name: o[name] for name in STAMPS}
        # What the own numbers reached now is stamped (a stamp stays when they fall back).
        for step in reached[o["id"]]:
            assert stamps[f"{step}_at"] is not None, (o["id"], step)
        # A step is stamped only after every step before it, and never earlier than it.
        times = [stamps[name] for name in STAMPS]
        stamped = [t for t in times if t is not None]
        assert times[: len(stamped)] == stamped, stamps
        assert stamped == sorted(stamped), stamps
        # Once stamped, a step keeps its time.
        before = world.stamps.setdefault(o["id"], {})
        for name, when in stamps.items():
            if name in before:
                assert when == before[name], (o["id"], name)
            elif when is not None:
                before[name] = when


def derived_by_domain(
    stack: Stack, reached: dict[Any, tuple[str, ...]] | None = None
) -> dict[Any, str]:
    owners = {
        (r["hub"], r["client_id"]): r["external_user_id"]
        for r in rows(stack, "SELECT hub, client_id, external_user_id FROM clients")
    }
    numbers = {
        (r["hub"], r["channel_id"]): NumberFacts(
            r["channel_id"], r["client_id"], r["status"], r["key_status"], r["blocker"]
        )
        for r in rows(
            stack, "SELECT hub, channel_id, client_id, status, key_status, blocker FROM channels"
        )
    }
    now = datetime.now(UTC)
    derived = {}
    for o in rows(stack, "SELECT * FROM onboardings"):
        facts = OnboardingFacts(
            redirected=o["redirected_at"] is not None,
            verification=o["verification"],
            client_id=o["client_id"],
            external_user_id=o["external_user_id"],
            channels=tuple(o["channels"]),
            client_owner=owners.get((o["hub"], o["client_id"])),
        )
        own = [numbers[(o["hub"], c)] for c in o["channels"] if (o["hub"], c) in numbers]
        derived[o["id"]] = shown(stage_of(facts, own), o["expires_at"], now)
        if reached is not None:
            reached[o["id"]] = number_steps(facts, own)
    return derived


async def overview_counts(url: str) -> dict[str, dict[str, int]]:
    engine = one_off_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {hub: await stage_counts(conn, hub) for hub in HUBS}
    finally:
        await engine.dispose()


async def channel_counts(url: str) -> dict[str, set[tuple[str, str, str, int]]]:
    engine = one_off_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {hub: {tuple(r) for r in await channel_states(conn, hub)} for hub in HUBS}
    finally:
        await engine.dispose()


CHANNELS_BY_STATE = """
    SELECT coalesce(status, 'unknown') AS status, permission, key_status, count(*) AS n
    FROM channels WHERE hub = %s GROUP BY 1, 2, 3"""


WORLDS: dict[int, World] = {}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=steps)
def test_stored_stage_is_always_the_derived_one(stack: Stack, script: list[tuple]) -> None:
    # Every example adds to the same stack: the checks are over everything so far.
    world = WORLDS.setdefault(id(stack), World())
    for step in script:
        run(stack, world, step)
    stack.settle()

    stored = {
        r["id"]: shown(r["stage"], r["expires_at"], datetime.now(UTC))
        for r in rows(stack, "SELECT id, stage, expires_at FROM onboardings")
    }
    by_sql = {r["id"]: r["derived"] for r in rows(stack, DERIVED)}
    reached: dict[Any, tuple[str, ...]] = {}
    assert stored == derived_by_domain(stack, reached)
    check_stamps(stack, world, reached)
    assert stored == by_sql
    hub_of = {r["id"]: r["hub"] for r in rows(stack, "SELECT id, hub FROM onboardings")}
    counts = asyncio.run(overview_counts(stack.database_url))
    for hub in HUBS:
        expected = Counter(stage for i, stage in stored.items() if hub_of[i] == hub)
        assert {s: n for s, n in counts[hub].items() if n} == dict(expected), hub
    # The channels' counters (migration 0013) are a count(*) over the rows as well.
    by_state = asyncio.run(channel_counts(stack.database_url))
    for hub in HUBS:
        expected_states = {tuple(r.values()) for r in rows(stack, CHANNELS_BY_STATE, hub)}
        assert by_state[hub] == expected_states, hub
