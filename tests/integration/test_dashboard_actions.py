"""Each dashboard action: confirmed, carried out, audited — and harmless when repeated."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.integration.dashboard_http import (
    Dashboard,
    audit_rows,
    forms,
    onboarded,
    sql,
)
from tests.integration.popup_http import Popup, onboard
from tests.stack import Stack


def submit(dashboard: Dashboard, action: str, **params: str) -> tuple[str, dict[str, str]]:
    """Open the confirm page, submit it; the outcome code and the form (to submit again)."""
    page = dashboard.confirm_page(action, **params)
    fields = forms(page)[f"/dashboard/actions/{action}"]
    return post(dashboard, action, fields), fields


def post(dashboard: Dashboard, action: str, fields: dict[str, str]) -> str:
    answer = dashboard.http.post(f"/dashboard/actions/{action}", data=fields)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    page = dashboard.get(location)
    assert page.status_code == 200
    assert 'id="done"' in page.text
    return parse_qs(urlsplit(location).query)["done"][0]


def keys_generated(stack: Stack, channel: str) -> int:
    return stack.sandbox.channel(channel).keys_generated


def channel_row(stack: Stack, channel: str) -> dict[str, object]:
    (row,) = sql(
        stack,
        "SELECT status, permission, key_status FROM channels WHERE channel_id = :c",
        c=channel,
    )
    return dict(row._mapping)


def test_retry_provisioning_requeues_a_key_job_that_gave_up(
    stack: Stack, dashboard: Dashboard
) -> None:
    _, (channel,) = onboarded(stack, "pp", hub_down_after_redirect=True)
    assert keys_generated(stack, channel) == 0
    stack.sandbox_hub("pp").faults.api_5xx_rate = 0.0

    outcome, form = submit(dashboard, "retry-provisioning", hub="pp", channel=channel)
    assert outcome == "retry_requeued"
    again = post(dashboard, "retry-provisioning", form)  # the same form, resent
    assert again == "retry_nothing"
    stack.drain()

    assert keys_generated(stack, channel) == 1
    assert channel_row(stack, channel)["key_status"] == "stored"
    outcomes = [r.detail["outcome"] for r in audit_rows(stack, "retry-provisioning")]
    assert outcomes == ["retry_requeued", "retry_nothing"]
    assert post(dashboard, "retry-provisioning", form) == "retry_nothing"
    stack.drain()
    assert keys_generated(stack, channel) == 1


def test_retry_provisioning_after_refused_permission_confirms_it_and_provisions(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, (channel,) = onboarded(stack, "dp", permission=False)
    assert channel_row(stack, channel)["permission"] == "refused"
    stack.sandbox.set_api_key_permission(client, True)  # granted in the client's own hub

    page = dashboard.confirm_page("retry-provisioning", hub="dp", channel=channel)
    assert "Confirm only if the client granted it" in page.text
    outcome, form = submit(dashboard, "retry-provisioning", hub="dp", channel=channel)
    assert outcome == "retry_confirmed"
    stack.drain()
    assert post(dashboard, "retry-provisioning", form) == "retry_nothing"
    stack.drain()

    assert channel_row(stack, channel) == {
        "status": "running",
        "permission": "granted",
        "key_status": "stored",
    }
    assert keys_generated(stack, channel) == 1
    (first, _) = audit_rows(stack, "retry-provisioning")
    assert first.target == f"channel:dp/{channel}"
    assert first.detail["client_id"] == client


def test_rotate_key_makes_one_new_key_however_often_the_form_is_sent(
    stack: Stack, dashboard: Dashboard
) -> None:
    _, (channel,) = onboarded(stack, "pp")
    outcome, form = submit(dashboard, "rotate-key", hub="pp", channel=channel)
    assert outcome == "rotate_requested"
    assert form["key_version"] == "1"
    assert post(dashboard, "rotate-key", form) == "rotate_nothing"  # while it is generated
    stack.drain()
    assert post(dashboard, "rotate-key", form) == "rotate_nothing"  # after: version 1 is gone
    stack.drain()

    assert keys_generated(stack, channel) == 2
    details = [r.detail for r in audit_rows(stack, "rotate-key")]
    assert [d["outcome"] for d in details] == [
        "rotate_requested",
        "rotate_nothing",
        "rotate_nothing",
    ]
    assert details[0]["new_version"] == 2
    assert [d["refused"] for d in details[1:]] == ["rotation_in_progress", "key_already_replaced"]


def test_resend_event_delivers_a_failed_event_once_the_product_accepts_again(
    stack: Stack, dashboard: Dashboard
) -> None:
    stack.product.default_status = 500
    client, _ = onboarded(stack, "pp")
    (failed,) = sql(
        stack,
        "SELECT id, attempts FROM product_events WHERE event_type = 'channel.activated'",
    )
    assert failed.attempts > 0
    stack.product.default_status = 200
    received = len(stack.product.requests())

    outcome, form = submit(dashboard, "resend-event", event=failed.id)
    assert outcome == "resend_queued"
    assert post(dashboard, "resend-event", form) == "resend_nothing"  # still queued
    stack.drain()
    assert post(dashboard, "resend-event", form) == "resend_nothing"  # already resent
    stack.drain()

    resent = [
        r for r in stack.product.requests()[received:] if r.headers["webhook-id"] == failed.id
    ]
    assert len(resent) == 1
    (row,) = sql(stack, "SELECT delivered_at FROM product_events WHERE id = :i", i=failed.id)
    assert row.delivered_at is not None
    (audited, *_) = audit_rows(stack, "resend-event")
    assert audited.target == f"event:{failed.id}"
    assert audited.detail["client_id"] == client


def test_reconcile_catches_up_on_lost_webhooks_and_repeating_changes_nothing(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, (channel,) = onboarded(stack, "pp", running=False)
    stack.sandbox_hub("pp").faults.webhook_drop_rate = 1.0
    stack.sandbox.set_status(channel, "running")  # we never hear of it
    stack.settle()
    assert channel_row(stack, channel)["status"] == "pending"

    outcome, form = submit(dashboard, "reconcile", hub="pp", client=client)
    assert outcome == "reconcile_done"
    stack.drain()
    assert post(dashboard, "reconcile", form) == "reconcile_done"
    stack.drain()

    assert channel_row(stack, channel)["key_status"] == "stored"
    assert keys_generated(stack, channel) == 1
    details = [r.detail for r in audit_rows(stack, "reconcile")]
    assert [(d["channels_seen"], d["changed"]) for d in details] == [(1, 1), (1, 0)]


def test_reconcile_during_an_outage_says_so_and_changes_nothing(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, (channel,) = onboarded(stack, "pp", running=False)
    stack.sandbox_hub("pp").faults.outage = True
    assert submit(dashboard, "reconcile", hub="pp", client=client)[0] == "reconcile_failed"
    assert channel_row(stack, channel)["status"] == "pending"
    (row,) = audit_rows(stack, "reconcile")
    assert row.detail["outcome"] == "reconcile_failed"


def test_repermission_link_brings_a_refused_client_back_through_the_popup(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, (channel,) = onboarded(stack, "dp", user="crm-7", permission=False)
    confirm = dashboard.get("/dashboard/links/new", hub="dp", client=client)
    made = dashboard.http.post("/dashboard/links/new", data=forms(confirm)["/dashboard/links/new"])
    assert made.status_code == 303
    page = dashboard.get(made.headers["location"])
    link = httpx.URL(page.text.split('id="link" readonly value="')[1].split('"')[0])
    assert link.path == "/connect/dp"
    (onboarding,) = sql(
        stack, "SELECT external_user_id, prefill FROM onboardings WHERE prefill ? 'login'"
    )
    assert (onboarding.external_user_id, onboarding.prefill) == ("crm-7", {"login": True})

    # The client follows the link: our popup opener sends them to 360dialog's login.
    opener = httpx.get(
        f"{stack.service_url}/connect/dp/popup", params={"start": link.params["start"]}
    )
    assert opener.status_code == 303
    assert httpx.URL(opener.headers["location"]).params["next"] == "login"
    with httpx.Client(base_url=stack.sandbox_url, timeout=10) as http:
        popup = Popup(http, stack.hub("dp").partner_id)
        done = onboard(
            popup,
            email="crm-7@acme.test",
            numbers=[],
            direct=True,
            login=True,
            opened=popup.open(url=opener.headers["location"]),
        )
        assert http.get(done.headers["location"]).status_code == 200
    stack.settle()

    assert channel_row(stack, channel)["key_status"] == "stored"
    (row,) = audit_rows(stack, "repermission-link")
    assert row.detail["client_id"] == client


def test_link_page_shows_nothing_without_the_right_state(
    stack: Stack, dashboard: Dashboard
) -> None:
    client, _ = onboarded(stack, "pp")
    confirm = dashboard.get("/dashboard/links/new", hub="pp", client=client)
    made = dashboard.http.post("/dashboard/links/new", data=forms(confirm)["/dashboard/links/new"])
    forged = made.headers["location"].split("start=")[0] + "start=guessed"
    assert dashboard.get(forged).status_code == 404


def test_an_action_without_confirm_only_shows_its_confirm_page(
    stack: Stack, dashboard: Dashboard
) -> None:
    _, (channel,) = onboarded(stack, "pp")
    page = dashboard.confirm_page("rotate-key", hub="pp", channel=channel)
    fields = forms(page)["/dashboard/actions/rotate-key"]
    del fields["confirm"]
    answer = dashboard.http.post("/dashboard/actions/rotate-key", data=fields)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/dashboard/actions/rotate-key?")
    stack.drain()
    assert keys_generated(stack, channel) == 1
    assert audit_rows(stack, "rotate-key") == []


def test_an_action_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    stack: Stack, dashboard: Dashboard
) -> None:
    _, (channel,) = onboarded(stack, "pp")
    page = dashboard.confirm_page("rotate-key", hub="pp", channel=channel)
    fields = forms(page)["/dashboard/actions/rotate-key"]
    for token in ("forged", ""):
        answer = dashboard.http.post(
            "/dashboard/actions/rotate-key", data={**fields, "csrf_token": token}
        )
        assert answer.status_code == 403
    stack.drain()
    assert keys_generated(stack, channel) == 1
    assert audit_rows(stack, "rotate-key") == []


def test_actions_on_unknown_things_are_404_pages(stack: Stack, dashboard: Dashboard) -> None:
    for path, params in (
        ("/dashboard/actions/rotate-key", {"hub": "pp", "channel": "NOPE"}),
        ("/dashboard/actions/retry-provisioning", {"hub": "nohub", "channel": "NOPE"}),
        ("/dashboard/actions/resend-event", {"event": "msg_nope"}),
        ("/dashboard/actions/reconcile", {"hub": "pp", "client": "NOPE"}),
        ("/dashboard/actions/self-destruct", {"hub": "pp"}),
        ("/dashboard/links/new", {"hub": "pp", "client": "NOPE"}),
    ):
        assert dashboard.get(path, **params).status_code == 404, path


def test_a_dashboard_rotation_shows_its_operator_on_the_timeline(
    stack: Stack, dashboard: Dashboard
) -> None:
    _, (channel,) = onboarded(stack, "pp")
    assert submit(dashboard, "rotate-key", hub="pp", channel=channel)[0] == "rotate_requested"

    (operator,) = sql(stack, "SELECT id FROM operators")
    sources = sql(
        stack,
        "SELECT source FROM timeline WHERE channel_id = :c AND kind = 'KeyRotationRequested'",
        c=channel,
    )
    assert [row.source for row in sources] == [f"dashboard:operator-{operator.id}"]
