"""`onboard360 hubs adopt`: adopt a Partner Hub that already has clients.

Thin: reads the options and the key file, calls services/adoption.py, prints. A dry run
by default; ``--import-keys`` and ``--take-over`` act (docs/deployment.md).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from onboard360.cli.common import ConfigOption, fail, service_settings
from onboard360.services.refusals import Refused
from onboard360.services.source import CLI


def adopt(  # noqa: PLR0917 - one parameter per option, as Typer reads them
    hub: Annotated[str, typer.Option(help="The configured hub to adopt.")],
    config: ConfigOption = None,
    import_keys: Annotated[
        Path | None,
        typer.Option(
            "--import-keys",
            help="Import the keys the partner holds: a file ('-': stdin) of "
            "'channel_id,api_key' lines, or JSON. Never on the command line.",
        ),
    ] = None,
    take_over: Annotated[
        list[str] | None,
        typer.Option("--take-over", help="Take this channel over: a new key revokes its old one."),
    ] = None,
    take_over_all: Annotated[
        bool, typer.Option("--take-over-all", help="Take over every channel left unkeyed.")
    ] = False,
    yes_revoke: Annotated[
        int | None,
        typer.Option(
            "--yes-revoke",
            min=0,
            help="Confirm a take-over without a prompt: the number of live channels whose "
            "current key dies (must match).",
        ),
    ] = None,
) -> None:
    """List the hub's existing channels and what would happen to each (a dry run).

    Then import their held keys or take them over; channels not named are left as they
    are: visible, unkeyed.
    """
    from onboard360.services import adoption  # noqa: PLC0415
    from onboard360.services.key_file import parse_held_keys  # noqa: PLC0415
    from onboard360.wiring.service import open_service  # noqa: PLC0415

    settings, url = service_settings(config)
    hub_config = settings.hub(hub)
    if hub_config is None:
        raise fail(f"no hub named {hub!r} is configured")
    if import_keys is not None and (take_over or take_over_all):
        raise fail("import keys or take channels over, not both in one run")
    if take_over and take_over_all:
        raise fail("--take-over names channels; --take-over-all takes every one left: pick one")

    async def run() -> None:
        async with open_service(settings, url) as service:
            if import_keys is not None:
                keys = parse_held_keys(_read(import_keys))
                versions = await adoption.import_keys(service, hub_config, keys, CLI)
                for channel_id, version in versions.items():
                    typer.echo(
                        f"{channel_id}: key imported (key version {version}), no key generated"
                    )
            elif take_over or take_over_all:
                plan = await adoption.plan_take_over(service, hub_config, take_over or None)
                confirmed = yes_revoke if yes_revoke is not None else _ask(plan)
                asked = await adoption.take_over(service, hub_config, plan, confirmed, CLI)
                typer.echo(
                    f"took over {len(plan.channel_ids)} channel(s); {asked} new key(s) asked for "
                    "(a worker generates them)"
                )
            else:
                _print_survey(await adoption.survey(service, hub_config))

    try:
        asyncio.run(run())
    except Refused as exc:
        raise fail(exc) from None
    except Exception as exc:
        from onboard360.hub import HubError  # noqa: PLC0415

        if isinstance(exc, HubError):
            raise fail(f"360dialog: {exc}; nothing was done", code=1) from None
        raise


def _read(path: Path) -> str:
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {type(exc).__name__}") from None


def _ask(plan: object) -> int:
    from onboard360.services.adoption import TakeOver, confirmation_needed  # noqa: PLC0415

    assert isinstance(plan, TakeOver)
    if not plan.channel_ids:
        return 0
    typer.echo(confirmation_needed(plan) + ".")
    try:
        answer: str = typer.prompt(f"Type {plan.live} to confirm")
    except typer.Abort:
        raise fail(f"not confirmed (or pass --yes-revoke {plan.live}); nothing was done") from None
    return int(answer) if answer.strip().isdigit() else -1


def _print_survey(found: object) -> None:
    from onboard360.services.survey import Survey  # noqa: PLC0415

    assert isinstance(found, Survey)
    for c in found.channels:
        client = f"{c.client_id} ({c.client_name})" if c.client_name else c.client_id
        typer.echo(f"{client}  {c.channel_id}  {c.phone_number or '-'}  {c.status}  {c.says}")
    n = found.counts()
    typer.echo(
        f"{found.hub}: {n['clients']} client(s), {n['channels']} channel(s) ({n['live']} live): "
        f"{n['entitled']} already onboard360's to key, {n['left']} left unkeyed "
        f"({n['left_live']} live), {n['terminated']} terminated. Dry run: nothing was changed."
    )
    if n["left"]:
        typer.echo(
            "Next: --import-keys FILE (the keys your current system holds; nothing revoked) or "
            "--take-over CHANNEL / --take-over-all (new keys: the old ones stop working)."
        )
