"""`onboard360 sandbox run | scenarios | listen | clock`: scenario files, the live feed of
what the sandbox sends (and what onboard360 hands the product), and the sandbox's clock.

Exit codes of ``run``: 0 every step passed, 1 a step failed (the line says which and why),
2 the file cannot be run as written (nothing was run).
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from onboard360.runtime.clock import parse_duration
from onboard360.sandbox.control_client import DEFAULT_URL, URL_ENV, ControlClient, ControlError
from onboard360.sandbox.scenario.base import Failed
from onboard360.sandbox.scenario.context import SERVICE_TOKEN_ENV, SERVICE_URL_ENV, ServiceApi
from onboard360.sandbox.scenario.loader import ScenarioError, load_scenario
from onboard360.sandbox.scenario.runner import Target, missing_service, run_scenario

UrlOption = Annotated[
    str, typer.Option("--url", envvar=URL_ENV, help="Base URL of the running sandbox.")
]
ServiceUrlOption = Annotated[
    str | None,
    typer.Option(envvar=SERVICE_URL_ENV, help="Base URL of the running onboard360."),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        envvar=SERVICE_TOKEN_ENV,
        help="A product's API token for onboard360 (Bearer).",
        show_default=False,
    ),
]
POLL_SECONDS = 0.25


def fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


def shipped() -> dict[str, Path]:
    """The scenarios shipped in the package, by name (file name without .toml)."""
    folder = resources.files("onboard360.sandbox") / "scenarios"
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


def scenario_path(given: str) -> Path:
    path = Path(given)
    if path.exists() or path.suffix == ".toml" or "/" in given:
        return path
    return shipped().get(given, path)


def run(
    file: Annotated[str, typer.Argument(help="A scenario file, or a shipped one's name.")],
    *,
    url: UrlOption = DEFAULT_URL,
    service_url: ServiceUrlOption = None,
    token: TokenOption = None,
    speed: Annotated[
        float | None,
        typer.Option(min=0.001, max=10_000, help="Run the sandbox's clock N times faster."),
    ] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Set one of its [vars]: name=value.")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="Only check the file.")] = False,
) -> None:
    """Play a scenario against a running sandbox (and onboard360); stop at the first failure."""
    given = {}
    for item in var or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--var must look like name=value, not {item!r}", 2)
        given[key.strip()] = value.strip()
    try:
        scenario = load_scenario(scenario_path(file)).with_variables(given)
    except ScenarioError as exc:
        raise fail(str(exc), 2) from None
    if check:
        typer.echo(f"{scenario.path}: {len(scenario.steps)} steps, all well-formed")
        return
    target = Target(url, service_url, token, speed)
    missing = missing_service(scenario, target)
    if missing:
        raise fail(missing, 2)
    if not run_scenario(scenario, target, typer.echo):
        raise typer.Exit(1)


def scenarios() -> None:
    """List the shipped scenarios (run one by its name)."""
    for name, path in sorted(shipped().items()):
        try:
            title = load_scenario(path).name
        except ScenarioError as exc:  # a broken shipped file is a bug: say so, go on
            title = f"(cannot be run: {exc})"
        typer.echo(f"{name:32} {title}")


def clock(
    url: UrlOption = DEFAULT_URL,
    speed: Annotated[
        float | None, typer.Option(min=0.001, max=10_000, help="N× real time.")
    ] = None,
    advance: Annotated[
        str | None, typer.Option(help="Move the clock forward now, e.g. 2h, 90s.")
    ] = None,
) -> None:
    """Show the sandbox's clock; speed it up or move it forward."""
    try:
        seconds = parse_duration(advance) if advance else 0.0
    except ValueError as exc:
        raise fail(f"--advance: {exc}", 2) from None
    try:
        with ControlClient(url) as control:
            view = (
                control.set_clock(speed=speed, advance_seconds=seconds)
                if speed is not None or seconds
                else control.clock()
            )
    except ControlError as exc:
        raise fail(str(exc), 1) from None
    typer.echo(json.dumps(view, indent=2))


def listen(
    *,
    url: UrlOption = DEFAULT_URL,
    service_url: ServiceUrlOption = None,
    token: TokenOption = None,
    partner_id: Annotated[str | None, typer.Option(help="Only this hub's webhooks.")] = None,
    seconds: Annotated[
        float | None, typer.Option("--for", min=0, help="Stop after this many seconds.")
    ] = None,
    past: Annotated[bool, typer.Option("--past", help="Print what was sent before, too.")] = False,
) -> None:
    """Print every partner webhook the sandbox sends — and, with --service-url and --token,
    every event onboard360 hands the product — as they happen."""
    service = ServiceApi(service_url, token) if service_url and token else None
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        with ControlClient(url) as control:
            feed = Feed(control, service, partner_id)
            feed.poll(show=past)
            while deadline is None or time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                feed.poll(show=True)
    except (ControlError, Failed) as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        pass
    finally:
        if service is not None:
            service.close()


class Feed:
    """What ``listen`` has printed so far: the delivery log's last seq, the events seen."""

    def __init__(self, control: ControlClient, service: ServiceApi | None, partner_id: str | None):
        self.control, self.service, self.partner_id = control, service, partner_id
        self.after = 0
        self.seen: set[str] = set()

    def poll(self, *, show: bool) -> None:
        log = self.control.deliveries(partner_id=self.partner_id, after=self.after, limit=10_000)
        for attempt in log["deliveries"]:
            self.after = max(self.after, attempt["seq"])
            if show:
                typer.echo(webhook_line(attempt))
        if self.service is None:
            return
        for event in reversed(self.service.events()):
            if event["id"] not in self.seen:
                self.seen.add(event["id"])
                if show:
                    typer.echo(product_line(event))


def webhook_line(attempt: dict[str, Any]) -> str:
    status = attempt["status_code"] or attempt["error"] or ""
    again = f" attempt {attempt['attempt']}" if attempt["attempt"] > 1 else ""
    copy = " (duplicate)" if attempt["duplicate"] else ""
    return (
        f"{attempt['started_at']}  webhook  {attempt['event']:28} {attempt['subject_id'] or '-':14}"
        f" {attempt['partner_id']} -> {attempt['outcome']} {status}{again}{copy}".rstrip()
    )


def product_line(event: dict[str, Any]) -> str:
    return (
        f"{event['created_at']}  product  {event['type']:28} {event['channel_id'] or '-':14}"
        f" {event['hub']} -> {event['state']}"
    )


def register(app: typer.Typer) -> None:
    for name, command in {
        "run": run,
        "scenarios": scenarios,
        "listen": listen,
        "clock": clock,
    }.items():
        app.command(name)(command)
