"""What a sandbox hub is made of: its configuration and its fault switches."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

PARTNER_ID_RE = re.compile(r"^[A-Za-z0-9]{2,32}PA$")


class Faults(BaseModel):
    """Misbehaviour switched on per hub, at start or at run time."""

    model_config = ConfigDict(extra="forbid")

    webhook_duplicate_rate: float = Field(0.0, ge=0, le=1, description="share sent twice")
    webhook_drop_rate: float = Field(0.0, ge=0, le=1, description="share never sent")
    webhook_reorder: bool = Field(False, description="hold events briefly and send them shuffled")
    webhook_delay_seconds: float = Field(0.0, ge=0, le=3600, description="extra delay per event")
    api_429_rate: float = Field(0.0, ge=0, le=1, description="share of API calls answered 429")
    api_retry_after_seconds: int = Field(1, ge=0, le=3600)
    api_5xx_rate: float = Field(0.0, ge=0, le=1, description="share of API calls answered 5xx")
    api_latency_seconds: float = Field(0.0, ge=0, le=60, description="added to every API answer")
    outage: bool = Field(False, description="every API call and the popup answer 503")


class HubSpec(BaseModel):
    """A Partner Hub as the config file or the control API describes it.

    Ids and credentials left out are generated and returned by the control API.
    """

    model_config = ConfigDict(extra="forbid")

    partner_id: str | None = None
    name: str = Field("Sandbox partner", min_length=1, max_length=200)
    billing: Literal["partner", "direct"] = "partner"
    redirect_url: str = Field(..., min_length=1, max_length=2048)
    webhook_url: str | None = Field(None, max_length=2048)
    webhook_headers: dict[str, str] = Field(default_factory=dict)
    api_key: str | None = Field(None, min_length=16, max_length=200)
    username: str | None = Field(None, min_length=1, max_length=200)
    password: str | None = Field(None, min_length=8, max_length=200)
    platform_secret: str | None = Field(None, min_length=16, max_length=200)
    io_signature: bool = Field(False, description="require a valid IO Signature on the popup")
    step_delay_seconds: float = Field(
        0.0, ge=0, le=3600, description="pause between lifecycle steps after signup"
    )
    auto_advance: bool = Field(True, description="move new channels to running by themselves")
    echo_state: bool = Field(
        True, description="send the popup's state back on the redirect (unverified for 360dialog)"
    )
    opener_policy: Literal["same-origin", "same-origin-allow-popups"] | None = Field(
        None,
        description="Cross-Origin-Opener-Policy of the popup's pages (unverified for 360dialog;"
        " same-origin cuts the partner's page off from the popup)",
    )
    faults: Faults = Field(default_factory=Faults)

    @field_validator("partner_id")
    @classmethod
    def _partner_id_shape(cls, value: str | None) -> str | None:
        if value is not None and not PARTNER_ID_RE.match(value):
            raise ValueError("partner_id must be 2-32 letters or digits followed by 'PA'")
        return value

    @field_validator("redirect_url", "webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("webhook_headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        return check_webhook_headers(value)


def check_http_url(value: str) -> str:
    """An absolute http(s) URL, as webhook and redirect URLs must be (pydantic validator body).

    Refused here rather than failing later, when the sandbox sends a webhook to it.
    """
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("must be an absolute http(s) URL")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError("must not contain control characters")
    try:
        urlsplit(value).port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("has an invalid port; use a number from 1 to 65535") from None
    return value


def check_webhook_headers(value: dict[str, str]) -> dict[str, str]:
    """Custom headers sent with every webhook: few, well-formed, no line breaks."""
    if len(value) > 20:
        raise ValueError("at most 20 custom headers")
    for name, header_value in value.items():
        if not re.match(r"^[A-Za-z0-9-]{1,100}$", name) or len(header_value) > 1000:
            raise ValueError("header names are letters, digits and '-'; values ≤ 1000 chars")
        if "\r" in header_value or "\n" in header_value:
            raise ValueError("header values must not contain line breaks")
    return value


def describe_errors(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> str:
    """Pydantic's errors as one line, ``where: what``; never the input itself."""
    return "; ".join(
        f"{prefix}{'.'.join(str(part) for part in err['loc'])}: {err['msg']}" for err in errors
    )
