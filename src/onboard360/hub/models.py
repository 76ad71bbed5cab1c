"""Typed views of what the Partner API answers; unknown fields are kept in ``raw``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

T = TypeVar("T")


class _Tolerant(BaseModel):
    # 360dialog adds fields over time; ignore what we don't model, keep the raw body.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ClientInfo(_Tolerant):
    id: str
    name: str | None = None
    status: str | None = None
    created_at: datetime | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class ChannelInfo(_Tolerant):
    id: str
    client_id: str
    status: str
    account_mode: str | None = None
    created_at: datetime | None = None
    billing_started_at: datetime | None = None
    terminated_at: datetime | None = None
    phone_number: str | None = None
    phone_name: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ChannelInfo:
        setup = data.get("setup_info") or {}
        client = data.get("client") or {}
        return cls.model_validate(
            {
                **data,
                "client_id": data.get("client_id") or client.get("id"),
                "phone_number": setup.get("phone_number") or data.get("phone_number"),
                "phone_name": setup.get("phone_name") or data.get("phone_name"),
                "raw": data,
            }
        )


class GeneratedKey(_Tolerant):
    """A freshly generated channel key: shown once by 360dialog, never logged by us."""

    id: str | None = None
    api_key: SecretStr
    address: str | None = None
    app_id: str | None = None


class Page(_Tolerant, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int
