"""`onboard360 hubs connect` against the sandbox: what changes at 360dialog, and what not."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from onboard360.config.hubs import partner_webhook_url, redirect_url
from tests.integration.hub_commands import ALLOW_HTTP, hubs, with_hub
from tests.stack import Stack

OLD_REDIRECT = "https://old.example.com/onboarding/done"


def urls_at_360dialog(stack: Stack) -> tuple[str | None, str]:
    hub = stack.sandbox_hub("pp")
    return hub.webhook_url, hub.redirect_url


def wanted(stack: Stack) -> tuple[str, str]:
    hub = stack.hub("pp")
    return (
        partner_webhook_url(stack.settings.public_url, hub),
        redirect_url(stack.settings.public_url, hub),
    )


@pytest.fixture
def unset(stack: Stack) -> Stack:
    """The hub at 360dialog: no webhook URL, and a Redirect URL someone else set."""
    hub = stack.sandbox_hub("pp")
    hub.webhook_url = None
    hub.redirect_url = OLD_REDIRECT
    return stack


def test_connect_asks_before_overwriting_and_sets_both_urls(unset: Stack) -> None:
    done = hubs(unset, "connect", "--hub", "pp", ALLOW_HTTP, stdin="y\n")

    assert done.returncode == 0, done.stdout + done.stderr
    assert urls_at_360dialog(unset) == wanted(unset)
    assert "Partner Webhook URL: (not set) → http://127.0.0.1:" in done.stdout
    assert "/hooks/360dialog/pp/[redacted]" in done.stdout
    assert f"Redirect URL: {OLD_REDIRECT} → {wanted(unset)[1]}" in done.stdout
    assert "Overwrite the Redirect URL set at 360dialog now?" in done.stdout
    assert "✓ set Partner Webhook URL and Redirect URL" in done.stdout
    secret = unset.hub("pp").webhook_secret.get_secret_value()
    assert secret not in done.stdout + done.stderr


def test_connect_declined_changes_nothing(unset: Stack) -> None:
    done = hubs(unset, "connect", "--hub", "pp", ALLOW_HTTP, stdin="n\n")

    assert done.returncode == 1
    assert "error: nothing was changed" in done.stderr
    assert urls_at_360dialog(unset) == (None, OLD_REDIRECT)


def test_connect_with_yes_overwrites_without_asking(unset: Stack) -> None:
    done = hubs(unset, "connect", "--hub", "pp", ALLOW_HTTP, "--yes")

    assert done.returncode == 0, done.stderr
    assert "Overwrite" not in done.stdout
    assert urls_at_360dialog(unset) == wanted(unset)


def test_connect_sets_unset_urls_without_asking(stack: Stack) -> None:
    hub = stack.sandbox_hub("pp")
    hub.webhook_url = None

    done = hubs(stack, "connect", "--hub", "pp", ALLOW_HTTP)  # nothing on stdin

    assert done.returncode == 0, done.stderr
    assert "Overwrite" not in done.stdout
    assert f"Redirect URL: {wanted(stack)[1]} (unchanged)" in done.stdout
    assert "✓ set Partner Webhook URL\n" in done.stdout
    assert urls_at_360dialog(stack) == wanted(stack)


def test_connect_when_connected_changes_nothing(stack: Stack) -> None:
    done = hubs(stack, "connect", "--hub", "pp", ALLOW_HTTP)

    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("nothing to change\n")


def test_a_webhook_url_with_another_secret_is_shown_as_such(stack: Stack) -> None:
    stack.sandbox_hub("pp").webhook_url = wanted(stack)[0].rpartition("/")[0] + "/old-secret-x"

    done = hubs(stack, "connect", "--hub", "pp", ALLOW_HTTP, stdin="y\n")

    assert done.returncode == 0, done.stderr
    assert "[redacted] (another secret) → " in done.stdout
    assert "old-secret-x" not in done.stdout
    assert urls_at_360dialog(stack) == wanted(stack)


def test_connect_demands_https_unless_allowed(unset: Stack) -> None:
    done = hubs(unset, "connect", "--hub", "pp", "--yes")

    assert done.returncode == 1
    assert "is not https" in done.stderr
    assert urls_at_360dialog(unset) == (None, OLD_REDIRECT)


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ({"api_429_rate": 1.0}, "rate-limiting (429)"),
        ({"api_5xx_rate": 1.0}, "360dialog answered 5"),
        ({"outage": True}, "360dialog answered 503"),
    ],
)
def test_connect_while_360dialog_fails_changes_nothing(
    unset: Stack, fault: dict[str, object], said: str
) -> None:
    for name, value in fault.items():
        setattr(unset.sandbox_hub("pp").faults, name, value)

    done = hubs(unset, "connect", "--hub", "pp", ALLOW_HTTP, "--yes")

    assert done.returncode == 1
    assert said in done.stderr
    assert "(nothing was changed)" in done.stderr
    assert urls_at_360dialog(unset) == (None, OLD_REDIRECT)


@pytest.mark.parametrize(
    ("api_key", "said"),
    [("wrong", "refused them (401)"), ("dp", "not allowed on partner StackPartPA (403)")],
)
def test_connect_with_credentials_that_do_not_work_changes_nothing(
    unset: Stack, api_key: str, said: str
) -> None:
    key = unset.hub("dp").api_key if api_key == "dp" else SecretStr("wrong-key-" + "w" * 20)
    done = hubs(with_hub(unset, api_key=key), "connect", "--hub", "pp", ALLOW_HTTP, "--yes")

    assert done.returncode == 1
    assert said in done.stderr
    assert urls_at_360dialog(unset) == (None, OLD_REDIRECT)


def test_connect_names_an_unknown_hub(stack: Stack) -> None:
    done = hubs(stack, "connect", "--hub", "nope", ALLOW_HTTP)
    assert done.returncode == 2
    assert "no hub named 'nope'" in done.stderr
