"""What the dashboard shows: the overview's counts, search, a client's page — never a key."""

from __future__ import annotations

import html
import re

import httpx

from tests.integration.dashboard_http import (
    api_key,
    attention_counts,
    logged_in,
    onboarded,
    sql,
    stage_counts,
    trigger,
)
from tests.stack import Stack


def test_overview_counts_onboardings_channels_and_each_kind_of_trouble(stack: Stack) -> None:
    onboarded(stack, "pp", user="live")  # live, with a key
    stack.start_onboarding("pp", "never-came-back")  # waiting for the popup
    _, (violated_channel,) = onboarded(stack, "pp", user="flagged")
    trigger(stack, violated_channel, "account_violation", violation_type="SCAM")
    onboarded(stack, "dp", user="refused", permission=False)  # waiting for permission
    onboarded(stack, "pp", user="failing", hub_down_after_redirect=True)  # key job gives up
    stack.sandbox_hub("pp").faults.api_5xx_rate = 0.0
    onboarded(stack, "pp", user="slow", running=False)  # not running yet...
    sql(
        stack,
        "UPDATE channels SET updated_at = now() - interval '2 hours' WHERE status = 'pending'",
    )
    stack.product.default_status = 500  # the product refuses every event from now on
    trigger(stack, violated_channel, "account_restriction", violation_type="SPAM")
    stack.settle()

    with logged_in(stack, "ops@example.test") as dashboard:
        page = dashboard.get("/dashboard")
    assert page.status_code == 200
    assert stage_counts(page, "pp") == {
        "waiting_for_popup": 1,
        "confirming": 0,
        "connecting": 2,  # the failing one and the slow one
        "action_needed": 0,
        "live": 2,
        "expired": 0,
    }
    assert attention_counts(page, "pp") == {
        "waiting_for_permission": 0,
        "key_not_working": 0,
        "stuck": 1,
        "provisioning_failed": 1,
        "handoff_failing": 1,
        # The list is "deliveries failing or disabled": the product is failing, not disabled.
        "endpoint_disabled": 1,
        "unclaimed_clients": 0,
        "redirect_unconfirmed": 0,
        "violations": 1,
    }
    assert attention_counts(page, "dp")["waiting_for_permission"] == 1
    assert "channel.violation" in page.text  # the failing handoff says what it was
    assert "account_violation:scam" in page.text


def test_attention_list_page_links_each_channel_to_its_client(stack: Stack) -> None:
    client, (channel,) = onboarded(stack, "dp", permission=False)
    with logged_in(stack, "ops@example.test") as dashboard:
        page = dashboard.get("/dashboard/attention/waiting_for_permission", hub="dp")
        assert f'href="/dashboard/clients/dp/{client}#channel-{channel}"' in page.text
        assert dashboard.get("/dashboard/attention/nonsense", hub="dp").status_code == 404
        assert dashboard.get("/dashboard/attention/stuck", hub="nohub").status_code == 404


def test_search_finds_a_client_by_each_of_its_ids(stack: Stack) -> None:
    client, (channel,) = onboarded(stack, "pp", user="crm-user-42")
    phone = stack.sandbox.channel(channel).phone_number
    with logged_in(stack, "ops@example.test") as dashboard:
        for query in (client, channel, "crm-user-42", phone, phone[-6:], phone.replace("+", "")):
            page = dashboard.get("/dashboard/search", q=query)
            assert f'href="/dashboard/clients/pp/{client}"' in page.text, query
        nothing = dashboard.get("/dashboard/search", q="no-such-thing")
        assert "0 result(s)" in nothing.text


def test_search_echoes_hostile_queries_escaped_and_runs_no_sql_from_them(stack: Stack) -> None:
    client, _ = onboarded(stack, "pp")
    hostile = [
        "' OR '1'='1",
        "'; DROP TABLE clients; --",
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "%' OR 1=1 --",
        "%",
        "_",
        "\\",
    ]
    with logged_in(stack, "ops@example.test") as dashboard:
        for query in hostile:
            page = dashboard.get("/dashboard/search", q=query)
            assert page.status_code == 200, query
            assert "0 result(s)" in page.text, query
            # Echoed as text: no raw "<" can open a tag, and it reads back as typed.
            echoed = re.search(r'<q id="query">([^<]*)</q>', page.text)
            assert echoed is not None, query
            assert html.unescape(echoed[1]) == query
            assert "<script>alert" not in page.text
            assert "<img src=x" not in page.text
    assert sql(stack, "SELECT count(*) AS n FROM clients")[0].n == 1
    assert [r.client_id for r in sql(stack, "SELECT client_id FROM clients")] == [client]


