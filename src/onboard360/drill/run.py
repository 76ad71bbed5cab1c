"""`onboard360 drill`: the whole chaos drill, start to verdict.

1. a fresh database (CREATE DATABASE + `onboard360 migrate`), a run directory for logs;
2. real processes: the sandbox (`onboard360 sandbox --hubs`), the product, 2 × `serve`
   behind a round-robin balancer, 3 × `worker`;
3. chaos while N clients onboard (clients.py, chaos.py);
4. calm: faults off, every process up, the sandbox's webhooks delivered, jobs drained;
   then `onboard360 sync` and another drain;
5. evidence from four witnesses (evidence.py) and the verdict (verdict.py).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx

from onboard360.drill import evidence as witness
from onboard360.drill import failover
from onboard360.drill.chaos import Chaos
from onboard360.drill.clients import Onboarding, Walker, plan_onboardings
from onboard360.drill.postgres import PrivatePostgres
from onboard360.drill.processes import Child, Fleet
from onboard360.drill.proxy import RoundRobin
from onboard360.drill.verdict import Verdict, judge, render
from onboard360.drill.world import (
    DEFAULT_ADMIN_URL,
    HOST,
    World,
    as_json,
    cli_argv,
    create_database,
    drop_database,
    plan,
    run_cli,
)
from onboard360.jobs.queue import ALL_TASKS

RESULT_PREFIX = "DRILL_RESULT "
WORKERS = 3
# Jobs per worker. The service's engine pools open a connection per running job, and the
# drill's PostgreSQL may be shared (max_connections 100 by default): 3 × 4 is plenty.
WORKER_CONCURRENCY = 4
# uvicorn closes an idle keep-alive connection after 5 s and httpx keeps one for 5 s: a
# request sent on it as the server closes it fails with "Server disconnected without
# sending a response" (encode/httpx#2487), and the popup's steps are not retried. The
# drill's clients drop idle connections well before the server does.
CLIENT_LIMITS = httpx.Limits(keepalive_expiry=2.0)


@dataclass(frozen=True)
class DrillOptions:
    onboardings: int = 300
    seconds: float = 60.0  # the chaos phase lasts at least this long
    seed: int | None = None
    concurrency: int = 16
    kill_every: float = 3.0
    keep: bool = False
    # None: the drill starts a PostgreSQL of its own, and restarts it during the chaos.
    admin_url: str | None = DEFAULT_ADMIN_URL
    settle_timeout: float = 240.0


def drill(options: DrillOptions, say: Callable[[str], None] = print) -> int:
    """Run the drill; 0 when every guarantee held, 1 otherwise (2: it could not run)."""
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(10**6)
    run_dir = Path(tempfile.mkdtemp(prefix="onboard360-drill-"))
    began = time.monotonic()
    server = None if options.admin_url else PrivatePostgres()
    try:
        if server is not None:
            server.init()
            server.start()
        world = plan(run_dir, options.admin_url or (server and server.url()) or "")
        create_database(world)
    except Exception as exc:
        say(f"error: cannot prepare the database: {exc}")
        if server is not None:
            server.destroy()
        return 2
    say(f"drill: {options.onboardings} onboardings, ≥{options.seconds:.0f}s of chaos, seed {seed}")
    where = f"its own PostgreSQL ({server.root})" if server else "a PostgreSQL of yours"
    say(f"drill: database {world.database} on {where}, logs in {run_dir}")
    try:
        verdict = asyncio.run(_run(world, options, seed, say, server))
    except Exception as exc:
        say(f"error: the drill could not run: {type(exc).__name__}: {exc}")
        say(f"drill: logs kept in {run_dir}")
        return 2
    finally:
        if server is not None and not options.keep:
            server.destroy()
        elif server is not None:
            server.stop("fast")
        elif not options.keep:
            drop_database(world)
    verdict.counts["timing"]["total_seconds"] = round(time.monotonic() - began, 1)
    verdict.counts["seed"] = seed
    verdict.counts["where"] = as_json(world)
    (run_dir / "result.json").write_text(
        json.dumps({"counts": verdict.counts, "violations": verdict.violations}, indent=2),
        encoding="utf-8",
    )
    say(render(verdict.counts, verdict.violations))
    say(RESULT_PREFIX + json.dumps({"ok": verdict.ok, **verdict.counts}, sort_keys=True))
    if verdict.ok and not options.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    elif not verdict.ok:
        say(f"drill: logs kept in {run_dir}")
    return 0 if verdict.ok else 1


def _fleet(world: World) -> Fleet:
    fleet = Fleet()
    env = world.service_env()
    fleet.add(
        Child(
            "sandbox",
            cli_argv(
                "sandbox", "--hubs", str(world.hubs_file()), "--port", str(world.sandbox_port)
            ),
            {},
            world.run_dir,
            ready_url=f"{world.sandbox_url}/sandbox/hubs",
        )
    )
    fleet.add(
        Child(
            "product",
            [sys.executable, "-m", "onboard360.drill.product", str(world.product_port)],
            world.product_env(),
            world.run_dir,
            ready_url=f"{world.product_url}/healthz",
        )
    )
    for number, port in enumerate(world.web_ports, start=1):
        argv = cli_argv("serve", "--host", HOST, "--port", str(port))
        ready = f"http://{HOST}:{port}/readyz"
        fleet.add(Child(f"web-{number}", argv, env, world.run_dir, ready_url=ready))
    for number in range(1, WORKERS + 1):
        argv = cli_argv("worker", "--concurrency", str(WORKER_CONCURRENCY))
        fleet.add(Child(f"worker-{number}", argv, env, world.run_dir))
    return fleet


async def _run(
    world: World,
    options: DrillOptions,
    seed: int,
    say: Callable[[str], None],
    server: PrivatePostgres | None,
) -> Verdict:
    fleet = _fleet(world)
    proxy = RoundRobin(HOST, world.proxy_port, [(HOST, port) for port in world.web_ports])
    timing: dict[str, float] = {}
    clock = time.monotonic()
    try:
        await proxy.start()
        await fleet.start(fleet.children)
        timing["start_seconds"] = round(time.monotonic() - clock, 1)
        async with (
            httpx.AsyncClient(
                base_url=world.public_url,
                headers={"Authorization": f"Bearer {world.product_token}"},
                timeout=15.0,
                limits=CLIENT_LIMITS,
            ) as service,
            httpx.AsyncClient(
                base_url=world.sandbox_url, timeout=30.0, limits=CLIENT_LIMITS
            ) as sandbox,
            httpx.AsyncClient(
                base_url=world.product_url, timeout=60.0, limits=CLIENT_LIMITS
            ) as product,
        ):
            # One client walks every onboarding, each in a browser of its own: it keeps no
            # attempt cookies, so each redirect is tied by the state the sandbox echoes.
            service.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            rng = random.Random(seed)
            plans = plan_onboardings(options.onboardings, rng)
            partner_ids = [h.partner_id for h in world.hubs]
            chaos = Chaos(
                fleet, sandbox, partner_ids, rng, options.kill_every, database=server,
                product=product,
            )  # fmt: skip
            clock = time.monotonic()
            say("drill: chaos on; clients onboarding")
            await _chaos_phase(chaos, Walker(service, sandbox), plans, options)
            timing["chaos_seconds"] = round(time.monotonic() - clock, 1)
            say(f"drill: chaos off after {timing['chaos_seconds']}s; settling")
            clock = time.monotonic()
            problems = await _settle(world, sandbox, options.settle_timeout)
            before_sync = await _permitted_without_key(world, plans)
            sync = await asyncio.to_thread(run_cli, world, "sync")
            if sync.returncode != 0:
                problems.append(f"onboard360 sync failed: {sync.stderr.strip()[-300:]}")
            problems += await _drain(world, options.settle_timeout)
            problems += await _product_idle(product, options.settle_timeout)
            timing["settle_seconds"] = round(time.monotonic() - clock, 1)
            say("drill: settled; gathering evidence")
            ev = witness.Evidence()
            await witness.gather_sandbox(sandbox, partner_ids, ev)
            await witness.gather_database(world.database_url, world.run_dir, ev)
            await witness.gather_api_keys(service, sandbox, ev)
            await witness.gather_product(product, ev)
            found = await failover.gather(world.database_url)
            ev.outcome_unknown = found["key_outcome_unknown"]
            verdict = judge(
                plans,
                ev,
                {h.partner_id: h.name for h in world.hubs},
                f"{world.product_url}/inbound",
            )
            verdict.violations[:0] = problems
            verdict.violations += [
                f"{name} died without being killed" for name in chaos.log.unexpected_deaths
            ]
            verdict.counts["reconciliation"]["permitted_without_key_before_sync"] = before_sync
            verdict.counts["reconciliation"]["sync_output"] = sync.stdout.strip().splitlines()
            verdict.counts["chaos"] = {
                "kills": len(chaos.log.kills),
                "web_kills": sum(k.name.startswith("web") for k in chaos.log.kills),
                "worker_kills": sum(k.name.startswith("worker") for k in chaos.log.kills),
                "api_bursts": chaos.log.bursts,
                "blackouts": len(chaos.log.blackouts),
                "proxy_connections": proxy.connections,
                "proxy_refused": proxy.refused,
            }
            verdict.counts["failover"], trouble = failover.judge(
                found, chaos.log, verdict.counts["keys"]
            )
            verdict.violations += trouble
            verdict.counts["timing"] = timing
            verdict.counts["revocations_skipped"] = [
                ob.revoke_skipped for ob in plans if ob.revoke_skipped
            ]
            return verdict
    finally:
        await asyncio.to_thread(fleet.stop)
        await proxy.stop()


async def _chaos_phase(
    chaos: Chaos, walker: Walker, plans: list[Onboarding], options: DrillOptions
) -> None:
    """Clients start evenly over ``seconds``; chaos runs until they are all done and at
    least ``seconds`` have passed."""
    began = time.monotonic()
    running = asyncio.create_task(chaos.run(options.seconds))
    slots = asyncio.Semaphore(options.concurrency)
    spacing = options.seconds * 0.8 / max(len(plans), 1)

    async def one(onboarding: Onboarding) -> None:
        await asyncio.sleep(max(0.0, began + onboarding.index * spacing - time.monotonic()))
        await walker.run(onboarding, slots)

    try:
        await asyncio.gather(*(one(ob) for ob in plans))
        await asyncio.sleep(max(0.0, began + options.seconds - time.monotonic()))
    finally:
        await chaos.calm(running)


async def _wait(
    what: str, check: Callable[[], Any], patience: float, interval: float = 0.5
) -> list[str]:
    """Poll ``check`` (an async callable answering what is still pending, falsy when done)."""
    deadline = time.monotonic() + patience
    pending: Any = None
    while time.monotonic() < deadline:
        pending = await check()
        if not pending:
            return []
        await asyncio.sleep(interval)
    return [f"timed out after {patience:.0f}s waiting for {what}: {pending}"]


async def _settle(world: World, sandbox: httpx.AsyncClient, patience: float) -> list[str]:
    """The sandbox has sent (or given up on) every webhook, and every job has run."""

    async def webhooks_pending() -> int:
        answer = await sandbox.get("/sandbox/deliveries", params={"limit": 1})
        return int(answer.json()["pending"])

    problems = await _wait("the sandbox's webhooks", webhooks_pending, patience)
    return problems + await _drain(world, patience)


async def _drain(world: World, patience: float) -> list[str]:
    """Wait until no job of ours is queued or running (retries scheduled later included).
    Every task of ours: a job the drain ignored (a redirect still being verified, a key
    check) could write a product event after it and leave it undelivered."""

    async def left() -> dict[str, int]:
        async with await witness.connect(world.database_url) as conn:
            cursor = await conn.execute(
                "SELECT task_name, count(*) AS n FROM procrastinate_jobs"
                " WHERE status IN ('todo', 'doing') AND task_name = ANY(%s) GROUP BY 1",
                (list(ALL_TASKS),),
            )
            return {row["task_name"]: row["n"] for row in await cursor.fetchall()}

    problems = await _wait("the workers to drain", left, patience)
    # A delivery that failed several times during the chaos waits its backoff (5 s, 10 s,
    # … doubling): its next try may be due after the patience ran out. Wait for that try
    # (bounded), since delivering it then is the guarantee being checked.
    later = await _latest_retry(world) if problems else None
    if later is not None and later <= MAX_RETRY_WAIT:
        problems = await _wait("the workers to drain", left, later + patience)
    return problems + (await _stuck_jobs(world) if problems else [])


# What each job still queued or running looks like, so a timeout says why it is stuck:
# its worker's heartbeat (or that the row is gone), and an earlier job holding its lock.
_STUCK_JOBS = """
SELECT j.id, j.task_name, j.status::text AS status, j.attempts, j.lock, j.worker_id,
       round(extract(epoch FROM j.scheduled_at - now())::numeric, 1)::float8 AS due_in,
       round(extract(epoch FROM now() - w.last_heartbeat)::numeric, 1)::float8 AS heartbeat_age,
       w.id IS NOT NULL AS worker_row,
       (SELECT string_agg(o.id || ' ' || o.status || ' worker ' || coalesce(o.worker_id::text, '-'),
                          ', ' ORDER BY o.id)
          FROM procrastinate_jobs o
         WHERE o.lock = j.lock AND o.id <> j.id AND o.status IN ('todo', 'doing')) AS same_lock,
       (SELECT string_agg(e.type || '@' || to_char(e.at, 'HH24:MI:SS.MS'), ' ' ORDER BY e.id)
          FROM procrastinate_events e WHERE e.job_id = j.id) AS events
  FROM procrastinate_jobs j LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
 WHERE j.status IN ('todo', 'doing') AND j.task_name = ANY(%s)
 ORDER BY j.id LIMIT 10
