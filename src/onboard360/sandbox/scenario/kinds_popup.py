"""The person's side: an onboarding started by the partner's product in onboard360, and the
360dialog popup it opens, walked to its redirect back to onboard360.

A later visit of the same client (log in, grant permission now, add a number, untick one)
is the same step again with the same ``user`` and ``email``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, model_validator

from onboard360.sandbox.scenario.base import Failed, OutputType, Step
from onboard360.sandbox.scenario.browser import Choices, PopupWalk
from onboard360.sandbox.scenario.context import Context


def digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def start(
    ctx: Context, kind: str, hub: str, user: str, prefill: dict[str, str] | None = None
) -> dict[str, Any]:
    """The product's POST /api/v1/onboardings; onboard360's answer (its link remembered)."""
    service = ctx.require_service(kind)
    created: dict[str, Any] = service.request(
        "POST", "/onboardings", json={"hub": hub, "external_user_id": user, **(prefill or {})}
    )
    ctx.links[created["id"]] = created["popup_url"]
    return created


def partner_id_of(ctx: Context, kind: str, onboarding: str) -> str:
    """The hub's partner id at 360dialog, as the official button's parameters give it."""
    opening = ctx.require_service(kind).request(
        "POST", f"/onboardings/{onboarding}/popup-parameters"
    )
    return str(opening["partner_id"])


class StartOnboarding(Step):
    """The partner's product starts an onboarding for ``user`` and nobody opens it (yet).
    ``partner_id`` is the hub's at 360dialog, for the steps that change the hub first."""

    kind: ClassVar[str] = "start_onboarding"
    needs_service: ClassVar[bool] = True
    outputs: ClassVar[dict[str, OutputType]] = {
        "onboarding": "str",
        "expires_at": "str",
        "partner_id": "str",
    }

    hub: str = Field(description="the hub's name in onboard360's settings")
    user: str = "scenario-user"
    # The prefill the popup opens with (POST /onboardings' number, email, name).
    number: str | None = None
    email: str | None = None
    name: str | None = None

    def run(self, ctx: Context) -> dict[str, Any]:
        prefill = {"number": self.number, "email": self.email, "name": self.name}
        given = {key: value for key, value in prefill.items() if value is not None}
        created = start(ctx, "start_onboarding", self.hub, self.user, given)
        return {
            "onboarding": created["id"],
            "expires_at": created["expires_at"],
            "partner_id": partner_id_of(ctx, "start_onboarding", created["id"]),
        }


class Resume(Step):
    """The partner's product resumes an abandoned (or expired) onboarding: POST
    /api/v1/onboardings/{id}/resume, a fresh attempt for the same user with the same
    prefill, in the same journey. Nobody opens it yet: a later ``popup`` with ``onboarding
    = "$name.onboarding"`` does."""

    kind: ClassVar[str] = "resume"
    needs_service: ClassVar[bool] = True
    outputs: ClassVar[dict[str, OutputType]] = {
        "onboarding": "str",  # the new attempt
        "journey_id": "str",
        "resumed_from": "str",
        "expires_at": "str",
        "popup_url": "str",
        "connect_url": "str",
        "partner_id": "str",
    }

    onboarding: str = Field(description="the abandoned attempt's id")

    def run(self, ctx: Context) -> dict[str, Any]:
        service = ctx.require_service("resume")
        resumed = service.request("POST", f"/onboardings/{self.onboarding}/resume", json={})
        ctx.links[resumed["id"]] = resumed["popup_url"]
        return {
            "onboarding": resumed["id"],
            "journey_id": resumed["journey_id"],
            "resumed_from": resumed["resumed_from"],
            "expires_at": resumed["expires_at"],
            "popup_url": resumed["popup_url"],
            "connect_url": resumed["connect_url"],
            "partner_id": partner_id_of(ctx, "resume", resumed["id"]),
        }


