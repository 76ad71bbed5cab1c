"""What every product API router shares: the product's hubs, the declared error answers,
and the query parameter types that keep hostile text away from the database."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel

from onboard360.config.hubs import HubConfig, ProductConfig
from onboard360.web.errors import not_found
from onboard360.wiring.service import Service

NO_STORE = {"Cache-Control": "no-store"}

# No control characters: PostgreSQL text holds no NUL, and no honest id or name has one.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"


class ErrorDetail(BaseModel):
    type: str
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every refusal of the API: ``{"error": {"type", "code", "message"}}``."""

    error: ErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Declared on every route, so clients and schemathesis know each refusal's shape.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("malformed request: bad JSON body (invalid_json) or cursor (invalid_cursor)"),
    401: _error("missing or wrong bearer token (unauthorized)"),
    404: _error("no such resource among this product's hubs (not_found)"),
    413: _error("request body over 64 KiB (too_large)"),
    422: _error("a parameter or body field failed validation (validation_failed)"),
}
CONFLICT = {409: _error("the resource's state refuses this (see code)")}
UNAVAILABLE = {503: _error("360dialog could not be asked now: try again later (hub_unavailable)")}
GONE = {410: _error("the onboarding expired before its redirect came back")}

Text = Annotated[str | None, Query(min_length=1, max_length=200, pattern=PRINTABLE)]
HubName = Annotated[
    str | None, Query(min_length=1, max_length=40, pattern=PRINTABLE, description="a hub's name")
]


def product_hubs(service: Service, product: ProductConfig) -> list[HubConfig]:
    """The hubs configured with ``product = <this product>``: all it may see."""
    return [hub for hub in service.settings.hubs if hub.product == product.name]


def product_hub(service: Service, product: ProductConfig, name: str) -> HubConfig:
    """One of the product's hubs by name; any other is 404, as if it did not exist."""
    hub = service.settings.hub(name)
    if hub is None or hub.product != product.name:
        raise not_found("hub")
    return hub


def hub_names(service: Service, product: ProductConfig, hub: str | None) -> list[str]:
    """The names a list may show: the product's hubs, or just ``hub`` when given."""
    if hub is not None:
        return [product_hub(service, product, hub).name]
    return [h.name for h in product_hubs(service, product)]
