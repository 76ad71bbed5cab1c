"""The `onboard360` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onboard360.config import ConfigError, Settings, load_settings
from onboard360.logging import configure_logging

app = typer.Typer(
    help="onboard360: 360dialog Integrated Onboarding for partners, self-hosted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (or ONBOARD360_CONFIG).")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one clear line to stderr and return the Exit to raise."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


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
def demo(
    host: Annotated[str, typer.Option(help="Interface for both sites.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the partner page.")] = 8080,
    sandbox_port: Annotated[
        int, typer.Option(help="Port of the sandbox (the official button's env=local uses 8082).")
    ] = 8082,
) -> None:
    """Run the sandbox (two hubs) and a partner page with Connect buttons; open the URL shown."""
    import asyncio  # noqa: PLC0415
    import contextlib  # noqa: PLC0415

    from onboard360.demo import run_demo  # noqa: PLC0415

    configure_logging()
    if port == sandbox_port:
        raise fail("--port and --sandbox-port must differ")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(host, port, sandbox_port))


def _service_settings(config: Path | None) -> tuple[Settings, str]:
    """Settings checked for serving (keys present) and the database URL, or a clear exit."""
    from onboard360.db.engine import database_url, describe_database_error  # noqa: PLC0415
    from onboard360.service import keyring_from  # noqa: PLC0415

    settings = settings_or_exit(config)
    try:
        keyring_from(settings)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    url = ""
    try:
        url = database_url(settings)
    except Exception as exc:
        raise fail(describe_database_error(exc, url)) from None
    return settings, url


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Serve the web edge: connect pages, redirects, partner webhooks, the REST API."""
    import asyncio  # noqa: PLC0415

    from onboard360.serving import Site, serve_all  # noqa: PLC0415
    from onboard360.web.app import create_app  # noqa: PLC0415

    settings, url = _service_settings(config)
    typer.echo(f"onboard360 on http://{host}:{port} ({len(settings.hubs)} hub(s))")
    asyncio.run(serve_all([Site(create_app(settings, url), host, port)], log_level="info"))


@app.command()
def worker(
    config: ConfigOption = None,
    concurrency: Annotated[int, typer.Option(min=1, max=100, help="Jobs run at once.")] = 10,
) -> None:
    """Run background jobs (webhook processing, key provisioning, handoff). SIGTERM drains."""
    import asyncio  # noqa: PLC0415

    from onboard360.jobs.runner import run_worker  # noqa: PLC0415

    settings, url = _service_settings(config)
    typer.echo(f"worker started (concurrency {concurrency})")
    asyncio.run(run_worker(settings, url, concurrency=concurrency))


@app.command("rotate-key")
def rotate_key(
    channel_id: Annotated[str, typer.Argument(help="The channel whose API key to replace.")],
    config: ConfigOption = None,
    hub: Annotated[str | None, typer.Option(help="Only look in this hub.")] = None,
) -> None:
    """Ask for a new API key for a channel; a worker generates it (the old one stops working)."""
    import asyncio  # noqa: PLC0415

    from onboard360.jobs.rotation import RotationRefused, request_rotation  # noqa: PLC0415
    from onboard360.service import open_service  # noqa: PLC0415

    settings, url = _service_settings(config)
    hubs = [h.name for h in settings.hubs if hub is None or h.name == hub]
    if not hubs:
        raise fail(f"no hub named {hub!r} is configured")

    async def rotate() -> int:
        async with open_service(settings, url) as service, service.engine.begin() as conn:
            return await request_rotation(conn, service, hubs, channel_id)

    try:
        intent = asyncio.run(rotate())
    except RotationRefused as exc:
        raise fail(str(exc), code=1) from None
    typer.echo(f"rotation requested: key #{intent} for {channel_id} will be generated by a worker")


@app.command("generate-key")
def generate_key_command() -> None:
    """Print a new encryption key for ONBOARD360_ENCRYPTION_KEYS."""
    from onboard360.crypto import generate_key  # noqa: PLC0415

    typer.echo(generate_key())


def _register_subcommands() -> None:
    from onboard360.sandbox.cli import sandbox_app  # noqa: PLC0415

    app.add_typer(sandbox_app, name="sandbox")


_register_subcommands()


def main() -> None:
    app()
