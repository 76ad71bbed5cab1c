"""Text PostgreSQL cannot store — a NUL character, a lone UTF-16 surrogate — gets a
precise 4xx wherever it comes in (URL, form, JSON body, cursor), never a 500, and
nothing is stored; a failed statement's log line carries no parameter values."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from onboard360.wiring.service import open_service
from tests.integration.dashboard_http import Dashboard
from tests.integration.service_http import assert_error, count, rows
from tests.stack import Stack


def _cursor(position: list[list[str]], name: str) -> str:
    raw = json.dumps({"l": name, "k": position})  # ensure_ascii: "\ud800" stays an escape
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def test_a_nul_in_an_api_parameter_is_a_422_naming_it(stack: Stack) -> None:
    for path in (
        "/api/v1/events?type=%00",
        "/api/v1/events?type=a%00b",
        "/api/v1/channels?status=x%00",
        "/api/v1/search?q=12%0034",
    ):
        answer = stack.api.get(path)
        assert_error(answer, 422, "validation_failed")
        name = path.split("?")[1].split("=")[0]
        assert f"query.{name}" in answer.json()["error"]["message"], path


def test_a_cursor_holding_a_lone_surrogate_is_an_invalid_cursor(stack: Stack) -> None:
    for path, cursor in (
        ("/api/v1/channels", _cursor([["s", "\ud800"], ["s", "pp"]], "channels")),
        ("/api/v1/clients", _cursor([["s", "pp"], ["s", "\udfff"]], "clients")),
        ("/api/v1/channels", _cursor([["s", "A\u0000"], ["s", "pp"]], "channels")),
    ):
        answer = stack.api.get(path, params={"cursor": cursor})
        assert_error(answer, 400, "invalid_cursor")


def test_a_body_with_a_lone_surrogate_is_refused_and_stores_nothing(stack: Stack) -> None:
    before = count(stack, "onboardings")
    body = '{"hub": "pp", "external_user_id": "user-\\ud800"}'
    answer = stack.api.post(
        "/api/v1/onboardings", content=body, headers={"content-type": "application/json"}
    )
    assert_error(answer, 422, "validation_failed")
    assert "external_user_id" in answer.json()["error"]["message"]
    assert count(stack, "onboardings") == before


def test_dashboard_search_with_a_nul_is_an_html_400(dashboard: Dashboard) -> None:
    answer = dashboard.http.get("/dashboard/search?q=a%00b")
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "NUL" in answer.text
    assert dashboard.http.get("/dashboard/search?q=ab").status_code == 200


def test_a_login_form_with_a_nul_is_an_html_400_and_counts_nothing(stack: Stack) -> None:
    with Dashboard(stack) as browser:
        page = browser.http.get("/dashboard/login")
        token = browser.http.cookies.get("o360_login")
        answer = browser.http.post(
            "/dashboard/login",
            content=f"csrf_token={token}&email=ops%00@example.test&password=x",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert page.status_code == 200
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert rows(stack, "SELECT action FROM audit_log") == []


def test_a_connect_link_with_a_nul_is_an_html_400(stack: Stack) -> None:
    answer = stack.api.get("/connect/pp?start=abc%00")
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/hooks/360dialog/pp/x%00", "/healthz?x=%00"])
def test_a_nul_anywhere_else_is_a_json_400(stack: Stack, path: str) -> None:
    assert_error(stack.api.get(path), 400, "invalid_text")


def test_a_failed_statement_carries_no_parameter_values(stack: Stack) -> None:
    async def fail() -> str:
        async with open_service(stack.settings, stack.database_url) as service:
            try:
                async with service.engine.connect() as conn:
                    await conn.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": "ops@private"})
            except DBAPIError as exc:
                return str(exc)
        raise AssertionError("the statement did not fail")

    message = asyncio.run(fail())
    assert "division by zero" in message
    assert "ops@private" not in message
    assert "parameters hidden" in message
