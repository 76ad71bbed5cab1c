"""`onboard360 hubs …`: connect the service to real 360dialog Partner Hubs.

``check`` tells whether a configuration is ready (one line per check, exit 1 on any ✗);
``connect`` sets a hub's Partner Webhook URL and Redirect URL at 360dialog. The work is in
services/hub_checks.py and services/hub_connect.py; a new command joins ``hubs_app`` here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import httpx
import typer

from onboard360.cli.common import ConfigOption, fail, settings_or_exit
from onboard360.config.hubs import HubConfig
from onboard360.config.settings import Settings
from onboard360.hub import HubError

if TYPE_CHECKING:
    from onboard360.services.hub_checks import Check

hubs_app = typer.Typer(
    help="Connect onboard360 to 360dialog Partner Hubs: check them, set their URLs.",
    no_args_is_help=True,
)

T = TypeVar("T")
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

HubOption = Annotated[str, typer.Option("--hub", help="The hub's name in the settings.")]
AllowHttp = Annotated[
    bool,
    typer.Option(
        "--allow-http",
        help="Accept an http:// public_url (a local test against the sandbox), not https.",
    ),
]


def with_http(work: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``work`` with an HTTP client of its own, in a new event loop."""

    async def run() -> T:
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
            return await work(http)

    return asyncio.run(run())


def configured_hub(settings: Settings, name: str) -> HubConfig:
    hub = settings.hub(name)
    if hub is None:
        known = ", ".join(h.name for h in settings.hubs) or "none"
        raise fail(f"no hub named {name!r} is configured (configured: {known})")
    return hub


@hubs_app.command("check")
def check(
    config: ConfigOption = None,
    hub: Annotated[str | None, typer.Option(help="Only this hub (default: every hub).")] = None,
    allow_http: AllowHttp = False,
) -> None:
    """Check the database, public_url and each hub's credentials, URLs and secrets."""
    from onboard360.services import hub_checks  # noqa: PLC0415

    settings = settings_or_exit(config)
    hubs = [configured_hub(settings, hub)] if hub else settings.hubs
    if not hubs:
        raise fail("no hub is configured")

    async def run(http: httpx.AsyncClient) -> list[tuple[str, list[hub_checks.Check]]]:
        checked = [("", await hub_checks.check_public_url(settings, http, allow_http=allow_http))]
        for each in hubs:
            title = f"hub {each.name} ({each.partner_id})"
            checked.append((title, await hub_checks.check_hub(settings, each, http)))
        return checked

    failed = 0
    for title, checks in [("", [hub_checks.check_database(settings)]), *with_http(run)]:
        if title:
            typer.echo(f"{title}:")
        for item in checks:
            failed += not item.ok
            typer.echo(("  " if title else "") + _line(item))
    if failed:
        typer.echo(f"{failed} check(s) failed", err=True)
        raise typer.Exit(1)


def _line(item: Check) -> str:
    line = f"{'✓' if item.ok else '✗'} {item.what}: {item.found}"
    return f"{line} — fix: {item.fix}" if item.fix else line


@hubs_app.command("connect")
def connect(
    hub: HubOption,
    config: ConfigOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Overwrite values set at 360dialog without asking.")
    ] = False,
    allow_http: AllowHttp = False,
) -> None:
    """Set the hub's Partner Webhook URL and Redirect URL at 360dialog to this service."""
    from onboard360.services import hub_connect  # noqa: PLC0415
    from onboard360.services.hub_checks import hub_error, partner_api  # noqa: PLC0415

    settings = settings_or_exit(config)
    chosen = configured_hub(settings, hub)
    if not settings.public_url.startswith("https://") and not allow_http:
        raise fail(
            f"public_url {settings.public_url} is not https: 360dialog sends webhooks and "
            "clients there; set the https:// address (or --allow-http for a local test)",
            code=1,
        )

    def refused(exc: HubError) -> typer.Exit:
        item = hub_error(chosen, exc)
        return fail(_line(item).removeprefix("✗ ") + " (nothing was changed)", code=1)

    try:
        changes = with_http(
            lambda http: hub_connect.plan(settings, chosen, partner_api(chosen, http))
        )
    except HubError as exc:
        raise refused(exc) from None
    typer.echo(f"hub {chosen.name} ({chosen.partner_id}) at 360dialog:")
    for change in changes:
        typer.echo(f"  {change.describe()}")
    if not any(c.needed for c in changes):
        typer.echo("nothing to change")
        return
    overwritten = [c.what for c in changes if c.overwrites]
    if overwritten and not yes:
        question = f"Overwrite the {' and the '.join(overwritten)} set at 360dialog now?"
        if not typer.confirm(question, default=False):
            raise fail("nothing was changed", code=1)
    try:
        made = with_http(lambda http: hub_connect.apply(partner_api(chosen, http), changes))
    except HubError as exc:
        raise refused(exc) from None
    typer.echo(f"✓ set {' and '.join(c.what for c in made)}")
