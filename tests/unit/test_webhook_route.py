"""The receiver's fast path claims exactly the requests its FastAPI route would."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Match

from onboard360.web.partner_webhooks import _ROUTE_PATH, ROUTE, router


@pytest.mark.parametrize(
    "path",
    [
        "/hooks/360dialog/main/s3cret",
        "/hooks/360dialog/main/s3cret/",
        "/hooks/360dialog/main/",
        "/hooks/360dialog//s3cret",
        "/hooks/360dialog/main/s3cret/extra",
        "/hooks/360dialog/main",
        "/hooks/other/main/s3cret",
    ],
)
def test_fast_path_matches_what_the_route_matches(path: str) -> None:
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == ROUTE)
    scope = {"type": "http", "method": "POST", "path": path, "root_path": ""}
    by_route, params = route.matches(scope)
    fast = _ROUTE_PATH.fullmatch(path)
    assert (fast is not None) == (by_route is Match.FULL)
    if fast is not None:
        assert fast.groupdict() == params["path_params"]
