"""What the service is told about each Partner Hub and each partner product.

Hubs and products live in the TOML settings file (``[[hubs]]``, ``[[products]]``) or in
``ONBOARD360_HUBS`` / ``ONBOARD360_PRODUCTS`` as JSON. Secrets are ``SecretStr``: they
never show in a repr, a log line or a validation error.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from onboard360.hub.client import MESSAGING_API_URL, PARTNER_API_URL

SLUG = r"^[a-z0-9][a-z0-9-]{0,39}$"
MIN_SECRET_LENGTH = 24
# unverified: the production popup's origin (the official button's default env).
HUB_URL = "https://hub.360dialog.com"
# An origin for CSP: scheme://host[:port], the host's first label may be "*".
_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?$")


def _strong(value: SecretStr | None, what: str) -> SecretStr | None:
    if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
        raise ValueError(f"{what} must be at least {MIN_SECRET_LENGTH} characters")
    return value


def _absolute_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an absolute http(s) URL")
    return value.rstrip("/") if value else value


class HubConfig(BaseModel):
    """One Partner Hub: its id, billing model, credentials and where its channels go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=SLUG, description="short name used in URLs: /connect/{name}")
    partner_id: str = Field(pattern=r"^[A-Za-z0-9]{2,32}PA$")
    billing: Literal["partner", "direct"] = "partner"
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    platform_secret: SecretStr | None = Field(
        None, description="signs the popup (IO Signature) and 360dialog's webhooks"
    )
    io_signature: bool = False
    webhook_secret: SecretStr = Field(description="the unguessable part of the webhook URL")
    webhook_header: str | None = Field(
        None, description="custom header 360dialog sends with each webhook (e.g. Authorization)"
    )
    webhook_header_value: SecretStr | None = None
    product: str = Field("default", pattern=SLUG)
    hub_url: str = HUB_URL
    partner_api_url: str = PARTNER_API_URL
    messaging_api_url: str = MESSAGING_API_URL

    _urls = field_validator("hub_url", "partner_api_url", "messaging_api_url")(_absolute_url)

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr) -> SecretStr:
        if not re.match(r"^[A-Za-z0-9_-]+$", value.get_secret_value()):
            raise ValueError("webhook_secret may hold only letters, digits, '_' and '-'")
        return _strong(value, "webhook_secret") or value

    @field_validator("platform_secret", "webhook_header_value")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return _strong(value, "this secret")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.api_key is None and (self.username is None or self.password is None):
            raise ValueError(f"hub {self.name}: set api_key, or username and password")
        if self.io_signature and self.platform_secret is None:
            raise ValueError(f"hub {self.name}: io_signature needs a platform_secret")
        if (self.webhook_header is None) != (self.webhook_header_value is None):
            raise ValueError(f"hub {self.name}: set webhook_header and webhook_header_value")
        return self


def partner_webhook_url(public_url: str, hub: HubConfig) -> str:
    """Where 360dialog must send the hub's partner webhooks (it holds the path secret)."""
    return f"{public_url}/hooks/360dialog/{hub.name}/{hub.webhook_secret.get_secret_value()}"


def redirect_url(public_url: str, hub: HubConfig) -> str:
    """The hub's Redirect URL: the hosted connect page, which hosts the button."""
    return f"{public_url}/connect/{hub.name}"


class ProductConfig(BaseModel):
    """The partner's product: where lifecycle events go and who may use the REST API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("default", pattern=SLUG)
    webhook_url: str | None = None
    # Standard Webhooks secrets (whsec_...); all sign, so a rotation can overlap.
    webhook_secrets: list[SecretStr] = Field(default_factory=list, max_length=5)
    api_tokens: list[SecretStr] = Field(default_factory=list, max_length=10)
    # Point each activated channel's messaging webhook here (POST /v1/configs/webhook).
    messaging_webhook_url: str | None = None
    # Origins whose pages may show our connect pages in a frame (CSP frame-ancestors);
    # none by default: the pages are opened, not embedded, unless the partner says so.
    frame_ancestors: list[str] = Field(default_factory=list, max_length=20)
    # How long one delivery may take, connect to answer (the spec suggests 15 to 30 s).
    webhook_timeout_seconds: float = Field(15.0, gt=0, le=60)
    embed_origins: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="origins (scheme://host[:port]) of your own pages that embed "
        "connect.js: their progress polls may read the answer (CORS)",
    )

    _urls = field_validator("webhook_url", "messaging_webhook_url")(_absolute_url)

    @field_validator("embed_origins", "frame_ancestors")
    @classmethod
    def _origins(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # CORS compares an embedding page's origin exactly: no wildcard there. CSP's
        # frame-ancestors takes one in the host's first label.
        wildcard = info.field_name == "frame_ancestors"
        for origin in value:
            if not _ORIGIN.fullmatch(origin) or ("*" in origin and not wildcard):
                like = "https://app.example.com" + (
                    " (or https://*.example.com)" if wildcard else ""
                )
                raise ValueError(
                    f"{info.field_name} entries must be origins (scheme://host[:port]) like "
                    f"{like}, not {origin[:80]!r}"
                )
        return value

    @field_validator("api_tokens")
    @classmethod
    def _strong_tokens(cls, value: list[SecretStr]) -> list[SecretStr]:
        for token in value:
            _strong(token, "api_tokens entries")
        return value

    @model_validator(mode="after")
    def _signed(self) -> Self:
        if self.webhook_url and not self.webhook_secrets:
            raise ValueError(f"product {self.name}: webhook_url needs webhook_secrets")
        return self
