"""Adopting a hub that already has clients: the dry run, importing keys, taking over.

Thin: services/adoption.py does the work. Keys travel only in request bodies (never a
URL, never a log line); a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from onboard360.hub import HubError
from onboard360.services import adoption
from onboard360.services.source import API
from onboard360.web.api.common import (
    CONFLICT,
    ERRORS,
    NO_STORE,
    PRINTABLE,
    _error,
    product_hub,
)
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.errors import ApiError

router = APIRouter(prefix="/api/v1/hubs", tags=["adoption"], responses=ERRORS)

HUB_DOWN = {502: _error("360dialog could not be reached or refused the hub (hub_error)")}
HubPath = Annotated[str, Path(min_length=1, max_length=40, pattern=PRINTABLE)]
ChannelIdField = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
T = TypeVar("T")


class AdoptionChannel(BaseModel):
    client_id: str
    client_name: str | None
    channel_id: str
    phone_number: str | None
    status: str = Field(description="as 360dialog lists it")
    live: bool = Field(description="running: a take-over revokes the key it uses now")
    entitlement: str | None
    api_key_stored: bool
    outcome: Literal["entitled", "left", "terminated"]
    choices: list[Literal["import", "take_over"]]
    says: str


class AdoptionSurvey(BaseModel):
    hub: str
    counts: dict[str, int] = Field(
        description="clients, channels, live, entitled, left, left_live, terminated"
    )
    channels: list[AdoptionChannel]


class HeldKeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_id: ChannelIdField
    api_key: SecretStr = Field(min_length=1, max_length=512)


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[HeldKeyBody] = Field(min_length=1, max_length=adoption.MAX_BATCH)


class ImportedKey(BaseModel):
    channel_id: str
    key_version: int


class Imported(BaseModel):
    imported: list[ImportedKey]


class TakeOverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_ids: list[ChannelIdField] | None = Field(
        default=None, min_length=1, max_length=adoption.MAX_BATCH
    )
    all_left: bool = Field(default=False, description="every channel left unkeyed")
    live_channels: int = Field(
        ge=0,
        le=10**6,
        description="the confirmation: how many live channels lose their current key "
        "(the dry run's live count of these channels); any other number changes nothing",
    )

    @model_validator(mode="after")
    def _one_selection(self) -> TakeOverRequest:
        if (self.channel_ids is None) == (not self.all_left):
            raise ValueError("give channel_ids or all_left: true, not both")
        return self


class TakenOver(BaseModel):
    channel_ids: list[str]
    live: int
    keys_requested: int = Field(description="a worker generates them")


@router.get("/{hub}/adoption", response_model=AdoptionSurvey, responses=HUB_DOWN)
async def survey(hub: HubPath, product: ProductDep, service: ServiceDep) -> dict[str, Any]:
    """The dry run: the hub's clients and channels as 360dialog lists them, and what
    importing or taking over would do with each. Changes nothing."""
    found = await _refusals(adoption.survey(service, product_hub(service, product, hub)))
    channels = [{**vars(c), "choices": list(c.choices), "says": c.says} for c in found.channels]
    return {"hub": found.hub, "counts": found.counts(), "channels": channels}


@router.post(
    "/{hub}/adoption/import",
    response_model=Imported,
    responses={**CONFLICT, **HUB_DOWN},
)
async def import_keys(
    hub: HubPath, body: ImportRequest, product: ProductDep, service: ServiceDep, response: Response
) -> dict[str, Any]:
    """Store the keys the partner's current system holds, each checked first with one
    read-only Messaging API call; no key is generated, the messaging webhook is left
    where it points. All or nothing: one refused key (409 ``key_refused``) stores none."""
    config = product_hub(service, product, hub)
    keys = [adoption.HeldKey(k.channel_id, k.api_key) for k in body.keys]
    versions = await _refusals(adoption.import_keys(service, config, keys, API))
    response.headers.update(NO_STORE)
    return {"imported": [{"channel_id": c, "key_version": v} for c, v in versions.items()]}


@router.post(
    "/{hub}/adoption/take-over",
    status_code=202,
    response_model=TakenOver,
    responses={**CONFLICT, **HUB_DOWN},
)
async def take_over(
    hub: HubPath, body: TakeOverRequest, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    """Generate new keys for channels left unkeyed: the key the partner's current system
    uses stops working. ``live_channels`` must echo how many live channels that is (409
    ``confirmation_mismatch`` says the number, and nothing is done)."""
    config = product_hub(service, product, hub)
    plan = await _refusals(adoption.plan_take_over(service, config, body.channel_ids))
    asked = await _refusals(adoption.take_over(service, config, plan, body.live_channels, API))
    return {"channel_ids": list(plan.channel_ids), "live": plan.live, "keys_requested": asked}


async def _refusals(work: Awaitable[T]) -> T:
    """``work``, with 360dialog's failure as a 502 (its refusals answer by themselves)."""
    try:
        return await work
    except HubError as exc:
        raise ApiError(502, "hub_error", f"360dialog: {exc}; nothing was done") from None
