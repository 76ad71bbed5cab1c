"""The person's side: an onboarding started by the partner's product in onboard360, and the
360dialog popup it opens, walked to its redirect back to onboard360.

A later visit of the same client (log in, grant permission now, add a number, untick one)
is the same step again with the same ``user`` and ``email``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field

from onboard360.sandbox.scenario.base import Failed, OutputType, Step
from onboard360.sandbox.scenario.browser import Choices, PopupWalk
from onboard360.sandbox.scenario.context import Context


def digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def start(ctx: Context, kind: str, hub: str, user: str) -> dict[str, Any]:
    """The product's POST /api/v1/onboardings; onboard360's answer."""
    service = ctx.require_service(kind)
    created: dict[str, Any] = service.request(
        "POST", "/onboardings", json={"hub": hub, "external_user_id": user}
    )
    return created


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

    def run(self, ctx: Context) -> dict[str, Any]:
        created = start(ctx, "start_onboarding", self.hub, self.user)
        opening = ctx.require_service("start_onboarding").request(
            "POST", f"/onboardings/{created['id']}/popup-parameters"
        )
        return {
            "onboarding": created["id"],
            "expires_at": created["expires_at"],
            "partner_id": opening["partner_id"],
        }


class Popup(Step):
    """Start an onboarding for ``user`` on onboard360's hub ``hub``, open its popup, sign up
    (or log in), pay and choose API-key permission under Direct Payment, add ``numbers``,
    share every number offered but those in ``untick``, and land back on onboard360."""

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

    hub: str = Field(description="the hub's name in onboard360's settings")
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

    def run(self, ctx: Context) -> dict[str, Any]:
        email = self.email or f"scenario-{ctx.run_id}-{self.user}@example.com"
        created = start(ctx, "popup", self.hub, self.user)
        opener = ctx.browser.get(created["popup_url"])
        if opener.status_code != 303:
            raise Failed(f"onboard360's popup link answered {opener.status_code}, not a redirect")
        walk = PopupWalk(
            ctx.browser,
            opener.headers["location"],
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
        parts = [f"popup hub={self.hub} user={self.user}"]
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
