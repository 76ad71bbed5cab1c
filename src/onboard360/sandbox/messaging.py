"""The Messaging API (``/v1``), as far as onboarding needs it: the channel's inbound webhook.

Authenticated by the channel's current key in ``D360-API-KEY``; a revoked key finds nothing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from onboard360.sandbox.auth import KeyChannel
from onboard360.sandbox.faults import ApiRoute
from onboard360.sandbox.models import check_http_url, check_webhook_headers

router = APIRouter(route_class=ApiRoute, tags=["Messaging API"])


class WebhookConfig(BaseModel):
    """Where the channel's inbound messages go, and headers sent with every delivery."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(..., min_length=1, max_length=2048)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        return check_webhook_headers(value)


def webhook_answer(config: dict[str, Any] | None) -> dict[str, Any]:
    # The URL only, never the headers (platform.py).
    return {"url": config["url"] if config else None}


@router.get("/configs/webhook")
async def read_webhook(channel: KeyChannel) -> dict[str, Any]:
    """The channel's inbound webhook URL (null when none is set)."""
    return webhook_answer(channel.messaging_webhook)


@router.post("/configs/webhook")
async def set_webhook(channel: KeyChannel, body: WebhookConfig) -> dict[str, Any]:
    """Point the channel's inbound webhook at ``url``, replacing any earlier one."""
    channel.messaging_webhook = body.model_dump()
    return webhook_answer(channel.messaging_webhook)
