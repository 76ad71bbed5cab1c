"""serve, worker, migrate and sync through PgBouncer in transaction mode (db/pooling.py).

Debian's pgbouncer (tests/pgbouncer.py) with a pool of 4 server connections per database:
consecutive transactions of one client land on different server connections, so a
prepared statement, a session lock or a LISTEN left on one of them would show.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from onboard360.config.settings import Settings
from onboard360.db.embedded import to_libpq_uri
from onboard360.db.migrate import head_revision
from onboard360.runtime import failpoints
from onboard360.wiring.service import open_service
from tests.cli_process import run_onboard360
from tests.conftest import ADMIN_URL
from tests.e2e.service_stack import onboard_over_http, product_received, worker_running
from tests.integration.service_http import rows
from tests.integration.test_cli_sync import (
    cli,
    lost_ready_channels,
    sync_while_another_holds_the_hub,
)
from tests.pgbouncer import through, warm
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack, running_stack


@pytest.fixture
def stack(database_url: str, pgbouncer: int) -> Iterator[Stack]:
    options = {"auto_advance": True}
    pooled = through(database_url, pgbouncer)
    warm(to_libpq_uri(pooled))
    with running_stack(pooled, hub_options=options, database_pool_mode="transaction") as s:
        yield s


def backends(database_url: str) -> list[dict[str, Any]]:
    """What PostgreSQL itself sees connected to the test's database (not via PgBouncer)."""
    with psycopg.connect(ADMIN_URL, autocommit=True, row_factory=dict_row) as conn:
        query = "SELECT application_name, query FROM pg_stat_activity WHERE datname = %s"
        database = database_url.rpartition("/")[2]
        return conn.execute(query, (database,)).fetchall()


def test_an_onboarding_goes_live_with_the_service_and_a_worker_behind_pgbouncer(
    stack: Stack,
) -> None:
    with worker_running(stack):
        (channel_id,) = onboard_over_http(stack, "pp", "crm-1", "a@shop.test", ["+4915300000001"])
        product_received(stack, "channel.activated", channel_id)
        # The worker polls: nothing LISTENs through the pooler, where no NOTIFY would reach it.
        assert not [b for b in backends(stack.database_url) if "LISTEN" in b["query"]]

    assert stack.sandbox.channel(channel_id).keys_generated == 1
    stored = rows(stack, "SELECT channel_id FROM api_keys WHERE hub = 'pp'")
    assert [row["channel_id"] for row in stored] == [channel_id]
    assert stack.api.get(f"/api/v1/channels/{channel_id}/api-key").status_code == 200


def test_workers_listen_on_the_listen_url_beside_the_pooler(
    database_url: str, pgbouncer: int
) -> None:
    name = f"o360-listen-{uuid.uuid4().hex[:8]}"
    listen_url = f"{to_libpq_uri(database_url)}?application_name={name}"
    pooled = through(database_url, pgbouncer)
    warm(to_libpq_uri(pooled))
    with (
        running_stack(
            pooled, database_pool_mode="transaction", database_listen_url=listen_url
        ) as s,
        worker_running(s),
    ):

        def listening() -> bool:
            return any(
                b["application_name"] == name and "LISTEN" in b["query"]
                for b in backends(database_url)
            )

        wait_until(listening, timeout=15, what="the worker's LISTEN on the listen URL")


def test_migrate_runs_through_pgbouncer(pgbouncer: int) -> None:
    name = f"o360_bouncer_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = through(f"{ADMIN_URL.rpartition('/')[0]}/{name}", pgbouncer)
        warm(url)
        env = {"ONBOARD360_DATABASE_URL": url, "ONBOARD360_DATABASE_POOL_MODE": "transaction"}
        migrated = run_onboard360("migrate", env=env, timeout=120)
        assert migrated.returncode == 0, migrated.stderr
        with psycopg.connect(url) as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        assert version == (head_revision(),)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_a_sync_through_pgbouncer_waits_for_none_and_leaves_no_lock_behind(stack: Stack) -> None:
    ids = lost_ready_channels(stack, 3)

    refused = sync_while_another_holds_the_hub(stack)
    assert refused.returncode == 1
    assert "another sync of hub 'pp' is running" in refused.stderr

    synced = cli(stack, "sync", "--hub", "pp", "--page-size", "1")

    assert synced.returncode == 0, synced.stderr
    assert "pp: 3 channels, 3 changed" in synced.stdout
    stored = rows(stack, "SELECT channel_id FROM channels WHERE hub = 'pp'")
    assert sorted(r["channel_id"] for r in stored) == sorted(ids)


def test_a_sync_killed_behind_pgbouncer_releases_its_hub(stack: Stack) -> None:
    lost_ready_channels(stack, 3)
    killed = cli(
        stack,
        *("sync", "--hub", "pp", "--page-size", "1"),
        ONBOARD360_FAILPOINTS=failpoints.SYNC_PAGE_COMMITTED,
    )
    assert killed.returncode == failpoints.EXIT_CODE, killed.stderr

    resumed = cli(stack, "sync", "--hub", "pp", "--page-size", "1")

    assert resumed.returncode == 0, resumed.stderr
    assert "continued the interrupted sync run" in resumed.stdout
    assert "pp: 2 channels, 2 changed" in resumed.stdout


def repeat_in_transactions(settings: Settings, url: str) -> None:
    """One statement, many times, each in its own transaction: psycopg prepares it after
    five, and the pooler runs the next transaction on another server connection."""

    async def run() -> None:
        async with open_service(settings, url) as service, service.engine.connect() as conn:
            for n in range(12):
                await conn.execute(text("SELECT CAST(:n AS integer) + 1"), {"n": n})
                await conn.commit()

    asyncio.run(run())


def test_in_transaction_mode_no_statement_is_prepared(stack: Stack) -> None:
    repeat_in_transactions(stack.settings, stack.database_url)  # no error

    # The same through the pooler as if it were a direct connection: the pooler breaks it.
    session = stack.settings.model_copy(update={"database_pool_mode": "session"})
    with pytest.raises(ProgrammingError, match="prepared statement"):
        repeat_in_transactions(session, stack.database_url)
