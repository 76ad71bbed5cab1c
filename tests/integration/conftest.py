"""Fixtures shared by the integration tests (the database ones live in tests/conftest.py)."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog

from onboard360.runtime.logging import configure_logging
from onboard360.runtime.serving import free_port
from tests.integration.dashboard_http import Dashboard, logged_in
from tests.stack import Stack, running_stack


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Everything the process logs from now on (structlog, stdlib, uvicorn), as JSON."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("debug", "json")
    yield stream
    structlog.reset_defaults()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


@pytest.fixture
def dashboard(stack: Stack) -> Iterator[Dashboard]:
    """A logged-in operator's HTTP client for the dashboard."""
    with logged_in(stack, "ops@example.test") as d:
        yield d


@pytest.fixture
def clocked(database_url: str) -> Iterator[Stack]:
    """The stack with onboard360 following the sandbox's clock (test_clock_url)."""
    port = free_port()
    clock_url = f"http://127.0.0.1:{port}/sandbox/clock"
    with running_stack(database_url, sandbox_port=port, test_clock_url=clock_url) as s:
        yield s
