"""What every `onboard360` command group shares: the config option, one-line errors,
settings and the database URL checked for serving.

The command modules (cli.py and the *_cli.py groups) import these from here, never from
each other, so any of them can be imported first (no cycle through cli.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from onboard360.config.settings import ConfigError, Settings, load_settings
from onboard360.runtime.logging import configure_logging
from onboard360.services.refusals import Refused

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file (or ONBOARD360_CONFIG).")
]


def fail(message: str | Refused, code: int | None = None) -> typer.Exit:
    """Print one clear line to stderr and return the Exit to raise.

    The CLI's one translation of a command's ``Refused``: its message, exit status 1 (the
    command was understood and refused); any other failure (bad usage, no config) exits 2.
    """
    if isinstance(message, Refused):
        message, code = message.message, 1 if code is None else code
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(2 if code is None else code)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def service_settings(
    config: Path | None, *, wait_for_database: bool = False
) -> tuple[Settings, str]:
    """Settings checked for serving (keys present) and the database URL, or a clear exit."""
    from onboard360.db.engine import (  # noqa: PLC0415
        DatabaseNotReady,
        database_url,
        describe_database_error,
    )
    from onboard360.wiring.service import keyring_from  # noqa: PLC0415

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
    patience = settings.startup_database_wait_seconds if wait_for_database else 0
    try:
        _check_database_patiently(url, patience)
    except DatabaseNotReady as exc:
        raise fail(str(exc)) from None
    return settings, url


def _check_database_patiently(url: str, patience: float) -> None:
    """check_database; an unreachable server is asked again for ``patience`` seconds (a
    restart or failover in progress: serve and worker wait for it at start as they do
    while running, instead of exiting into a restart loop)."""
    import time  # noqa: PLC0415

    from onboard360.db.engine import DatabaseUnreachable, check_database  # noqa: PLC0415

    deadline = time.monotonic() + patience
    tries = 0
    while True:
        try:
            check_database(url)
        except DatabaseUnreachable as exc:
            if time.monotonic() >= deadline:
                raise
            if tries == 0:
                typer.echo(f"{exc}; waiting up to {patience:g}s for it", err=True)
            time.sleep(min(0.25 * 2**tries, 5.0, max(0.0, deadline - time.monotonic())))
            tries += 1
            continue
        if tries:
            typer.echo("database answering: starting", err=True)
        return
