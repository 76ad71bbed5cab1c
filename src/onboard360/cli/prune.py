"""`onboard360 prune`: apply the retention settings now, or say what that would remove."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from onboard360.cli.common import ConfigOption, fail, settings_or_exit


def prune(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; remove nothing.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Remove what the retention settings keep no longer (the worker does so on prune_cron)."""
    from onboard360.db.engine import database_url, describe_database_error  # noqa: PLC0415
    from onboard360.jobs.prune import prune_database  # noqa: PLC0415

    settings = settings_or_exit(config)
    url = ""
    try:
        url = database_url(settings)
        counts = asyncio.run(prune_database(settings, url, dry_run=dry_run))
    except Exception as exc:
        raise fail(f"prune failed: {describe_database_error(exc, url)}") from None
    verb = "would remove" if dry_run else "removed"
    for table, n in counts.items():
        typer.echo(f"{table}\t{verb} {n}")
