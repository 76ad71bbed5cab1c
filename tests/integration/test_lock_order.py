"""One lock order: a client's row, its channels, then its onboardings.

A webhook's transition locks the client's rows and then (refreshing their stage) the
client's onboardings. A pending redirect settled by its job must take them in the same
order: were it to lock its onboarding first and then wait for the client's row, the two
would deadlock. Deterministic: the test holds the client's row (as a transition would),
lets the job run into it, and checks the onboarding is not locked while the job waits.
"""

from __future__ import annotations

import asyncio
import threading
import time

import psycopg
import pytest

from onboard360.services.redirects import verify_pending
from onboard360.wiring.service import open_service
from tests.integration.service_http import (
    get_redirect,
    redirect_query,
    rows,
    sandbox_channels,
    state_of,
    to_libpq_uri,
)
from tests.stack import Stack


def _waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(to_libpq_uri(url), autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
        return bool(found and found[0])


def test_a_pending_redirect_locks_the_client_before_its_onboarding(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    stack.settle()  # the client's and channel's rows exist (from their webhooks)
    faults = stack.sandbox_hub("pp").faults
    faults.api_5xx_rate = 1.0
    query = redirect_query(state_of(created), client, [channel])
    assert get_redirect(stack, "pp", query).status_code == 200
    faults.api_5xx_rate = 0.0
    (pending,) = rows(stack, "SELECT id, verification, redirect_query FROM onboardings")
    assert pending["verification"] == "pending"

    outcome: list[str] = []

    def settle_it() -> None:
        async def run() -> None:
            async with open_service(stack.settings, stack.database_url) as service:
                outcome.append(
                    await verify_pending(
                        service, "pp", str(pending["id"]), pending["redirect_query"]
                    )
                )

        asyncio.run(run())

    url = to_libpq_uri(stack.database_url)
    with psycopg.connect(url) as webhook, psycopg.connect(url) as probe:
        # A transition of this client holds its row (uncommitted)...
        webhook.execute(
            "SELECT 1 FROM clients WHERE hub = 'pp' AND client_id = %s FOR UPDATE", [client]
        )
        job = threading.Thread(target=settle_it)
        job.start()
        deadline = time.monotonic() + 20
        while not _waiting_on_a_lock(stack.database_url):
            if time.monotonic() > deadline or not job.is_alive():
                webhook.rollback()
                job.join()
                pytest.fail(f"the job never waited for the client's row: {outcome}")
            time.sleep(0.05)
        # ...and next locks the client's onboardings: the job must not hold one.
        try:
            probe.execute(
                "SELECT 1 FROM onboardings WHERE id = %s FOR UPDATE NOWAIT", [pending["id"]]
            )
        except psycopg.errors.LockNotAvailable:
            pytest.fail("the job locked the onboarding before the client: a deadlock waits")
        finally:
            probe.rollback()
            webhook.rollback()
            job.join(timeout=30)
    assert outcome == ["applied"]
    (done,) = rows(stack, "SELECT verification, channels FROM onboardings")
    assert done == {"verification": "applied", "channels": [channel]}
