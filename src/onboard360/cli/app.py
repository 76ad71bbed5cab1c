"""The `onboard360` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from onboard360.cli.abandon import abandon
from onboard360.cli.adopt import adopt
from onboard360.cli.common import (
    ConfigOption,
    fail,
    service_settings,
    settings_or_exit,
)
from onboard360.cli.delivery import endpoint_app, events_app
from onboard360.cli.hubs import hubs_app
from onboard360.cli.prune import prune
from onboard360.cli.users import users_app
from onboard360.runtime.logging import configure_logging
from onboard360.sandbox.cli import sandbox_app
from onboard360.services.refusals import Refused

app = typer.Typer(
    help="onboard360: 360dialog Integrated Onboarding for partners, self-hosted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Apply database migrations (to the embedded server when no database URL is set)."""
    from onboard360.db.engine import database_url, describe_database_error  # noqa: PLC0415
    from onboard360.db.migrate import upgrade  # noqa: PLC0415

    settings = settings_or_exit(config)
    url = ""
    try:
        url = database_url(settings)
        upgrade(url)
    except Exception as exc:
        raise fail(f"migration failed: {describe_database_error(exc, url)}") from None
    typer.echo("database is at the latest migration")


@app.command()
def demo(  # noqa: PLR0917 - one parameter per option, as Typer reads them
    host: Annotated[str, typer.Option(help="Interface for every site.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the example product's page.")] = 8090,
    service_port: Annotated[int, typer.Option(help="Port of the onboard360 service.")] = 8080,
    sandbox_port: Annotated[
        int, typer.Option(help="Port of the sandbox (the official button's env=local uses 8082).")
    ] = 8082,
    step_delay: Annotated[
        float, typer.Option(min=0, max=60, help="Seconds between a number's lifecycle steps.")
    ] = 2.0,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo's embedded PostgreSQL lives.")
    ] = Path(".onboard360/demo"),
) -> None:
    """Run onboard360 with the sandbox, a worker and an example product; open the URL shown."""
    import asyncio  # noqa: PLC0415
    import contextlib  # noqa: PLC0415

    from onboard360.db.engine import database_url, describe_database_error  # noqa: PLC0415
    from onboard360.demo.run import DemoPorts, build_demo, run_demo  # noqa: PLC0415

    configure_logging()
    ports = DemoPorts(host, product=port, service=service_port, sandbox=sandbox_port)
    if len({port, service_port, sandbox_port}) != 3:
        raise fail("--port, --service-port and --sandbox-port must all differ")
    if busy := ports.busy():
        raise fail(f"port(s) {', '.join(map(str, busy))} already in use (another demo running?)")
    demo_setup = build_demo(ports, step_delay, data_dir)
    url = ""
    try:
        url = database_url(demo_setup.settings)
    except Exception as exc:
        raise fail(
            f"cannot start the embedded database: {describe_database_error(exc, url)}"
        ) from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(demo_setup, url))


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Serve the web edge: connect pages, redirects, partner webhooks, the REST API."""
    import asyncio  # noqa: PLC0415

    from onboard360.runtime.serving import Site, freeze_startup_objects, serve_all  # noqa: PLC0415
    from onboard360.web.app import create_app  # noqa: PLC0415

    settings, url = service_settings(config, wait_for_database=True)
    typer.echo(f"onboard360 on http://{host}:{port} ({len(settings.hubs)} hub(s))")
    site = Site(create_app(settings, url), host, port)
    freeze_startup_objects()
    asyncio.run(serve_all([site], log_level="info"))


@app.command()
def worker(
    config: ConfigOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=100, help="Jobs run at once.")] = 10,
    metrics_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Serve GET /metrics and /readyz here.")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface for --metrics-port (0.0.0.0: every one).")
    ] = "127.0.0.1",
) -> None:
    """Run background jobs (webhook processing, key provisioning, handoff). SIGTERM drains."""
    import asyncio  # noqa: PLC0415

    from onboard360.jobs.scrape import MetricsPortUnavailable  # noqa: PLC0415
    from onboard360.worker.runner import run_worker  # noqa: PLC0415

    settings, url = service_settings(config, wait_for_database=True)
    typer.echo(f"worker started (concurrency {concurrency})")
    run = run_worker(
        settings,
        url,
        concurrency=concurrency,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
    )
    try:
        asyncio.run(run)
    except MetricsPortUnavailable as exc:
        raise fail(str(exc)) from None


@app.command("rotate-key")
def rotate_key(
    channel_id: Annotated[str, typer.Argument(help="The channel whose API key to replace.")],
    config: ConfigOption = None,
    hub: Annotated[str | None, typer.Option(help="Only look in this hub.")] = None,
    only_if_not_working: Annotated[
        bool,
        typer.Option(
            "--only-if-not-working",
            help="Only if a key health check found the current key refused (key_not_working).",
        ),
    ] = False,
) -> None:
    """Ask for a new API key for a channel; a worker generates it (the old one stops working)."""
    import asyncio  # noqa: PLC0415

    from onboard360.services import source  # noqa: PLC0415
    from onboard360.services.rotation import rotate_key  # noqa: PLC0415
    from onboard360.wiring.service import open_service  # noqa: PLC0415

    settings, url = service_settings(config)
    hubs = [h.name for h in settings.hubs if hub is None or h.name == hub]
    if not hubs:
        raise fail(f"no hub named {hub!r} is configured")

    async def rotate() -> int:
        async with open_service(settings, url) as service:
            return await rotate_key(
                service,
                hubs,
                channel_id,
                only_if_not_working=only_if_not_working,
                source=source.CLI,
            )

    try:
        intent = asyncio.run(rotate())
    except Refused as exc:
        raise fail(exc) from None
    typer.echo(f"rotation requested: key #{intent} for {channel_id} will be generated by a worker")


@app.command()
def sync(
    config: ConfigOption = None,
    hub: Annotated[str | None, typer.Option(help="Only this hub (default: every hub).")] = None,
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Channels per API call.")] = 1000,
) -> None:
    """Reconcile with 360dialog now: page through the hubs' channels and catch up.

    An interrupted sync of a hub is continued from its last committed page; a hub that
    another sync is reconciling right now is skipped (exit code 1).
    """
    import asyncio  # noqa: PLC0415

    from onboard360.hub import HubError  # noqa: PLC0415
    from onboard360.jobs.checkpoints import SyncAlreadyRunning, SyncLockLost  # noqa: PLC0415
    from onboard360.jobs.reconcile import reconcile_hub  # noqa: PLC0415
    from onboard360.wiring.service import open_service  # noqa: PLC0415

    settings, url = service_settings(config)
    hubs = [h for h in settings.hubs if hub is None or h.name == hub]
    if not hubs:
        raise fail(f"no hub named {hub!r} is configured" if hub else "no hub is configured")

    async def run() -> int:
        skipped = 0
        async with open_service(settings, url) as service:
            for each in hubs:
                with typer.progressbar(length=1, label=f"{each.name}", file=sys.stderr) as bar:
                    done = 0

                    def advance(position: int, total: int, bar: Any = bar) -> None:
                        nonlocal done
                        bar.length = max(total, 1)
                        bar.update(position - done)
                        done = position

                    try:
                        report = await reconcile_hub(
                            service, each, page_size=page_size, progress=advance
                        )
                    except SyncAlreadyRunning as exc:
                        typer.echo(f"{each.name}: {exc}", err=True)
                        skipped += 1
                        continue
                if report.resumed:
                    typer.echo(
                        f"{each.name}: continued the interrupted sync run {report.run_id[:8]} "
                        f"from channel {report.started_at_offset}"
                    )
                typer.echo(
                    f"{each.name}: {report.channels_seen} channels, {report.channels_changed} "
                    f"changed, {report.unusable} unusable, {report.keys_requeued} key jobs "
                    f"requeued, {report.api_calls} API calls"
                )
        return skipped

    try:
        skipped = asyncio.run(run())
    except HubError as exc:
        raise fail(
            f"360dialog: {exc} (the pages done so far are kept: run sync again to continue)",
            code=1,
        ) from None
    except SyncLockLost as exc:
        raise fail(str(exc), code=1) from None
    if skipped:
        raise typer.Exit(1)


@app.command("rotate-encryption-key")
def rotate_encryption_key(
    config: ConfigOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
) -> None:
    """Re-encrypt every stored API key under the first of encryption_keys (online, resumable)."""
    import asyncio  # noqa: PLC0415

    from onboard360.services.reencrypt import ReencryptReport, reencrypt_api_keys  # noqa: PLC0415
    from onboard360.wiring.service import open_service  # noqa: PLC0415

    settings, url = service_settings(config)

    async def run() -> ReencryptReport:
        async with open_service(settings, url) as service:
            return await reencrypt_api_keys(service.engine, service.keyring, batch_size=batch_size)

    report = asyncio.run(run())
    typer.echo(
        f"re-encrypted {report.reencrypted} stored key(s) under {report.primary}; "
        f"{report.already_current} already under it ({report.checked} checked)"
    )
    if report.unreadable:
        shown = ", ".join(str(row) for row in report.unreadable[:10])
        more = f" and {len(report.unreadable) - 10} more" if len(report.unreadable) > 10 else ""
        raise fail(
            f"{len(report.unreadable)} stored key(s) cannot be decrypted with any configured "
            f"key and were left as they are: api_keys {shown}{more}. Add the key that "
            "encrypted them to encryption_keys and run this again",
            code=1,
        )


@app.command()
def drill(  # noqa: PLR0917 - one parameter per option, as Typer reads them
    onboardings: Annotated[
        int, typer.Option(min=1, max=2000, help="Clients to onboard across both hubs.")
    ] = 300,
    seconds: Annotated[
        float, typer.Option(min=5, max=3600, help="Chaos lasts at least this long.")
    ] = 60.0,
    seed: Annotated[int | None, typer.Option(help="Repeat the drill's own choices.")] = None,
    kill_every: Annotated[
        float, typer.Option(min=0.5, max=600, help="Seconds between SIGKILLs (±50%).")
    ] = 3.0,
    admin_url: Annotated[
        str | None,
        typer.Option(
            help="A PostgreSQL of yours for the run's database (never restarted then); "
            "default: the drill starts its own and restarts it during the chaos."
        ),
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the database and the logs.")] = False,
) -> None:
    """Chaos drill: real processes, faults, SIGKILLs; then check every guarantee held."""
    from onboard360.drill.run import DrillOptions  # noqa: PLC0415
    from onboard360.drill.run import drill as run_drill  # noqa: PLC0415

    configure_logging("warning")
    options = DrillOptions(
        onboardings=onboardings, seconds=seconds, seed=seed, kill_every=kill_every, keep=keep
    )
    if admin_url:
        options = DrillOptions(**{**vars(options), "admin_url": admin_url})
    raise typer.Exit(run_drill(options, say=typer.echo))


@app.command("generate-key")
def generate_key_command() -> None:
    """Print a new encryption key for ONBOARD360_ENCRYPTION_KEYS."""
    from onboard360.runtime.crypto import generate_key  # noqa: PLC0415

    typer.echo(generate_key())


app.add_typer(sandbox_app, name="sandbox")
app.command("prune")(prune)
app.command("abandon")(abandon)
app.add_typer(users_app, name="users")
app.add_typer(endpoint_app, name="endpoint")
app.add_typer(events_app, name="events")
hubs_app.command("adopt")(adopt)
app.add_typer(hubs_app, name="hubs")


def main() -> None:
    app()
