"""The official 360dialog button on the product's own page: its signed popup parameters,
and the redirect it received, forwarded with the onboarding it belongs to.

The product's backend makes both calls with its token; the product knows which onboarding
its logged-in user is in, so no echoed ``state`` is needed to tie a redirect to it
(web/attempts.py). A browser's cookies are never read here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import Field, model_validator

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.db.queries.onboardings import product_onboarding, product_onboarding_by_state
from onboard360.domain import RedirectError, parse_redirect
from onboard360.services import redirects
from onboard360.web import attempts, onboardings
from onboard360.web.api.common import CONFLICT, ERRORS, GONE, NO_STORE
from onboard360.web.api.models import Onboarding, PopupParameters
from onboard360.web.deps import ProductDep, ServiceDep
from onboard360.web.errors import ApiError, not_found
from onboard360.web.progress import onboarding_view
from onboard360.web.strict import PathUUID, RequestBody

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection

router = APIRouter(prefix="/api/v1", tags=["onboardings"], responses=ERRORS)

STATE = r"^[!-~]+$"  # printable ASCII, as a state is


class RedirectForward(RequestBody):
    query: str = Field(
        max_length=8192,
        description="location.search of the page the popup came back to; forward only a "
        "query that has `client`",
    )
    onboarding_id: PathUUID | None = Field(
        None,
        strict=False,
        description="the onboarding your logged-in user is in (or give `state`)",
    )
    state: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        pattern=STATE,
        description="the onboarding's state as POST /onboardings answered it",
    )

    @model_validator(mode="after")
    def _one_onboarding(self) -> Self:
        if (self.onboarding_id is None) == (self.state is None):
            raise ValueError("name the onboarding: give onboarding_id or state, not both")
        return self


@router.post(
    "/onboardings/{onboarding_id}/popup-parameters",
    response_model=PopupParameters,
    responses={**CONFLICT, **GONE},
)
async def popup_parameters(
    onboarding_id: PathUUID, response: Response, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    """What the official button's ``queryParameters`` need for one popup opening, signed
    now (IO Signature): call it when the person is about to click, never cache it."""
    async with service.engine.connect() as conn:
        row = await _onboarding(conn, product, onboarding_id)
    if row.redirected_at is not None:
        raise ApiError(409, "already_completed", "this onboarding is completed: start a new one")
    hub = _hub(service, row)
    onboardings.live(row)
    params = onboardings.popup_parameters(hub, attempts.popup_state(row), row.prefill or {})
    response.headers.update(NO_STORE)
    return {
        "onboarding_id": row.id,
        "hub": hub.name,
        "partner_id": hub.partner_id,
        "query_parameters": params,
        "popup_url": onboardings.popup_url(hub, params),
    }


@router.post("/redirects", response_model=Onboarding, responses={**CONFLICT, **GONE})
async def forward_redirect(
    body: RedirectForward, product: ProductDep, service: ServiceDep
) -> dict[str, Any]:
    """Forward the redirect the official button's page received, with its onboarding."""
    try:
        redirect = parse_redirect(body.query)
    except RedirectError as exc:
        raise ApiError(400, "invalid_redirect", str(exc)) from None
    async with service.engine.connect() as conn:
        if body.onboarding_id is not None:
            row = await _onboarding(conn, product, body.onboarding_id)
        else:
            row = await _onboarding_by_state(conn, product, body.state or "")
    if not attempts.state_agrees(row, redirect.state):
        raise ApiError(
            400,
            "state_mismatch",
            "the redirect's state belongs to another onboarding than the one named",
        )
    done = await redirects.complete(
        service.engine, service, _hub(service, row), onboardings.live(row), redirect, body.query
    )
    async with service.engine.connect() as conn:
        return await onboarding_view(conn, done.attempt or row)


async def _onboarding(
    conn: AsyncConnection, product: ProductConfig, onboarding_id: UUID
) -> Row[Any]:
    row = await product_onboarding(conn, product.name, onboarding_id)
    if row is None:
        raise not_found("onboarding")
    return row


async def _onboarding_by_state(
    conn: AsyncConnection, product: ProductConfig, state: str
) -> Row[Any]:
    row = await product_onboarding_by_state(conn, product.name, onboardings.state_digest(state))
    if row is None:
        raise not_found("onboarding")
    return row


def _hub(service: ServiceDep, row: Row[Any]) -> HubConfig:
    """The onboarding's hub, while the product still owns it in the settings."""
    hub = service.settings.hub(row.hub)
    if hub is None or hub.product != row.product:
        raise not_found("onboarding")
    return hub
