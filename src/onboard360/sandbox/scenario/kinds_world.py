"""Steps that make things happen at 360dialog (the sandbox): hubs, clients, channels, their
lifecycle, any partner webhook, permissions, faults and the clock; and onboard360's sync
and abandonment sweep."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, ClassVar, Literal

from pydantic import Field

from onboard360.runtime.clock import parse_duration
from onboard360.sandbox.scenario.base import Duration, Failed, OutputType, Step
from onboard360.sandbox.scenario.context import Context

Id = str  # an id, or a reference to one ($name.output)
COMMAND_TIMEOUT_SECONDS = 300  # an onboard360 command a step runs (sync, abandon)


def _given(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class CreateHub(Step):
    """A Partner Hub of the sandbox's own (a sandbox-only story: onboard360 does not know it)."""

    kind: ClassVar[str] = "create_hub"
    outputs: ClassVar[dict[str, OutputType]] = {"partner_id": "str", "api_key": "str"}

    redirect_url: str
    partner_id: str | None = None
    billing: Literal["partner", "direct"] = "partner"
    webhook_url: str | None = None
    step_delay: Duration | None = None
    auto_advance: bool | None = None

    def run(self, ctx: Context) -> dict[str, Any]:
        spec = _given(
            redirect_url=self.redirect_url,
            partner_id=self.partner_id,
            billing=self.billing,
            webhook_url=self.webhook_url,
            step_delay_seconds=parse_duration(self.step_delay) if self.step_delay else None,
            auto_advance=self.auto_advance,
        )
        hub = ctx.control(lambda c: c.create_hub(spec))
        return {"partner_id": hub["partner_id"], "api_key": hub["api_key"]}

    def describe(self) -> str:
        return f"create_hub {self.partner_id or '(new id)'} billing={self.billing}"


class UpdateHub(Step):
    """Change a sandbox hub's behaviour: ``auto_advance`` (new channels move to running by
    themselves), ``step_delay`` between their lifecycle steps, its ``webhook_url``."""

    kind: ClassVar[str] = "update_hub"

    partner_id: Id
    auto_advance: bool | None = None
    step_delay: Duration | None = None
    webhook_url: str | None = None

    def run(self, ctx: Context) -> dict[str, Any]:
        patch = _given(
            auto_advance=self.auto_advance,
            step_delay_seconds=parse_duration(self.step_delay) if self.step_delay else None,
            webhook_url=self.webhook_url,
        )
        if not patch:
            raise Failed("update_hub changes nothing: give auto_advance, step_delay or webhook_url")
        ctx.control(lambda c: c.update_hub(self.partner_id, patch))
        return {}


class CreateClient(Step):
    """A client signed up at 360dialog outside any onboarding (sends client_created)."""

    kind: ClassVar[str] = "create_client"
    outputs: ClassVar[dict[str, OutputType]] = {"id": "str", "email": "str"}

    partner_id: Id
    name: str | None = None
    email: str | None = None
    permission: bool | None = None

    def run(self, ctx: Context) -> dict[str, Any]:
        body = _given(name=self.name, email=self.email, api_key_permission=self.permission)
        client = ctx.control(lambda c: c.create_client(self.partner_id, body))
        return {"id": client["id"], "email": client["contact_info"]["email"]}


class CreateChannel(Step):
    """A number of a client (sends channel_created; moves on if the hub auto-advances)."""

    kind: ClassVar[str] = "create_channel"
    outputs: ClassVar[dict[str, OutputType]] = {"id": "str"}

    client: Id
    phone: str | None = None
    shared: bool = True

    def run(self, ctx: Context) -> dict[str, Any]:
        body = _given(phone_number=self.phone, shared=self.shared)
        return {"id": ctx.control(lambda c: c.create_channel(self.client, body))["id"]}


