"""Expectations: wait (bounded by ``within``) until something holds, else fail saying what
was expected and what was seen. ``absent = true`` turns one around: it must not happen
for the whole ``within``.

Each looks where the partner would: onboard360's API for what the product received and
what onboard360 knows, the sandbox's control API for what 360dialog did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field

from onboard360.runtime.clock import parse_duration
from onboard360.sandbox.scenario.base import Duration, Failed, OutputType, Step
from onboard360.sandbox.scenario.context import Context, wait_for

Check = Callable[[], tuple[bool, str]]


def matches(view: dict[str, Any], has: dict[str, Any]) -> bool:
    return all(view.get(key) == value for key, value in has.items())


def shown(view: dict[str, Any], has: dict[str, Any]) -> str:
    return ", ".join(f"{key}={view.get(key)!r}" for key in has) or "(nothing to compare)"


class Expectation(Step):
    """Shared by every expect_* step: how long to wait, and which way round."""

    within: Duration = "10s"
    absent: bool = False

    def expected(self) -> str:
        raise NotImplementedError

    def check(self, ctx: Context) -> Check:
        raise NotImplementedError

    def run(self, ctx: Context) -> dict[str, Any]:
        self.wait(self.check(ctx))
        return {}

    def wait(self, check: Check) -> None:
        held, seen = wait_for(check, parse_duration(self.within), absent=self.absent)
        if not held:
            verb = "expected no" if self.absent else "expected"
            raise Failed(f"{verb} {self.expected()} within {self.within}; saw {seen}")


class ExpectEvent(Expectation):
    """The product received an event from onboard360 (``delivered``: accepted by it)."""

    kind: ClassVar[str] = "expect_event"
    needs_service: ClassVar[bool] = True
    outputs: ClassVar[dict[str, OutputType]] = {"id": "str"}

    event: str = Field(min_length=1, max_length=100, description="e.g. channel.activated")
    channel: str | None = None
    client: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    delivered: bool = True
    # Exactly this many such events (e.g. 1: once, not again after a second sweep).
    count: int | None = Field(None, ge=1, le=200)

    def expected(self) -> str:
        about = f" for {self.channel}" if self.channel else ""
        about += f" of client {self.client}" if self.client else ""
        extra = f" with {self.data}" if self.data else ""
        times = "" if self.count is None else f" exactly {self.count} time(s)"
        return f"the product to receive {self.event}{about}{extra}{times}"

    def run(self, ctx: Context) -> dict[str, Any]:
        hits: list[dict[str, Any]] = []
        self.wait(self.look_for(ctx, hits))
        return {"id": hits[0]["id"] if hits else ""}

    def look_for(self, ctx: Context, hits: list[dict[str, Any]]) -> Check:
        service = ctx.require_service("expect_event")

        def look() -> tuple[bool, str]:
            events = service.events(channel_id=self.channel)
            if self.client:
                events = [e for e in events if e.get("client_id") == self.client]
            hits[:] = [
                e
                for e in events
                if e["type"] == self.event
                and matches(e["data"], self.data)
                and (e["delivered"] or not self.delivered)
            ]
            met = bool(hits) if self.count is None else len(hits) == self.count
            return met, f"{len(hits)} such; events: " + (
                ", ".join(self.seen(e) for e in reversed(events)) or "none"
            )

        return look

    def seen(self, event: dict[str, Any]) -> str:
        """One event as the failure shows it: with the compared values when it is of the
        type expected."""
        text = event["type"]
        if event["type"] == self.event and self.data:
            text += f" ({shown(event['data'], self.data)})"
        return text + ("" if event["delivered"] else " (not delivered)")


class HasValues(Expectation):
    """Shared by the expectations that read one object and compare some of its values."""

    def subject(self) -> str:
        raise NotImplementedError

    def wanted(self) -> dict[str, Any]:
        raise NotImplementedError

    def reader(self, ctx: Context) -> Callable[[], dict[str, Any]]:
        raise NotImplementedError

    def expected(self) -> str:
        return f"{self.subject()} to have {self.wanted()}"

    def check(self, ctx: Context) -> Check:
        read, wanted = self.reader(ctx), self.wanted()

        def look() -> tuple[bool, str]:
            try:
                view = read()
            except Failed as exc:  # not there (yet): keep looking until `within`
                return False, str(exc)
            return matches(view, wanted), shown(view, wanted)

        return look


class ExpectChannel(HasValues):
    """onboard360's view of a channel (GET /api/v1/channels/{id}) has these values."""

    kind: ClassVar[str] = "expect_channel"
    needs_service: ClassVar[bool] = True

    channel: str
    has: dict[str, Any] = Field(min_length=1)

    def subject(self) -> str:
        return f"onboard360's channel {self.channel}"

    def wanted(self) -> dict[str, Any]:
        return self.has

    def reader(self, ctx: Context) -> Callable[[], dict[str, Any]]:
        service = ctx.require_service("expect_channel")
        return lambda: service.request("GET", f"/channels/{self.channel}")


class ExpectOnboarding(HasValues):
    """An onboarding reached a stage (``live``, ``action_needed``, …) and/or has values;
    ``abandoned``: it is marked abandoned (or not); ``has`` may name ``abandoned_step``,
    ``abandoned_reason``, ``journey_id``, ``resumed_from``."""

    kind: ClassVar[str] = "expect_onboarding"
    needs_service: ClassVar[bool] = True

    onboarding: str
    stage: str | None = None
    abandoned: bool | None = None
    has: dict[str, Any] = Field(default_factory=dict)

    def subject(self) -> str:
        return f"onboarding {self.onboarding}"

    def wanted(self) -> dict[str, Any]:
        marked = {} if self.abandoned is None else {"abandoned": self.abandoned}
        return {**({"stage": self.stage} if self.stage else {}), **marked, **self.has}

    def reader(self, ctx: Context) -> Callable[[], dict[str, Any]]:
        service = ctx.require_service("expect_onboarding")

        def read() -> dict[str, Any]:
            view: dict[str, Any] = service.request("GET", f"/onboardings/{self.onboarding}")
            return {**view, "abandoned": view.get("abandoned_at") is not None}

        return read


class ExpectSandbox(HasValues):
    """360dialog's view of a channel (the sandbox's): ``status``, ``keys_generated``,
    ``shared``, …"""

    kind: ClassVar[str] = "expect_sandbox"

    channel: str
    has: dict[str, Any] = Field(min_length=1)

    def subject(self) -> str:
        return f"the sandbox's channel {self.channel}"

    def wanted(self) -> dict[str, Any]:
        return self.has

    def reader(self, ctx: Context) -> Callable[[], dict[str, Any]]:
        return lambda: ctx.control(lambda c: c.channel(self.channel))


class ExpectWebhook(Expectation):
    """The sandbox sent a partner webhook (``outcome``: delivered, dropped, failed, …)."""

    kind: ClassVar[str] = "expect_webhook"

    event: str
    channel: str | None = None
    outcome: str = "delivered"

    def expected(self) -> str:
        about = f" about {self.channel}" if self.channel else ""
        return f"the sandbox's {self.event} webhook{about} to be {self.outcome}"

    def check(self, ctx: Context) -> Check:
        def look() -> tuple[bool, str]:
            log = ctx.control(lambda c: c.deliveries(event=self.event, limit=1000))["deliveries"]
            mine = [d for d in log if self.channel in (None, d["subject_id"])]
            outcomes = [d["outcome"] for d in mine]
            return self.outcome in outcomes, f"outcomes: {', '.join(outcomes) or 'none'}"

        return look
