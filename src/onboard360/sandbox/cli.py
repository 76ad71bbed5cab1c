"""`onboard360 sandbox`: serve the offline 360dialog, and poke it like `stripe trigger`."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from onboard360.hub import platform as p
from onboard360.runtime.logging import configure_logging
from onboard360.sandbox import cli_control, cli_scenario
from onboard360.sandbox.models import HubSpec, describe_errors

sandbox_app = typer.Typer(
    help="The offline 360dialog sandbox: serve it, or drive a running one.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)

HubsOption = Annotated[
    Path | None,
    typer.Option("--hubs", help="TOML or JSON file with a list named 'hubs' (see README)."),
]


def load_hubs(path: Path) -> list[HubSpec]:
    """Read hub specs from a TOML (``[[hubs]]``) or JSON (``{"hubs": [...]}``) file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ValueError(f"{path} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("hubs"), list):
        raise ValueError(f"{path} must contain a list named 'hubs'")
    try:
        return TypeAdapter(list[HubSpec]).validate_python(data["hubs"])
    except ValidationError as exc:
        raise ValueError(describe_errors(exc.errors(), "hubs.")) from None


@sandbox_app.callback()
def serve(
    ctx: typer.Context,
    hubs: HubsOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (the official button's env=local uses 8082).")] = (
        p.DEFAULT_PORT
    ),
    speed: Annotated[
        float, typer.Option(min=0.001, max=10_000, help="Run the sandbox's clock N× real time.")
    ] = 1.0,
) -> None:
    """Serve the sandbox (when no sub-command is given)."""
    if ctx.invoked_subcommand is not None:
        return
    from onboard360.runtime.serving import Site, serve_all  # noqa: PLC0415
    from onboard360.sandbox.app import create_app  # noqa: PLC0415
    from onboard360.sandbox.state import Sandbox  # noqa: PLC0415

    configure_logging()
    try:
        specs = load_hubs(hubs) if hubs else []
    except ValueError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    world = Sandbox()
    world.clock.set_speed(speed)
    typer.echo(f"sandbox on http://{host}:{port} with {len(specs)} hub(s)")
    asyncio.run(serve_all([Site(create_app(specs, sandbox=world), host, port)], log_level="info"))


cli_control.register(sandbox_app)
cli_scenario.register(sandbox_app)
