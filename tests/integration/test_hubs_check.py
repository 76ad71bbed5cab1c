"""`onboard360 hubs check` against the sandbox and the running service: every ✓ and ✗."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from onboard360.handoff.signing import verify
from onboard360.runtime.serving import running
from onboard360.services.hub_checks import TEST_EVENT, check_database, check_public_url
from onboard360.web.app import create_app
from tests.integration.hub_commands import (
    ALLOW_HTTP,
    checks_of,
    hubs,
    nowhere,
    with_hub,
    with_settings,
)
from tests.integration.service_http import count
from tests.stack import Stack, running_stack

PP_CHECKS = [
    "Partner API credentials",
    "Partner Webhook URL at 360dialog",
    "Redirect URL at 360dialog",
    "partner webhook URL",
    "product 'default' webhook",
]


def test_a_hub_set_up_for_this_service_passes_every_check(stack: Stack) -> None:
    checks = checks_of(stack)

    assert list(checks) == PP_CHECKS
    assert all(c.ok for c in checks.values()), checks
    assert "accepted for StackPartPA (x-api-key)" in checks["Partner API credentials"].found
    assert "x-360dialog-signature" in checks["partner webhook URL"].found
    # The probe was authenticated and refused before anything was stored.
    assert count(stack, "inbox_events") == 0
    # The product got one signed test event, which it can verify like any other.
    (received,) = stack.product.requests()
    product = stack.settings.product("default")
    assert product is not None
    verify(product.webhook_secrets[0], received.headers, received.body, now=int(time.time()))
    assert json.loads(received.body)["type"] == TEST_EVENT


def test_wrong_credentials_are_a_401(stack: Stack) -> None:
    wrong = with_hub(stack, api_key=SecretStr("not-the-key-" + "x" * 20))
    checks = checks_of(wrong)

    refused = checks["Partner API credentials"]
    assert not refused.ok
    assert "refused them (401)" in refused.found
    assert "api_key" in refused.fix
    assert "Partner Webhook URL at 360dialog" not in checks


def test_another_hubs_credentials_are_a_403_about_the_partner_id(stack: Stack) -> None:
    other = with_hub(stack, api_key=stack.hub("dp").api_key)
    refused = checks_of(other)["Partner API credentials"]

    assert not refused.ok
    assert "not allowed on partner StackPartPA (403)" in refused.found
    assert "partner_id" in refused.fix


@pytest.mark.parametrize(
    ("fault", "found", "fix"),
    [
        ({"api_429_rate": 1.0, "api_retry_after_seconds": 7}, "rate-limiting (429)", "in 7 s"),
        ({"api_5xx_rate": 1.0}, "360dialog answered 5", "check again later"),
        ({"outage": True}, "360dialog answered 503", "check again later"),
    ],
)
def test_360dialog_failing_is_reported_not_waited_out(
    stack: Stack, fault: dict[str, object], found: str, fix: str
) -> None:
    for name, value in fault.items():
        setattr(stack.sandbox_hub("pp").faults, name, value)

    failed = checks_of(stack)["Partner API credentials"]

    assert not failed.ok
    assert found in failed.found
    assert fix in failed.fix


def test_an_unreachable_partner_api_is_named(stack: Stack) -> None:
    failed = checks_of(with_hub(stack, partner_api_url=f"{nowhere()}/api/v2"))[
        "Partner API credentials"
    ]
    assert not failed.ok
    assert "cannot reach" in failed.found
    assert "partner_api_url" in failed.fix


def test_urls_360dialog_holds_for_someone_else_point_to_connect(stack: Stack) -> None:
    hub = stack.sandbox_hub("pp")
    hub.webhook_url = None
    hub.redirect_url = "https://old.example.com/onboarding/done"

    checks = checks_of(stack)

    webhook, redirect = (
        checks["Partner Webhook URL at 360dialog"],
        checks["Redirect URL at 360dialog"],
    )
    assert not webhook.ok
    assert webhook.found.startswith("(not set), not http://")
    assert not redirect.ok
    assert redirect.found.startswith("https://old.example.com/onboarding/done, not ")
    assert webhook.fix == redirect.fix == "run `onboard360 hubs connect --hub pp`"


def test_a_webhook_secret_the_service_does_not_run_with_is_found(stack: Stack) -> None:
    other = with_hub(stack, webhook_secret=SecretStr(secrets.token_urlsafe(24)))
    probe = checks_of(other)["partner webhook URL"]

    assert not probe.ok
    assert "does not know this hub with this webhook_secret" in probe.found
    assert count(stack, "inbox_events") == 0


def test_a_platform_secret_the_service_does_not_run_with_is_found(stack: Stack) -> None:
    other = with_hub(stack, platform_secret=SecretStr(secrets.token_urlsafe(24)))
    probe = checks_of(other)["partner webhook URL"]

    assert not probe.ok
    assert "refuses this platform_secret (401 bad_signature)" in probe.found


@pytest.fixture
def header_stack(database_url: str) -> Iterator[Stack]:
    header = {"webhook_header": "Authorization", "webhook_header_value": SecretStr("h" * 30)}
    with running_stack(database_url, hub_overrides={"pp": header}) as s:
        yield s


def test_a_custom_header_is_checked_too(header_stack: Stack) -> None:
    assert "Authorization header" in checks_of(header_stack)["partner webhook URL"].found

    other = with_hub(header_stack, webhook_header_value=SecretStr("x" * 30))
    probe = checks_of(other)["partner webhook URL"]
    assert not probe.ok
    assert "refuses this webhook_header_value (401 bad_header)" in probe.found


def test_a_public_url_nothing_answers_at_fails_the_probes(stack: Stack) -> None:
    away = with_settings(stack, public_url=nowhere())
    probe = checks_of(away)["partner webhook URL"]
    assert not probe.ok
    assert "cannot reach" in probe.found
    assert "[redacted]" in probe.found
    assert stack.hub("pp").webhook_secret.get_secret_value() not in probe.found

    public = public_url_checks(away, allow_http=True)
    assert [c.ok for c in public] == [True, False]
    assert "cannot reach" in public[1].found


def test_a_product_that_fails_the_test_event_is_a_failure(stack: Stack) -> None:
    stack.product.answer_next(500)
    product = checks_of(stack)["product 'default' webhook"]

    assert not product.ok
    assert "500" in product.found
    assert "2xx" in product.fix


def test_a_product_without_webhook_url_reads_the_api(stack: Stack) -> None:
    products = [p.model_copy(update={"webhook_url": None}) for p in stack.settings.products]
    product = checks_of(with_settings(stack, products=products))["product 'default' webhook"]

    assert product.ok
    assert "REST API" in product.found
    assert stack.product.requests() == []


def public_url_checks(stack: Stack, *, allow_http: bool) -> list:  # type: ignore[type-arg]
    async def run() -> list:  # type: ignore[type-arg]
        async with httpx.AsyncClient() as http:
            return await check_public_url(stack.settings, http, allow_http=allow_http)

    return asyncio.run(run())


def test_public_url_must_be_https_unless_http_is_allowed(stack: Stack) -> None:
    strict = public_url_checks(stack, allow_http=False)
    assert not strict[0].ok
    assert strict[0].found.endswith("is not https")
    assert "https://" in strict[0].fix
    assert strict[1].ok  # it answers, over http

    assert public_url_checks(stack, allow_http=True)[0].ok
    https = public_url_checks(
        with_settings(stack, public_url="https://127.0.0.1:1"), allow_http=False
    )
    assert https[0].ok
    assert https[0].found == "https://127.0.0.1:1 is https"


def test_a_service_whose_database_is_not_ready_fails_readyz(stack: Stack) -> None:
    missing = stack.database_url.rpartition("/")[0] + "/o360_no_such_database"
    with running(create_app(stack.settings, missing)) as url:
        public = public_url_checks(with_settings(stack, public_url=url), allow_http=True)
    assert not public[1].ok
    assert public[1].found == "GET /readyz answered 503"
    assert "database check" in public[1].fix


def test_the_database_check(stack: Stack, template_database: str) -> None:
    settings = with_settings(stack, database_url=stack.database_url).settings
    assert check_database(settings).ok

    missing = stack.database_url.rpartition("/")[0] + "/o360_no_such_database"
    down = check_database(with_settings(stack, database_url=missing).settings)
    assert not down.ok
    assert "cannot connect to the database" in down.found


def test_the_command_prints_one_line_per_check_and_exits_0_when_all_pass(stack: Stack) -> None:
    done = hubs(stack, "check", ALLOW_HTTP)

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "✓ database: reachable, at this version's migration"
    assert "hub pp (StackPartPA):" in lines
    assert "hub dp (StackDirPA):" in lines
    assert sum(line.lstrip().startswith("✓") for line in lines) == 3 + 2 * len(PP_CHECKS)
    assert not [line for line in lines if "✗" in line]


def test_the_command_exits_1_with_the_fix_on_any_failure(stack: Stack) -> None:
    stack.sandbox_hub("pp").faults.outage = True

    done = hubs(stack, "check", "--hub", "pp")

    assert done.returncode == 1
    assert "✗ public_url: http://127.0.0.1:" in done.stdout
    assert "is not https — fix: set public_url to the https:// address" in done.stdout
    assert "  ✗ Partner API credentials: not checked: 360dialog answered 503" in done.stdout
    assert "hub dp" not in done.stdout
    assert "2 check(s) failed" in done.stderr
    assert stack.hub("pp").webhook_secret.get_secret_value() not in done.stdout


def test_an_unknown_hub_is_a_usage_error(stack: Stack) -> None:
    done = hubs(stack, "check", "--hub", "nope")
    assert done.returncode == 2
    assert "no hub named 'nope' is configured (configured: pp, dp)" in done.stderr
