"""Logins in flight do not starve the database pool: the password is checked holding no
connection, so the product API answers while every password check is still running."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from onboard360.services import accounts
from tests.integration.dashboard_http import Dashboard, make_operator
from tests.sandbox_fixtures import wait_until
from tests.stack import running_stack

LOGINS = 6


def test_the_api_answers_while_logins_check_passwords(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    checking: list[str] = []
    real_verify = accounts._verify

    def held_verify(password_hash: str | None, password: str) -> bool:
        checking.append(password)
        assert release.wait(timeout=60)
        return real_verify(password_hash, password)

    monkeypatch.setattr(accounts, "_verify", held_verify)
    # Two pooled connections (1 + 1 overflow) for six logins in flight at once.
    with running_stack(
        database_url,
        database_pool_size=1,
        login_concurrency=LOGINS,
        login_concurrency_per_address=LOGINS,
    ) as stack:
        make_operator(stack, "ops@example.test")

        def login(n: int) -> httpx.Response:
            with Dashboard(stack) as browser:
                return browser.login(f"user{n}@example.test", f"wrong password {n}")

        with ThreadPoolExecutor(LOGINS) as pool:
            answers = [pool.submit(login, n) for n in range(LOGINS)]
            wait_until(lambda: len(checking) == LOGINS, what="every login to check its password")
            # Every password check is still running, and the API is served.
            channels = stack.api.get("/api/v1/channels", timeout=10)
            assert channels.status_code == 200, channels.text
            assert not release.is_set()
            assert not any(a.done() for a in answers)
            release.set()
            results = [a.result(timeout=30) for a in answers]
    assert all("failed=1" in r.headers["location"] for r in results)