class Status(Step):
    """Move a channel to a status: the webhook of every lifecycle step passed is sent."""

    kind: ClassVar[str] = "status"

    channel: Id
    status: str

    def run(self, ctx: Context) -> dict[str, Any]:
        ctx.control(lambda c: c.set_status(self.channel, self.status))
        return {}


class Event(Step):
    """Send one partner webhook about a channel, named as 360dialog names it."""

    kind: ClassVar[str] = "event"

    channel: Id
    event: str
    violation_type: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)

    def run(self, ctx: Context) -> dict[str, Any]:
        body = _given(event=self.event, violation_type=self.violation_type)
        if self.fields:
            body["fields"] = self.fields
        ctx.control(lambda c: c.trigger(self.channel, body))
        return {}


class Permission(Step):
    """The client grants or takes away API-key permission later, in its own hub."""

    kind: ClassVar[str] = "permission"

    client: Id
    granted: bool

    def run(self, ctx: Context) -> dict[str, Any]:
        ctx.control(lambda c: c.set_api_key_permission(self.client, self.granted))
        return {}


class Sharing(Step):
    """The client shares a number with the partner, or stops (its keys are revoked)."""

    kind: ClassVar[str] = "sharing"

    channel: Id
    shared: bool

    def run(self, ctx: Context) -> dict[str, Any]:
        ctx.control(lambda c: c.set_shared(self.channel, self.shared))
        return {}


class Faults(Step):
    """Switch a hub's faults; the ones not named stay as they are."""

    kind: ClassVar[str] = "faults"

    partner_id: Id
    outage: bool | None = None
    drop: float | None = Field(None, ge=0, le=1)
    duplicate: float | None = Field(None, ge=0, le=1)
    reorder: bool | None = None
    delay: Duration | None = None
    api_429: float | None = Field(None, ge=0, le=1)
    api_5xx: float | None = Field(None, ge=0, le=1)

    def run(self, ctx: Context) -> dict[str, Any]:
        patch = _given(
            outage=self.outage,
            webhook_drop_rate=self.drop,
            webhook_duplicate_rate=self.duplicate,
            webhook_reorder=self.reorder,
            webhook_delay_seconds=parse_duration(self.delay) if self.delay else None,
            api_429_rate=self.api_429,
            api_5xx_rate=self.api_5xx,
        )
        ctx.control(lambda c: c.update_faults(self.partner_id, patch))
        return {}


class Advance(Step):
    """Move the sandbox's clock forward now: waits (step delays, retries) end sooner."""

    kind: ClassVar[str] = "advance"

    by: Duration

    def run(self, ctx: Context) -> dict[str, Any]:
        seconds = parse_duration(self.by)
        ctx.control(lambda c: c.set_clock(advance_seconds=seconds))
        return {}


def run_onboard360(ctx: Context, *args: str) -> None:
    """Run ``onboard360 ARGS`` with this process's environment (the service's settings, as
    the command reads them); its output goes to the step's notes, a failure fails it."""
    command = [sys.executable, "-m", "onboard360", *args]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        env=os.environ.copy(),
        check=False,
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise Failed(f"onboard360 {args[0]} exited {done.returncode}: {lines[-1] if lines else ''}")
    ctx.notes.append(done.stdout.strip())


class Sync(Step):
    """Run ``onboard360 sync`` (reconcile with 360dialog now). It reads the service's
    settings from this process's environment, as the command does."""

    kind: ClassVar[str] = "sync"

    hub: str | None = None

    def run(self, ctx: Context) -> dict[str, Any]:
        run_onboard360(ctx, "sync", *(["--hub", self.hub] if self.hub else []))
        return {}


class Sweep(Step):
    """Run ``onboard360 abandon`` (the abandonment sweep a worker runs on abandon_cron)
    now: attempts abandoned by onboard360's clock are marked and announced. Settings as
    ``sync``."""

    kind: ClassVar[str] = "sweep"

    def run(self, ctx: Context) -> dict[str, Any]:
        run_onboard360(ctx, "abandon")
        return {}