"""


async def _stuck_jobs(world: World) -> list[str]:
    async with await witness.connect(world.database_url) as conn:
        cursor = await conn.execute(_STUCK_JOBS, (list(ALL_TASKS),))
        rows = await cursor.fetchall()
        cursor = await conn.execute(
            "SELECT id, round(extract(epoch FROM now() - last_heartbeat)::numeric, 1) AS age"
            " FROM procrastinate_workers ORDER BY id"
        )
        workers = {row["id"]: float(row["age"]) for row in await cursor.fetchall()}
    return [f"still queued: {dict(row)}" for row in rows] + (
        [f"workers (heartbeat age, s): {workers}"] if rows else []
    )


# The longest backoff wait a drill's delivery can reach (jobs/backoff.py: 5 s doubling).
MAX_RETRY_WAIT = 700.0


async def _latest_retry(world: World) -> float | None:
    """Seconds until the latest retry of ours that is scheduled in the future, if any."""
    async with await witness.connect(world.database_url) as conn:
        cursor = await conn.execute(
            "SELECT extract(epoch FROM max(scheduled_at) - now()) AS s FROM procrastinate_jobs"
            " WHERE status = 'todo' AND scheduled_at > now() AND task_name = ANY(%s)",
            (list(ALL_TASKS),),
        )
        row = await cursor.fetchone()
    return None if row is None or row["s"] is None else float(row["s"])


async def _product_idle(product: httpx.AsyncClient, patience: float) -> list[str]:
    async def busy() -> int:
        return int((await product.get("/report")).json()["busy"])

    return await _wait("the product's key checks", busy, patience)


async def _permitted_without_key(world: World, plans: list[Onboarding]) -> int:
    """Channels that should have a key and have none yet (before the sync)."""
    permitted = [c for ob in plans for c in ob.permitted]
    async with await witness.connect(world.database_url) as conn:
        cursor = await conn.execute(
            "SELECT count(*) AS n FROM channels"
            " WHERE channel_id = ANY(%s) AND key_status = 'stored'",
            (permitted,),
        )
        row = await cursor.fetchone()
    return len(permitted) - int(row["n"] if row else 0)
