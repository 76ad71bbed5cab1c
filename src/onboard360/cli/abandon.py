"""`onboard360 abandon`: run the abandonment sweep now (the worker does on abandon_cron)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from onboard360.cli.common import ConfigOption, fail, service_settings


def abandon(
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Count what would be marked and announced; write nothing."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Mark the onboardings abandoned by now and tell the product (onboarding.abandoned).

    The same sweep as the worker's abandon_cron: each attempt is marked once, however many
    sweeps run at once; "now" is onboard360's clock (a test clock with test_clock_url).
    """
    from onboard360.db.engine import describe_database_error  # noqa: PLC0415
    from onboard360.jobs.abandon import SweepReport, sweep  # noqa: PLC0415
    from onboard360.wiring.service import open_service  # noqa: PLC0415

    settings, url = service_settings(config)

    async def run() -> SweepReport:
        async with open_service(settings, url) as service:
            return await sweep(service, dry_run=dry_run)

    try:
        report = asyncio.run(run())
    except Exception as exc:
        raise fail(f"abandon failed: {describe_database_error(exc, url)}", code=1) from None
    if dry_run:
        typer.echo(
            f"would mark {report.abandoned} onboarding(s) abandoned, "
            f"{report.notified} announced with onboarding.abandoned"
        )
    else:
        typer.echo(
            f"marked {report.abandoned} onboarding(s) abandoned, "
            f"{report.notified} announced with onboarding.abandoned"
        )
