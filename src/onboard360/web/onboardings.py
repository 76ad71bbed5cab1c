"""Onboarding attempts: created for the product, opened as the popup, found for a redirect.

What a redirect then does is services/redirects.py.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.onboardings import onboarding_by_state
from onboard360.domain import attempts
from onboard360.hub.signatures import io_signature
from onboard360.runtime import clock
from onboard360.services.onboardings import Prefill, state_digest
from onboard360.services.refusals import OnboardingRefused
from onboard360.wiring.service import Service

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection

# web/attempts.py and the pages take these from here.
__all__ = ["OnboardingRefused", "Prefill", "state_digest"]


def connect_url(service: Service, hub: HubConfig, state: str) -> str:
    return f"{service.settings.public_url}/connect/{hub.name}?{urlencode({'start': state})}"


def direct_link(service: Service, hub: HubConfig) -> str:
    """The hub's shareable link: our URL that opens 360dialog's popup for the partner with
    no attempt behind it (signed at click time when IO Signature is on). Its redirect is
    verified and recorded as an unclaimed client (services/redirects.py)."""
    return f"{service.settings.public_url}/connect/{hub.name}/direct"


def opener_url(service: Service, hub: HubConfig, state: str) -> str:
    """Our URL that sends the browser on to the 360dialog popup, signed at click time."""
    return f"{service.settings.public_url}/connect/{hub.name}/popup?{urlencode({'start': state})}"


def popup_parameters(
    hub: HubConfig, state: str | None, prefill: dict[str, Any], now: int | None = None
) -> dict[str, str]:
    """The popup's query parameters for one opening: ``state`` (none: the hub's direct
    link), the prefill, and a fresh IO Signature when the hub wants one.

    Never cached: the IO Signature must be made for each opening (doc).
    """
    params: dict[str, str] = {"state": state} if state else {}
    params.update({k: str(v) for k, v in prefill.items() if k in ("number", "email", "name")})
    if prefill.get("login") is True:
        params["next"] = "login"
    if hub.io_signature and hub.platform_secret is not None:
        moment = int(time.time()) if now is None else now
        params["io_signature"] = io_signature(
            hub.platform_secret.get_secret_value(), hub.partner_id, moment
        )
        params["io_timestamp"] = str(moment)
    return params


def popup_url(hub: HubConfig, params: dict[str, str]) -> str:
    """The 360dialog popup URL with ``params`` (popup_parameters)."""
    return f"{hub.hub_url}/dashboard/app/{hub.partner_id}?{urlencode(params)}"


async def find(
    conn: AsyncConnection, hub: HubConfig, state: str | None, *, lock: bool = False
) -> Row[Any]:
    """The live attempt this state belongs to, or OnboardingRefused saying why not."""
    if not state:
        raise OnboardingRefused(
            "This link has no onboarding state: start again from the partner's page.", status=400
        )
    row = await onboarding_by_state(conn, hub.name, state_digest(state), lock=lock)
    if row is None:
        raise OnboardingRefused(
            "This onboarding is unknown here: start again from the partner's page.", status=400
        )
    return live(row)


def live(row: Row[Any]) -> Row[Any]:
    """``row``, unless it expired before its redirect came back (then OnboardingRefused)."""
    if attempts.is_expired(row, clock.now()):
        raise OnboardingRefused(
            "This onboarding has expired: start again from the partner's page.", status=410
        )
    return row