class Popup(Step):
    """Start an onboarding for ``user`` on onboard360's hub ``hub`` — or take the one an
    earlier step started or resumed (``onboarding``) — open its popup, sign up (or log in),
    pay and choose API-key permission under Direct Payment, add ``numbers``, share every
    number offered but those in ``untick``, and land back on onboard360."""

    kind: ClassVar[str] = "popup"
    needs_service: ClassVar[bool] = True
    outputs: ClassVar[dict[str, OutputType]] = {
        "onboarding": "str",
        "client": "str",
        "email": "str",
        "partner_id": "str",
        "channel": "str",  # the first new number's channel
        "new": "list",  # the channels of `numbers`, in their order
        "channels": "list",  # every channel the redirect lists as shared
        "revoked": "list",  # what the redirect lists as revoked
    }

    hub: str | None = Field(None, description="the hub's name in onboard360's settings")
    # Instead of `hub`: open this onboarding's link (started by `start_onboarding` or
    # `resume` earlier in the run); its prefilled email is the one signed up with.
    onboarding: str | None = None
    user: str = "scenario-user"
    name: str = "Scenario GmbH"
    email: str | None = None
    login: bool | None = None
    permission: Literal["grant", "deny"] | None = None
    numbers: list[str] = Field(default_factory=list, max_length=10)
    untick: list[str] = Field(default_factory=list)
    # The person gives up on this page (closes the window, or with `cancel` the popup's
    # Cancel button): no redirect comes back.
    leave_at: Literal["account", "payment", "api-key", "numbers", "share"] | None = None
    cancel: bool = False

    @model_validator(mode="after")
    def _one_attempt(self) -> Popup:
        if (self.hub is None) == (self.onboarding is None):
            raise ValueError("give either hub (a new onboarding) or onboarding (an earlier one)")
        return self

    def attempt(self, ctx: Context) -> dict[str, Any]:
        """The onboarding whose popup the person opens: a new one, or an earlier one's."""
        if self.hub is not None:
            return start(ctx, "popup", self.hub, self.user)
        assert self.onboarding is not None
        link = ctx.links.get(self.onboarding)
        if link is None:
            raise Failed(
                f"onboarding {self.onboarding} was not started or resumed by an earlier step "
                "of this run: its popup link is not known"
            )
        return {"id": self.onboarding, "popup_url": link}

    def run(self, ctx: Context) -> dict[str, Any]:
        created = self.attempt(ctx)
        opener = ctx.browser.get(created["popup_url"])
        if opener.status_code != 303:
            raise Failed(f"onboard360's popup link answered {opener.status_code}, not a redirect")
        location = opener.headers["location"]
        # An earlier attempt's link: the person keeps the email the popup was prefilled with.
        prefilled = parse_qs(urlsplit(location).query).get("email") if self.onboarding else None
        email = self.email or (prefilled or [f"scenario-{ctx.run_id}-{self.user}@example.com"])[0]
        walk = PopupWalk(
            ctx.browser,
            location,
            Choices(
                self.name,
                email,
                self.login,
                self.permission,
                self.numbers,
                self.untick,
                self.leave_at,
                self.cancel,
            ),
        )
        redirect = walk.run()
        left = {"client": "", "channel": "", "new": [], "channels": [], "revoked": []}
        if redirect is None:
            return {
                "onboarding": created["id"],
                "email": email,
                "partner_id": walk.partner_id,
                **left,
            }
        back = ctx.browser.get(redirect.url)
        if back.status_code != 200:
            raise Failed(f"onboard360's connect page answered the redirect with {back.status_code}")
        new = self.new_channels(ctx, redirect.client)
        return {
            "onboarding": created["id"],
            "client": redirect.client,
            "email": email,
            "partner_id": walk.partner_id,
            "channel": new[0] if new else (redirect.channels or [""])[0],
            "new": new,
            "channels": redirect.channels,
            "revoked": redirect.revoked,
        }

    def new_channels(self, ctx: Context, client_id: str) -> list[str]:
        """The channel ids of ``numbers``, as the sandbox created them."""
        if not self.numbers:
            return []
        ids = ctx.control(lambda c: c.client(client_id))["channel_ids"]
        by_number = {}
        for channel_id in ids:
            channel = ctx.control(lambda c, i=channel_id: c.channel(i))
            by_number[digits(channel["setup_info"]["phone_number"])] = channel_id
        missing = [n for n in self.numbers if digits(n) not in by_number]
        if missing:
            raise Failed(f"the sandbox has no channel for {', '.join(missing)} after the popup")
        return [by_number[digits(n)] for n in self.numbers]

    def describe(self) -> str:
        opens = f"hub={self.hub}" if self.hub else f"onboarding={self.onboarding}"
        parts = [f"popup {opens} user={self.user}"]
        if self.login:
            parts.append("login")
        if self.permission:
            parts.append(f"permission={self.permission}")
        if self.numbers:
            parts.append(f"numbers={','.join(self.numbers)}")
        if self.untick:
            parts.append(f"untick={','.join(self.untick)}")
        if self.leave_at:
            parts.append(f"{'cancels' if self.cancel else 'leaves'} at {self.leave_at}")
        return " ".join(parts)
