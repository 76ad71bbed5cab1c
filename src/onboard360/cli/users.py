"""`onboard360 users …`: the dashboard's operator accounts."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from onboard360.cli.common import ConfigOption, fail, settings_or_exit
from onboard360.db.pooling import one_off_async_engine
from onboard360.services.refusals import Refused
from onboard360.services.source import CLI

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

users_app = typer.Typer(
    help="Operator accounts for the dashboard (/dashboard).", no_args_is_help=True
)
T = TypeVar("T")


def _with_engine(config: Path | None, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run one accounts command against the configured database."""
    from onboard360.db.engine import database_url, describe_database_error  # noqa: PLC0415

    settings = settings_or_exit(config)
    url = ""
    try:
        url = database_url(settings)
    except Exception as exc:
        raise fail(describe_database_error(exc, url)) from None

    async def run() -> T:
        engine = one_off_async_engine(url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="The operator's email (their login).")],
    config: ConfigOption = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from one line of stdin.")
    ] = False,
) -> None:
    """Create an operator; the password is asked twice (never an argument: shell history)."""
    from onboard360.services.accounts import (  # noqa: PLC0415
        check_password_rules,
        create_operator,
        normalize_email,
    )

    try:
        normalize_email(email)
        password = _read_password(password_stdin)
        check_password_rules(password)
        operator = _with_engine(
            config, lambda engine: create_operator(engine, email, password, source=CLI)
        )
    except Refused as exc:
        raise fail(exc.message) from None
    typer.echo(f"operator {operator.email} created; they log in at /dashboard")


@users_app.command("list")
def list_users(config: ConfigOption = None) -> None:
    """List operators: email, state, created."""
    from onboard360.services.accounts import list_operators  # noqa: PLC0415

    rows = _with_engine(config, list_operators)
    if not rows:
        typer.echo("no operators yet: onboard360 users create EMAIL")
    for row in rows:
        state = "disabled" if row.disabled else "active"
        if not row.disabled and row.locked_until is not None:
            state = f"locked until {row.locked_until:%Y-%m-%d %H:%M} UTC (or sooner)"
        typer.echo(f"{row.email}\t{state}\tcreated {row.created_at:%Y-%m-%d}")


@users_app.command("disable")
def disable(
    email: Annotated[str, typer.Argument(help="The operator to disable.")],
    config: ConfigOption = None,
) -> None:
    """Disable an operator and end their sessions at once."""
    from onboard360.services.accounts import disable_operator  # noqa: PLC0415

    try:
        changed = _with_engine(config, lambda engine: disable_operator(engine, email, source=CLI))
    except Refused as exc:
        raise fail(exc.message) from None
    typer.echo(
        f"operator {email.strip().lower()} " + ("disabled" if changed else "was disabled already")
    )
