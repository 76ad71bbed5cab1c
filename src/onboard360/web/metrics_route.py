"""``GET /metrics``: Prometheus text exposition of this web process and the database.

Open unless ``metrics_token`` is set, then Prometheus must send
``Authorization: Bearer <metrics_token>`` (``authorization.credentials`` in its scrape
config). Either way, nothing in it is secret: counts by route template, hub and product.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from onboard360 import metrics
from onboard360.web.deps import ServiceDep
from onboard360.web.errors import ApiError

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def scrape(request: Request, service: ServiceDep) -> Response:
    wanted = service.settings.metrics_token
    if wanted is not None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = wanted.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(expected, token.encode()):
            raise ApiError(
                401,
                "unauthorized",
                "send 'Authorization: Bearer <metrics_token>'",
                "authentication",
            )
    return Response(await metrics.render(service.engine), media_type=metrics.CONTENT_TYPE)
