"""The product API's timeline says an operator acted, never which operator's login did."""

from __future__ import annotations

import json

from tests.integration.dashboard_http import Dashboard, forms, onboarded
from tests.stack import Stack


def test_the_timeline_shows_an_operator_role_not_the_login_email(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, (channel,) = onboarded(stack, "pp")
    page = dashboard.confirm_page("rotate-key", hub="pp", channel=channel)
    sent = dashboard.http.post(
        "/dashboard/actions/rotate-key", data=forms(page)["/dashboard/actions/rotate-key"]
    )
    assert sent.status_code == 303, sent.text
    stack.api.post(f"/api/v1/channels/{channel}/rotate-key", json={"key_version": 1})

    items = stack.api.get(f"/api/v1/clients/{client}/timeline").json()["data"]

    operator = [item for item in items if item["source"] == "operator"]
    assert [item["detail"]["by"] for item in operator] == ["operator"]
    assert "ops@example.test" not in json.dumps(items)
