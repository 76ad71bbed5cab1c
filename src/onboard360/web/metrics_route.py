"""``GET /metrics``: Prometheus text exposition of this web process and the database.

Off unless configured: with ``metrics_token`` set, Prometheus must send
``Authorization: Bearer <metrics_token>`` (``authorization.credentials`` in its scrape
config); ``metrics_public = true`` serves it to anyone (only where the network keeps it
private). Otherwise it answers 404. Nothing in it is secret — counts by route template,
hub and product — but it tells an outsider how busy the service is and what fails.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from onboard360.jobs.scrape import CONTENT_TYPE, render
from onboard360.web.deps import ServiceDep
from onboard360.web.errors import ApiError

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def scrape(request: Request, service: ServiceDep) -> Response:
    wanted = service.settings.metrics_token
    if wanted is None and not service.settings.metrics_public:
        raise ApiError(
            404, "not_found", "metrics are off: set metrics_token (or metrics_public = true)"
        )
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
    return Response(await render(service.engine), media_type=CONTENT_TYPE)
