"""Helpers for the `onboard360 hubs …` tests: one hub's settings changed, the command run."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import replace
from typing import Any

import httpx

from onboard360.config.settings import Settings
from onboard360.runtime.serving import free_port
from onboard360.services.hub_checks import Check, check_hub
from tests.cli_process import run_onboard360
from tests.stack import Stack

ALLOW_HTTP = "--allow-http"


def with_hub(stack: Stack, name: str = "pp", **changes: Any) -> Stack:
    """The stack as a configuration whose hub ``name`` differs from the running service's."""
    hubs = [h.model_copy(update=changes) if h.name == name else h for h in stack.settings.hubs]
    return replace(stack, settings=stack.settings.model_copy(update={"hubs": hubs}))


def with_settings(stack: Stack, **changes: Any) -> Stack:
    return replace(stack, settings=stack.settings.model_copy(update=changes))


def nowhere() -> str:
    """An http URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def checks_of(stack: Stack, hub: str = "pp") -> dict[str, Check]:
    """``check_hub`` of one hub against the running sandbox and service, by check name."""

    async def run(settings: Settings) -> list[Check]:
        async with httpx.AsyncClient() as http:
            return await check_hub(settings, stack.hub(hub), http)

    return {c.what: c for c in asyncio.run(run(stack.settings))}


def hubs(stack: Stack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``onboard360 hubs …`` as a process, with the stack's settings."""
    return run_onboard360("hubs", *args, env=stack.env(), stdin=stdin, timeout=60)