def test_client_page_shows_channels_and_a_timeline_of_everything(stack: Stack) -> None:
    client, (channel,) = onboarded(stack, "pp", user="timeline-user")
    with logged_in(stack, "ops@example.test") as dashboard:
        page = dashboard.get(f"/dashboard/clients/pp/{client}")
    assert page.status_code == 200
    card = page.text[page.text.index(f'id="channel-{channel}"') :]
    assert '<dd class="status">running</dd>' in card
    assert '<dd class="permission">granted</dd>' in card
    assert '<dd class="key">yes (version 1)</dd>' in card
    timeline = page.text[page.text.index('id="timeline"') :]
    for kind in (
        "channel_created",  # the webhook, from the inbox and from the lifecycle
        "channel_running",
        "redirected",  # the onboarding came back
        "key_intent",  # key_generations
        "key_stored",  # the timeline table
        "channel.activated",  # the event handed to the product
    ):
        assert f"<strong>{kind}</strong>" in timeline, kind
    assert "timeline-user" in page.text


def test_unknown_client_or_channel_is_a_404_page(stack: Stack) -> None:
    with logged_in(stack, "ops@example.test") as dashboard:
        for path in (
            "/dashboard/clients/pp/NOPE",
            "/dashboard/clients/nohub/NOPE",
            "/dashboard/clients/pp/bad%20id",
            "/dashboard/channels/pp/NOPE",
        ):
            answer = dashboard.get(path)
            assert answer.status_code == 404, path
            assert 'id="error"' in answer.text


def test_no_page_ever_shows_an_api_key(stack: Stack) -> None:
    client, channels = onboarded(stack, "pp", numbers=2)
    rotated = channels[0]
    first_key = api_key(stack, rotated)
    assert stack.api.post(f"/api/v1/channels/{rotated}/rotate-key", json={"key_version": 1})
    stack.drain()
    keys = {first_key, api_key(stack, rotated), api_key(stack, channels[1])}
    assert len(keys) == 3
    dp_client, (dp_channel,) = onboarded(stack, "dp", permission=True)
    keys.add(api_key(stack, dp_channel))

    with logged_in(stack, "ops@example.test") as dashboard:
        pages = [
            "/dashboard",
            f"/dashboard/clients/pp/{client}",
            f"/dashboard/clients/dp/{dp_client}",
        ]
        pages += [f"/dashboard/search?q={q}" for q in (client, rotated, "user-1")]
        pages += [
            f"/dashboard/attention/{k}?hub={h}"
            for k in ("stuck", "violations")
            for h in ("pp", "dp")
        ]
        pages += [f"/dashboard/channels/pp/{c}" for c in channels]
        for hub, channel in [*(("pp", c) for c in channels), ("dp", dp_channel)]:
            for action in ("rotate-key", "retry-provisioning"):
                pages.append(f"/dashboard/actions/{action}?hub={hub}&channel={channel}")
        client_page = dashboard.get(f"/dashboard/clients/pp/{client}")
        events = re.findall(
            r'href="(/dashboard/actions/resend-event\?event=[^"]+)"', client_page.text
        )
        assert events
        pages += [html.unescape(e) for e in events]
        for path in pages:
            answer = dashboard.http.get(path, follow_redirects=True)
            assert answer.status_code == 200, path
            for key in keys:
                assert key not in answer.text, path
                assert key[:12] not in answer.text, path
    # And the database rows the pages read never held a key in plain text either.
    dump = sql(
        stack, "SELECT detail::text AS d FROM timeline UNION ALL SELECT detail::text FROM audit_log"
    )
    assert not any(key in row.d for row in dump for key in keys)


def test_static_files_are_served_and_nothing_else(stack: Stack) -> None:
    css = httpx.get(f"{stack.service_url}/dashboard/static/dashboard.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert httpx.get(f"{stack.service_url}/dashboard/static/../app.py").status_code == 404
    assert httpx.get(f"{stack.service_url}/dashboard/static/pages.py").status_code == 404
