"""GET /metrics over real HTTP, after a real onboarding: what an operator's Prometheus sees."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from onboard360.runtime.serving import running
from onboard360.web.app import create_app
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack, running_stack

METRICS_TOKEN = "metrics-token-" + "m" * 24
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    """The stack, with metrics on (they are off unless configured)."""
    with running_stack(database_url, metrics_token=METRICS_TOKEN) as stack:
        yield stack


def scrape(base_url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(f"{base_url}/metrics", headers=headers or BEARER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def onboard_one_running_channel(stack: Stack) -> str:
    """Redirect a running channel in; the sandbox's webhooks are stored, not yet processed."""
    return stack.redirect_running_channel(phone="+4915100000007")


def test_an_onboarding_shows_in_every_family(stack: Stack) -> None:
    before = scrape(stack.service_url)
    onboard_one_running_channel(stack)
    stack.settle()
    after = scrape(stack.service_url)

    def grew(name: str, **labels: str) -> bool:
        return value(after, name, **labels) > value(before, name, **labels)

    hook_route = "/hooks/360dialog/{hub_name}/{secret}"
    assert grew("onboard360_http_requests_total", method="POST", route=hook_route, status="200")
    assert grew("onboard360_partner_webhooks_total", hub="pp", outcome="received")
    assert grew("onboard360_key_provisioning_total", hub="pp", outcome="stored")
    assert grew("onboard360_product_deliveries_total", product="default", outcome="delivered")
    assert grew("onboard360_jobs_run_total", task="provision_key", outcome="succeeded")
    key_calls = [
        key
        for key, n in after.items()
        if key[0] == "onboard360_hub_api_requests_total"
        and ("path", "/partners/{id}/channels/{id}/api_keys") in key[1]
        and n > before.get(key, 0)
    ]
    assert key_calls
    assert value(after, "onboard360_database_up") == 1
    assert value(after, "onboard360_inbox_lag_seconds") == 0


def test_waiting_work_shows_as_inbox_lag_and_queued_jobs(stack: Stack) -> None:
    onboard_one_running_channel(stack)
    stack.sandbox.create_client(stack.hub("pp").partner_id, "Later", "l@acme.test")

    def stored() -> bool:
        return value(scrape(stack.service_url), "onboard360_inbox_lag_seconds") > 0

    wait_until(stored, what="a partner webhook to be stored")
    samples = scrape(stack.service_url)
    assert value(samples, "onboard360_jobs", task="process_inbox_events", status="todo") >= 1


def test_no_label_carries_a_secret_or_a_channel_id(stack: Stack) -> None:
    channel = onboard_one_running_channel(stack)
    stack.settle()
    text = httpx.get(f"{stack.service_url}/metrics", headers=BEARER).text
    assert channel not in text
    assert stack.hub("pp").webhook_secret.get_secret_value() not in text


def test_request_id_is_echoed_when_sane_and_made_up_otherwise(stack: Stack) -> None:
    kept = httpx.get(f"{stack.service_url}/healthz", headers={"X-Request-ID": "lb-7f3a.1"})
    assert kept.headers["x-request-id"] == "lb-7f3a.1"
    replaced = httpx.get(f"{stack.service_url}/healthz", headers={"X-Request-ID": "a b<c>"})
    assert replaced.headers["x-request-id"] not in ("", "a b<c>")
    refused = httpx.post(f"{stack.service_url}/hooks/360dialog/nope/x" + "y" * 30, content=b"{}")
    assert refused.status_code == 404
    assert refused.headers["x-request-id"]


def test_unknown_hub_names_in_webhook_urls_never_become_labels(stack: Stack) -> None:
    httpx.post(f"{stack.service_url}/hooks/360dialog/made-up-hub/" + "x" * 30, content=b"{}")
    samples = scrape(stack.service_url)
    assert value(samples, "onboard360_partner_webhooks_total", hub="<unknown>", outcome="refused")
    assert not [key for key in samples if ("hub", "made-up-hub") in key[1]]


def test_metrics_token_guards_the_endpoint(database_url: str) -> None:
    with running_stack(database_url, metrics_token=METRICS_TOKEN) as stack:
        assert httpx.get(f"{stack.service_url}/metrics").status_code == 401
        wrong = httpx.get(f"{stack.service_url}/metrics", headers={"Authorization": "Bearer no"})
        assert wrong.status_code == 401
        samples = scrape(stack.service_url, Authorization=f"Bearer {METRICS_TOKEN}")
        assert value(samples, "onboard360_database_up") == 1


def test_metrics_are_off_unless_configured(database_url: str) -> None:
    with running_stack(database_url) as stack:
        answer = httpx.get(f"{stack.service_url}/metrics")
        assert answer.status_code == 404
        assert "metrics_token" in answer.json()["error"]["message"]
    with running_stack(database_url, metrics_public=True) as stack:
        assert value(scrape(stack.service_url, Accept="text/plain"), "onboard360_database_up") == 1


def test_an_unreachable_database_is_a_zero_not_a_failed_scrape(database_url: str) -> None:
    with running_stack(database_url, metrics_public=True) as stack:
        settings = stack.settings
    app = create_app(settings, "postgresql+psycopg://nobody@127.0.0.1:1/nowhere")
    with running(app) as base_url:
        samples = scrape(base_url, Accept="text/plain")
    assert value(samples, "onboard360_database_up") == 0
    assert ("onboard360_inbox_lag_seconds", ()) not in samples
