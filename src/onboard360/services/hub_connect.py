"""`onboard360 hubs connect`: point a Partner Hub's two URLs at this service.

360dialog sends a hub's partner webhooks to its Partner Webhook URL and the popup back to
its Redirect URL; both are set with ``PATCH /partners/{pid}`` (the partner object comes
back) and read with ``GET /partners/{pid}``. ``plan`` reads what is there now and what
must change; the caller decides whether a value that differs may be overwritten; ``apply``
sends only the changes and checks that 360dialog now holds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from onboard360.config.hubs import HubConfig, partner_webhook_url, redirect_url
from onboard360.config.settings import Settings
from onboard360.hub import HubBadRequest, PartnerAPI
from onboard360.runtime.redaction import scrub


@dataclass(frozen=True)
class Change:
    """One of the hub's URLs at 360dialog: what it is, and what it must be."""

    what: str
    field: str  # the partner object's field name
    current: str | None
    wanted: str

    @property
    def needed(self) -> bool:
        return self.current != self.wanted

    @property
    def overwrites(self) -> bool:
        """It replaces a value someone set (another deployment, a person in the hub)."""
        return self.needed and bool(self.current)

    def describe(self) -> str:
        """One line for a terminal, never the webhook URL's secret."""
        if not self.needed:
            return f"{self.what}: {scrub(self.wanted)} (unchanged)"
        current = scrub(self.current) if self.current else "(not set)"
        note = " (another secret)" if current == scrub(self.wanted) else ""
        return f"{self.what}: {current}{note} → {scrub(self.wanted)}"


def wanted_urls(settings: Settings, hub: HubConfig) -> dict[str, tuple[str, str]]:
    """The partner object's fields this service needs: field → (name, value)."""
    return {
        "webhook_url": ("Partner Webhook URL", partner_webhook_url(settings.public_url, hub)),
        "partner_redirect_url": ("Redirect URL", redirect_url(settings.public_url, hub)),
    }


async def plan(settings: Settings, hub: HubConfig, api: PartnerAPI) -> list[Change]:
    """What 360dialog holds now against what this service needs (raises HubError)."""
    partner = await api.get_partner()
    changes = []
    for field, (what, wanted) in wanted_urls(settings, hub).items():
        current = partner.get(field)
        changes.append(Change(what, field, current if isinstance(current, str) else None, wanted))
    return changes


async def apply(api: PartnerAPI, changes: list[Change]) -> list[Change]:
    """Send the needed changes; the ones made. HubError if 360dialog refused or did not
    take them (then nothing may be assumed set: run plan again)."""
    needed = {c.field: c for c in changes if c.needed}
    if not needed:
        return []
    answer = await api.update_partner(
        webhook_url=needed["webhook_url"].wanted if "webhook_url" in needed else None,
        redirect_url=(
            needed["partner_redirect_url"].wanted if "partner_redirect_url" in needed else None
        ),
    )
    kept = [c.what for c in needed.values() if answer.get(c.field) != c.wanted]
    if kept:
        raise HubBadRequest(
            f"PATCH /partners/{api.partner_id} answered without the new {', '.join(kept)}"
        )
    return list(needed.values())
