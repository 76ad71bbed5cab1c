"""FastAPI dependencies, as Annotated aliases."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from onboard360.config.hubs import ProductConfig
from onboard360.web.errors import unauthorized
from onboard360.wiring.service import Service


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def get_service(request: Request) -> Service:
    # async: FastAPI would run a plain function in its thread pool, costing a thread hop
    # on every request.
    return service_of(request)


ServiceDep = Annotated[Service, Depends(get_service)]


# Declares the scheme in the OpenAPI; the refusal is ours (one error shape), not FastAPI's.
_bearer = HTTPBearer(
    auto_error=False, scheme_name="productToken", description="the product's API token"
)


async def get_product(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ProductConfig:
    """The product whose bearer token this is (constant-time, every token compared)."""
    token = credentials.credentials if credentials is not None else ""
    if not token:
        raise unauthorized()
    found: ProductConfig | None = None
    for product in service.settings.products:
        for candidate in product.api_tokens:
            if hmac.compare_digest(candidate.get_secret_value().encode(), token.encode()):
                found = product
    if found is None:
        raise unauthorized()
    return found


ProductDep = Annotated[ProductConfig, Depends(get_product)]
