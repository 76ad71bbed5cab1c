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


def _register_subcommands() -> None:
    from onboard360.sandbox.cli import sandbox_app  # noqa: PLC0415

    app.add_typer(sandbox_app, name="sandbox")


_register_subcommands()


def main() -> None:
    app()
