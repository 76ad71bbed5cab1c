"""Play a checked scenario (loader.py) against a running sandbox and, for the steps that need
it, a running onboard360: one progress line per step, and a stop at the first failure
saying which step, what was expected and what was seen."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from onboard360.sandbox.control_client import ControlClient, ControlError, without_userinfo
from onboard360.sandbox.scenario.base import Failed, Results, Step
from onboard360.sandbox.scenario.context import (
    SERVICE_TOKEN_ENV,
    SERVICE_URL_ENV,
    Context,
    ServiceApi,
)
from onboard360.sandbox.scenario.loader import Scenario


@dataclass(frozen=True)
class Target:
    """Where the scenario plays: the sandbox, and onboard360 with the product's token."""

    sandbox_url: str
    service_url: str | None = None
    token: str | None = None
    speed: float | None = None


def missing_service(scenario: Scenario, target: Target) -> str | None:
    """Why the scenario cannot run at all without onboard360, if it cannot."""
    if target.service_url and target.token:
        return None
    needing = [f"{n} ({s.kind_name()})" for n, s in enumerate(scenario.steps, 1) if s.needs_service]
    if not needing:
        return None
    shown = ", ".join(needing[:5]) + (" …" if len(needing) > 5 else "")
    return (
        f"steps {shown} talk to onboard360: give --service-url and --token "
        f"(or {SERVICE_URL_ENV} and {SERVICE_TOKEN_ENV})"
    )


def resolved(step: Step, results: Results) -> Step:
    """``step`` with its references replaced by what earlier steps answered."""
    update = {name: results.resolve(getattr(step, name)) for name in type(step).model_fields}
    return step.model_copy(update=update)


def where(scenario: Scenario, number: int, step: Step) -> str:
    line = scenario.lines[number - 1]
    return f"step {number} ({step.kind_name()}{f', line {line}' if line else ''})"


def run_scenario(scenario: Scenario, target: Target, say: Callable[[str], None] = print) -> bool:
    """True when every step passed; on the first failure says why and answers False."""
    run_id = secrets.token_hex(4)
    digits = f"{secrets.randbelow(10**8):08d}"
    results = Results({"run": {"id": run_id, "digits": digits}, "var": scenario.variables})
    total = len(scenario.steps)
    say(f"scenario: {scenario.name} ({total} steps, run {run_id})")
    service = None
    if target.service_url and target.token:
        service = ServiceApi(target.service_url, target.token)
    try:
        with (
            ControlClient(target.sandbox_url) as control,
            httpx.Client(timeout=30, follow_redirects=False) as browser,
        ):
            ctx = Context(control, service, browser, run_id, say)
            with clock_speed(control, target.speed, say):
                began = time.monotonic()
                for number, step in enumerate(scenario.steps, 1):
                    if not play(scenario, number, step, ctx, results):
                        return False
                say(f"passed: {total} steps in {time.monotonic() - began:.1f}s")
                return True
    except ControlError as exc:
        say(f"FAILED: {exc}")
        return False
    finally:
        if service is not None:
            service.close()


def play(scenario: Scenario, number: int, step: Step, ctx: Context, results: Results) -> bool:
    total = len(scenario.steps)
    began = time.monotonic()
    try:
        ready = resolved(step, results)
        ctx.say(f"[{number}/{total}] {ready.describe()}")
        outputs = ready.run(ctx)
    except Failed as exc:
        ctx.say(f"FAILED {where(scenario, number, step)}: {exc}")
        return False
    except httpx.HTTPError as exc:  # the popup's browser: a page that did not answer
        ctx.say(
            f"FAILED {where(scenario, number, step)}: no answer from {page_of(exc)} "
            f"({type(exc).__name__})"
        )
        return False
    for note in ctx.notes:
        ctx.say(f"      {note}")
    ctx.notes.clear()
    if step.ref_name is not None:
        results.by_name[step.ref_name] = outputs
    shown = " ".join(f"{k}={v}" for k, v in outputs.items() if v and not isinstance(v, list))
    ctx.say(f"      ok in {time.monotonic() - began:.1f}s{f'  ({shown})' if shown else ''}")
    return True


def page_of(exc: httpx.HTTPError) -> str:
    try:
        return without_userinfo(str(exc.request.url))
    except RuntimeError:  # no request attached
        return "a page"


class clock_speed:
    """Run the sandbox's clock at ``speed`` for the scenario; put the old speed back after."""

    def __init__(self, control: ControlClient, speed: float | None, say: Callable[[str], None]):
        self.control, self.speed, self.say = control, speed, say
        self.before: float | None = None

    def __enter__(self) -> None:
        if self.speed is not None:
            self.before = float(self.control.clock()["speed"])
            self.control.set_clock(speed=self.speed)
            self.say(f"sandbox clock at {self.speed:g}x")

    def __exit__(self, *_exc: object) -> None:
        if self.before is not None:
            with contextlib.suppress(ControlError):
                self.control.set_clock(speed=self.before)
