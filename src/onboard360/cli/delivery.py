"""`onboard360 endpoint …` and `onboard360 events …`: deliveries to a product.

The same operations as ``/api/v1/endpoint`` and ``/api/v1/events/…/replay`` (services/
deliveries.py), audited with ``by: cli``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from onboard360.cli.common import ConfigOption, fail
from onboard360.config.hubs import ProductConfig
from onboard360.domain import ProductEvent, is_valid_id
from onboard360.services import deliveries
from onboard360.services.refusals import Refused
from onboard360.services.source import CLI
from onboard360.wiring.service import Service

endpoint_app = typer.Typer(
    help="The product's webhook endpoint: status, disable, enable.", no_args_is_help=True
)
events_app = typer.Typer(help="Events handed to the product: replay.", no_args_is_help=True)
T = TypeVar("T")

ProductOption = Annotated[str, typer.Option("--product", "-p", help="The product's name.")]


def _run(
    config: Path | None,
    product_name: str,
    work: Callable[[Service, ProductConfig], Awaitable[T]],
) -> T:
    """Run one service command for a configured product that takes webhooks."""
    from onboard360.cli.common import service_settings  # noqa: PLC0415
    from onboard360.wiring.service import open_service  # noqa: PLC0415

    settings, url = service_settings(config)
    product = settings.product(product_name)
    if product is None:
        raise fail(f"no product named {product_name[:60]!r} is configured")
    if not product.webhook_url:
        raise fail(f"product {product.name} has no webhook_url: it takes no deliveries")

    async def run() -> T:
        async with open_service(settings, url) as service:
            return await work(service, product)

    try:
        return asyncio.run(run())
    except Refused as exc:
        raise fail(exc) from None


def _describe(state: Any, pending: int, failed: int) -> str:
    if state.enabled:
        line = f"{state.product}: enabled"
        if state.failing_since:
            line += f" (failing since {state.failing_since.isoformat()})"
    else:
        line = (
            f"{state.product}: disabled since {state.disabled_at.isoformat()} by "
            f"{state.disabled_by}: {state.disabled_reason}"
        )
    return f"{line}; {pending} pending, {failed} failed event(s)"


@endpoint_app.command("status")
def status(product: ProductOption, config: ConfigOption = None) -> None:
    """Whether deliveries are attempted, and how many events wait."""

    async def work(service: Service, p: ProductConfig) -> str:
        report = await deliveries.endpoint_report(service, p)
        return _describe(report.state, report.pending, report.failed)

    typer.echo(_run(config, product, work))


@endpoint_app.command("disable")
def disable(
    product: ProductOption,
    config: ConfigOption = None,
    reason: Annotated[
        str, typer.Option(help="Why (shown on the dashboard and the API).")
    ] = "disabled from the command line",
) -> None:
    """Stop deliveries to the product; events are kept until it is enabled (idempotent)."""
    from onboard360.jobs.endpoints import MAX_REASON_CHARS  # noqa: PLC0415

    if not reason.strip() or len(reason) > MAX_REASON_CHARS:
        raise fail(f"--reason must be 1 to {MAX_REASON_CHARS} characters")

    async def work(service: Service, p: ProductConfig) -> bool:
        return (await deliveries.disable_deliveries(service, p, reason, source=CLI)).changed

    changed = _run(config, product, work)
    typer.echo(f"{product}: disabled" + ("" if changed else " already (nothing changed)"))


@endpoint_app.command("enable")
def enable(product: ProductOption, config: ConfigOption = None) -> None:
    """Resume deliveries; the pending events are queued again, oldest first (idempotent)."""

    async def work(service: Service, p: ProductConfig) -> tuple[bool, int]:
        done = await deliveries.enable_deliveries(service, p, source=CLI)
        return done.changed, done.requeued

    changed, requeued = _run(config, product, work)
    if changed:
        typer.echo(f"{product}: enabled; {requeued} pending event(s) queued")
    else:
        typer.echo(f"{product}: enabled already (nothing changed)")


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise fail(f"{option} is not an ISO 8601 time (e.g. 2024-05-01T12:00:00Z)") from None
    if parsed.tzinfo is None:
        raise fail(f"{option} needs a UTC offset (e.g. 2024-05-01T12:00:00Z)")
    return parsed


@events_app.command("replay")
def replay(  # noqa: PLR0917 - one parameter per option, as Typer reads them
    product: ProductOption,
    config: ConfigOption = None,
    event: Annotated[str | None, typer.Option(help="Replay only this event id (msg_…).")] = None,
    status: Annotated[
        str, typer.Option(help="failed (dead), undelivered, or all (delivered too).")
    ] = "failed",
    since: Annotated[str | None, typer.Option(help="Created at or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Created before (ISO 8601).")] = None,
    event_type: Annotated[
        str | None, typer.Option("--type", help="e.g. channel.activated.")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel's events.")] = None,
    client: Annotated[str | None, typer.Option(help="Only this client's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 1000,
) -> None:
    """Send events to the product again (same webhook-id); never queues one twice."""
    from onboard360.jobs.replay import ReplayFilter, ReplayStatus, is_event_id  # noqa: PLC0415

    if event is not None:
        if not is_event_id(event):
            raise fail("--event is not an event id (msg_ and 32 hex digits)")

        async def one(service: Service, p: ProductConfig) -> str:
            if not await deliveries.replay_one(service, p, event, source=CLI):
                return f"{event}: already queued (nothing changed)"
            return f"{event}: queued"

        typer.echo(_run(config, product, one))
        return
    try:
        wanted = ReplayStatus(status)
    except ValueError:
        raise fail("--status must be failed, undelivered or all") from None
    if event_type is not None and event_type not in set(ProductEvent):
        raise fail(f"--type must be one of: {', '.join(sorted(ProductEvent))}")
    for option, value in (("--channel", channel), ("--client", client)):
        if value is not None and not is_valid_id(value):
            raise fail(f"{option} is not a valid id")
    try:
        start, end = deliveries.replay_window(
            _when(since, "--since"), _when(until, "--until"), datetime.now(UTC)
        )
    except Refused as exc:  # a bad range is bad usage: exit status 2, as other options
        raise fail(exc.message) from None
    spec = ReplayFilter(wanted, start, end, event_type, channel, client, limit)

    async def bulk(service: Service, p: ProductConfig) -> str:
        report = await deliveries.replay_matching(service, p, spec, source=CLI)
        more = "; more match: run it again for the next ones" if report.has_more else ""
        return f"{report.queued} event(s) queued{more}"

    typer.echo(_run(config, product, bulk))
