"""Claiming from the dashboard: the same claim as the API, audited; re-assigning a bound
client only with the explicit tick; the needs-attention lists link to it."""

from __future__ import annotations

from tests.integration.dashboard_http import Dashboard, audit_rows, forms
from tests.integration.service_http import live_channel, rows, sandbox_channels
from tests.stack import Stack


def submit(dashboard: Dashboard, client: str, user: str, *, reassign: bool = False):
    page = dashboard.get("/dashboard/claim", hub="pp", client=client)
    assert page.status_code == 200, page.text
    fields = {**forms(page)["/dashboard/claim"], "external_user_id": user}
    if reassign:
        fields["reassign"] = "yes"
    return dashboard.http.post("/dashboard/claim", data=fields)


def owner(stack: Stack, client: str) -> str | None:
    (row,) = rows(stack, "SELECT external_user_id FROM clients WHERE client_id = %s", client)
    return row["external_user_id"]


def test_an_operator_claims_an_unclaimed_client_from_the_list(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, (channel,) = sandbox_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    stack.settle()
    listed = dashboard.get("/dashboard/attention/unclaimed_clients", hub="pp")
    assert f'href="/dashboard/claim?hub=pp&amp;client={client}"' in listed.text
    done = submit(dashboard, client, "crm-5")
    assert done.status_code == 303
    assert done.headers["location"].endswith("done=claim_claimed")
    stack.settle()
    assert owner(stack, client) == "crm-5"
    assert stack.sandbox.channel(channel).keys_generated == 1
    (line,) = audit_rows(stack, "claim-client")
    assert line.detail["outcome"] == "claimed"
    assert line.detail["external_user_id"] == "crm-5"


def test_reassigning_a_bound_client_takes_the_explicit_tick(
    stack: Stack, dashboard: Dashboard
) -> None:
    _, client, _ = live_channel(stack)
    refused = submit(dashboard, client, "crm-6")
    assert refused.status_code == 303
    assert "error=already_claimed" in refused.headers["location"]
    page = dashboard.get(refused.headers["location"])
    assert "bound to another user" in page.text
    assert owner(stack, client) == "user-1"
    moved = submit(dashboard, client, "crm-6", reassign=True)
    assert moved.headers["location"].endswith("done=claim_reassigned")
    assert owner(stack, client) == "crm-6"
    outcomes = [
        (r.detail["outcome"], r.detail.get("previous")) for r in audit_rows(stack, "claim-client")
    ]
    assert outcomes == [("refused:already_claimed", None), ("reassigned", "user-1")]
    claimed = [e for e in stack.product_events() if e["type"] == "client.claimed"]
    stack.settle()
    claimed = [e for e in stack.product_events() if e["type"] == "client.claimed"]
    assert [e["data"]["external_user_id"] for e in claimed] == ["crm-6"]


def test_the_claim_page_reflects_no_text_from_the_url(stack: Stack, dashboard: Dashboard) -> None:
    client, _ = sandbox_channels(stack, "pp")
    page = dashboard.get("/dashboard/claim", hub="pp", client=client, error="<b>call us</b>")
    assert page.status_code == 200
    assert "call us" not in page.text
    forged = dashboard.http.post(
        "/dashboard/claim", data={"hub": "pp", "client": client, "external_user_id": "x"}
    )
    assert forged.status_code in (400, 403)
    assert rows(stack, "SELECT * FROM audit_log WHERE action = 'claim-client'") == []
