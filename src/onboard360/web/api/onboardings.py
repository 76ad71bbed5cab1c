"""Onboardings: start one, list them, read one, resume an abandoned one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import Field

from onboard360.config.hubs import HubConfig
from onboard360.db.queries.onboardings import onboardings_page, product_onboarding
from onboard360.services.onboardings import Prefill, Started, start_onboarding
from onboard360.services.resume import resume_onboarding
from onboard360.services.source import API
from onboard360.web import onboardings
from onboard360.web.api.common import (
    CONFLICT,
    ERRORS,
    PRINTABLE,
    HubName,
    Text,
    hub_names,
    product_hub,
)
from onboard360.web.api.models import Onboarding, OnboardingCreated, OnboardingResumed, Stage
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.errors import not_found
from onboard360.web.pagination import Cursor, Limit, Page, page
from onboard360.web.progress import onboarding_view, onboarding_views
from onboard360.web.strict import PathUUID, RequestBody

router = APIRouter(prefix="/api/v1", tags=["onboardings"], responses=ERRORS)


class OnboardingRequest(RequestBody):
    hub: str = Field(max_length=40, description="the hub's name in onboard360's settings")
    external_user_id: str = Field(
        min_length=1, max_length=200, pattern=PRINTABLE, description="your own user or account id"
    )
    number: str | None = Field(None, max_length=20, pattern=r"^\+?[0-9 ]{6,19}$")
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+$")
    name: str | None = Field(None, max_length=200, pattern=PRINTABLE)


@router.post("/onboardings", status_code=201, response_model=OnboardingCreated)
async def create_onboarding(
    body: OnboardingRequest, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    hub = product_hub(service, product, body.hub)
    prefill = Prefill(number=body.number, email=body.email, name=body.name)
    started = await start_onboarding(service, hub, body.external_user_id, prefill, source=API)
    return _created(service, hub, started)


def _created(service: ServiceDep, hub: HubConfig, started: Started) -> dict[str, Any]:
    return {
        "id": started.row.id,
        "hub": hub.name,
        "connect_url": onboardings.connect_url(service, hub, started.state),
        "popup_url": onboardings.opener_url(service, hub, started.state),
        "state": started.state,
        "returning_client": started.returning_client,
        "expires_at": started.row.expires_at.isoformat(),
    }


class ResumeRequest(RequestBody):
    """No fields: the new attempt takes the old one's user and prefill."""


@router.post(
    "/onboardings/{onboarding_id}/resume",
    status_code=201,
    response_model=OnboardingResumed,
    responses=CONFLICT,
)
async def resume_onboarding_route(
    onboarding_id: PathUUID,
    product: ProductDep,
    service: ServiceDep,
    body: ResumeRequest | None = None,
) -> dict[str, Any]:
    """A fresh link for an abandoned (or expired) onboarding's user, with the same prefill,
    in the same journey; at most once per onboarding (``409 already_resumed``)."""
    started = await resume_onboarding(service, product.name, onboarding_id, source=API)
    hub = product_hub(service, product, started.row.hub)
    return {
        **_created(service, hub, started),
        "journey_id": started.row.journey_id,
        "resumed_from": started.row.resumed_from,
    }


@router.get("/onboardings", response_model=Page[Onboarding])
async def list_onboardings(
    *,
    product: ProductDep,
    service: ServiceDep,
    limit: Limit = 100,
    cursor: Cursor = None,
    hub: HubName = None,
    external_user_id: Text = None,
    stage: Annotated[Stage | None, Query()] = None,
) -> dict[str, Any]:
    """This product's onboardings, newest first."""
    hubs = hub_names(service, product, hub)
    async with service.engine.connect() as conn:
        rows, next_cursor = await onboardings_page(
            conn,
            product.name,
            hubs,
            external_user_id=external_user_id,
            stage=stage,
            limit=limit,
            cursor=cursor,
        )
        return page(await onboarding_views(conn, rows), next_cursor)


@router.get("/onboardings/{onboarding_id}", response_model=Onboarding)
async def get_onboarding(
    onboarding_id: PathUUID, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    async with service.engine.connect() as conn:
        row = await product_onboarding(conn, product.name, onboarding_id)
        if row is None:
            raise not_found("onboarding")
        return await onboarding_view(conn, row)
