"""The service's error shape for what the framework itself refuses, and for a bug: no
database needed (the app is called in-process, without its lifespan)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from onboard360.config.settings import Settings
from onboard360.web.app import create_app


def _app() -> FastAPI:
    app = create_app(Settings(), "postgresql+psycopg://nobody@127.0.0.1:1/none")

    @app.get("/api/v1/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("secret-detail-that-must-not-leak")

    return app


def _call(method: str, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(_app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path)

    return asyncio.run(go())


def test_a_bug_is_500_in_the_error_shape_with_the_request_id_and_no_detail() -> None:
    answer = _call("GET", "/api/v1/boom")
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert (error["type"], error["code"]) == ("api_error", "internal_error")
    assert answer.headers["x-request-id"] in error["message"]
    assert "secret-detail" not in answer.text


def test_no_such_route_and_wrong_method_are_in_the_error_shape() -> None:
    missing = _call("GET", "/api/v1/nothing")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    wrong = _call("DELETE", "/api/v1/channels")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"
    assert "DELETE is not allowed here; allowed: GET" in wrong.json()["error"]["message"]


def test_a_wrong_method_names_every_method_the_path_takes() -> None:
    # GET and POST /onboardings are two routes: Starlette alone would name only one.
    wrong = _call("PUT", "/api/v1/onboardings")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"
    assert wrong.json()["error"]["message"].endswith("allowed: GET, POST")
    rotate = _call("GET", "/api/v1/channels/AbC123CH/rotate-key")
    assert (rotate.status_code, rotate.headers["allow"]) == (405, "POST")
