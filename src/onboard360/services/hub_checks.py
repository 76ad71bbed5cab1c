"""`onboard360 hubs check`: is this configuration ready for a real Partner Hub?

Each check answers one ``Check``: passed or not, what was found, and for a failure what to
do. Nothing here changes anything, at 360dialog or here: the Partner API is asked once
per hub (``GET /partners/{pid}``, no retries, so a 429 or a 5xx is reported, not waited
out), the partner webhook URL is probed with a body the receiver refuses *after*
authenticating it (so nothing is stored), and the product gets one signed test event it
should acknowledge and ignore (docs/events.md).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

from onboard360.config.hubs import HubConfig, partner_webhook_url, redirect_url
from onboard360.config.settings import Settings
from onboard360.handoff.delivery import deliver
from onboard360.hub import HubError, PartnerAPI, RetryPolicy
from onboard360.hub.errors import HubAuthError, HubNotFound, HubRateLimited, HubUnavailable
from onboard360.hub.platform import SIGNATURE_HEADER
from onboard360.hub.signatures import webhook_signature
from onboard360.runtime.redaction import scrub
from onboard360.wiring.service import hub_auth

PROBE_SECONDS = 10.0
# One attempt: a check reports what 360dialog answers now instead of retrying it away.
ONE_ATTEMPT = RetryPolicy(attempts=1, timeout=PROBE_SECONDS)
TEST_EVENT = "onboard360.test"
CONNECT_HINT = "run `onboard360 hubs connect --hub {hub}`"


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    found: str
    fix: str = ""


def partner_api(hub: HubConfig, http: httpx.AsyncClient) -> PartnerAPI:
    """The hub's Partner API client for one-off commands: one attempt per call."""
    return PartnerAPI(
        hub.partner_id, hub_auth(hub), base_url=hub.partner_api_url, client=http, retry=ONE_ATTEMPT
    )


def hub_error(hub: HubConfig, exc: HubError) -> Check:
    """The failed Partner API call as a check: 401 and 403 told apart, and what to do."""
    what = "Partner API credentials"
    if isinstance(exc, HubAuthError):
        return Check(
            False,
            what,
            "360dialog refused them (401)",
            "set the hub's api_key (or username and password) to a current Partner API key "
            "of this hub (Partner Hub → API Keys)",
        )
    if exc.status == 403:
        return Check(
            False,
            what,
            f"valid, but not allowed on partner {hub.partner_id} (403)",
            "partner_id must be this hub's own id (Partner Hub → Integration), and the "
            "credentials this hub's",
        )
    if isinstance(exc, HubRateLimited):
        wait = f"{exc.retry_after:g} s" if exc.retry_after else "a minute"
        return Check(False, what, "360dialog is rate-limiting (429)", f"check again in {wait}")
    if isinstance(exc, HubUnavailable) and exc.status is not None:
        return Check(
            False,
            what,
            f"not checked: 360dialog answered {exc.status}",
            "360dialog is having trouble: check again later",
        )
    if isinstance(exc, HubUnavailable):
        return Check(
            False,
            what,
            f"not checked: cannot reach {hub.partner_api_url} ({exc})",
            "check partner_api_url and this machine's network",
        )
    hint = "check partner_id and partner_api_url" if isinstance(exc, HubNotFound) else ""
    return Check(False, what, str(exc), hint)


def shown(url: str | None) -> str:
    """A URL for a terminal: the webhook URL's secret segment never appears."""
    return scrub(url) if url else "(not set)"


def _setting_at_360dialog(what: str, hub: HubConfig, current: Any, wanted: str) -> Check:
    if current == wanted:
        return Check(True, what, f"{shown(wanted)}")
    found = f"{shown(current if isinstance(current, str) else None)}, not {shown(wanted)}"
    return Check(False, what, found, CONNECT_HINT.format(hub=hub.name))


async def _partner(settings: Settings, hub: HubConfig, http: httpx.AsyncClient) -> list[Check]:
    try:
        partner = await partner_api(hub, http).get_partner()
    except HubError as exc:
        return [hub_error(hub, exc)]
    # Credentials of another partner are refused with 403 (hub_error): an answer means
    # partner_id is theirs.
    how = "x-api-key" if hub.api_key is not None else "token"
    checks = [Check(True, "Partner API credentials", f"accepted for {hub.partner_id} ({how})")]
    checks.append(
        _setting_at_360dialog(
            "Partner Webhook URL at 360dialog",
            hub,
            partner.get("webhook_url"),
            partner_webhook_url(settings.public_url, hub),
        )
    )
    checks.append(
        _setting_at_360dialog(
            "Redirect URL at 360dialog",
            hub,
            partner.get("partner_redirect_url"),
            redirect_url(settings.public_url, hub),
        )
    )
    return checks


def _error_code(answer: httpx.Response) -> str | None:
    try:
        error = answer.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None


async def _receiver(settings: Settings, hub: HubConfig, http: httpx.AsyncClient) -> Check:
    """Probe the partner webhook URL the way 360dialog calls it, with an empty body: the
    receiver authenticates before it reads a body, so ``400 empty_body`` proves the path
    secret, the signature and the custom header pass, and stores nothing."""
    what = "partner webhook URL"
    url = partner_webhook_url(settings.public_url, hub)
    body = b""
    headers: dict[str, str] = {}
    proofs = ["secret path"]
    if hub.platform_secret is not None:
        headers[SIGNATURE_HEADER] = webhook_signature(hub.platform_secret.get_secret_value(), body)
        proofs.append(f"{SIGNATURE_HEADER} (platform_secret)")
    if hub.webhook_header and hub.webhook_header_value is not None:
        headers[hub.webhook_header] = hub.webhook_header_value.get_secret_value()
        proofs.append(f"{hub.webhook_header} header")
    try:
        answer = await http.post(url, content=body, headers=headers, timeout=PROBE_SECONDS)
    except httpx.HTTPError as exc:
        return Check(False, what, f"cannot reach {shown(url)} ({type(exc).__name__})", _SERVE_FIX)
    code = _error_code(answer)
    if answer.status_code == 400 and code == "empty_body":
        return Check(True, what, f"{shown(url)} accepts 360dialog's {', '.join(proofs)}")
    if answer.status_code == 404:
        found = "the service there does not know this hub with this webhook_secret"
    elif code in {"bad_signature", "bad_header"}:
        secret = "platform_secret" if code == "bad_signature" else "webhook_header_value"
        found = f"the service there refuses this {secret} ({answer.status_code} {code})"
    else:
        found = f"{shown(url)} answered {answer.status_code}: is public_url this service?"
    return Check(False, what, found, "run serve with this same configuration, and restart it")


_SERVE_FIX = "run `onboard360 serve` there, reachable at public_url (proxy, DNS, TLS)"


async def _product(settings: Settings, hub: HubConfig, http: httpx.AsyncClient) -> Check:
    product = settings.product(hub.product)
    what = f"product {hub.product!r} webhook"
    if product is None or not product.webhook_url:
        return Check(True, what, "no webhook_url: the product reads events from the REST API")
    result = await deliver(
        http,
        product.webhook_url,
        product.webhook_secrets,
        f"msg_check_{secrets.token_hex(8)}",
        TEST_EVENT,
        {"hub": hub.name, "partner_id": hub.partner_id},
        now=int(time.time()),
        timeout=PROBE_SECONDS,
    )
    if result.ok:
        return Check(True, what, f"answered {result.status} to a signed {TEST_EVENT} event")
    return Check(
        False,
        what,
        f"a signed {TEST_EVENT} event got: {result.error}",
        "the product must answer 2xx to events it does not know (verify, then ignore them)",
    )


async def check_hub(settings: Settings, hub: HubConfig, http: httpx.AsyncClient) -> list[Check]:
    """Every check of one hub, in the order a person fixes them."""
    return [
        *await _partner(settings, hub, http),
        await _receiver(settings, hub, http),
        await _product(settings, hub, http),
    ]


async def check_public_url(
    settings: Settings, http: httpx.AsyncClient, *, allow_http: bool
) -> list[Check]:
    """public_url is https (360dialog and browsers reach it) and answers from here."""
    url = settings.public_url
    if url.startswith("https://"):
        checks = [Check(True, "public_url", f"{url} is https")]
    elif allow_http:
        checks = [Check(True, "public_url", f"{url} is http, allowed by --allow-http")]
    else:
        fix = "set public_url to the https:// address of your TLS proxy"
        checks = [Check(False, "public_url", f"{url} is not https", fix)]
    try:
        answer = await http.get(f"{url}/readyz", timeout=PROBE_SECONDS)
    except httpx.HTTPError as exc:
        found = f"cannot reach {url}/readyz ({type(exc).__name__})"
        return [*checks, Check(False, "public_url from here", found, _SERVE_FIX)]
    if answer.status_code == 200:
        return [*checks, Check(True, "public_url from here", "GET /readyz answered 200")]
    found = f"GET /readyz answered {answer.status_code}"
    fix = "serve is up but not ready: see the database check" if answer.status_code == 503 else ""
    return [*checks, Check(False, "public_url from here", found, fix or _SERVE_FIX)]


def check_database(settings: Settings) -> Check:
    """The database answers and is at this version's migration."""
    from onboard360.db.engine import (  # noqa: PLC0415 - alembic only when checking
        DatabaseNotReady,
        check_database,
        database_url,
        describe_database_error,
    )

    url = ""
    try:
        url = database_url(settings)
        check_database(url)
    except DatabaseNotReady as exc:
        return Check(False, "database", str(exc))
    except Exception as exc:
        return Check(False, "database", describe_database_error(exc, url))
    return Check(True, "database", "reachable, at this version's migration")
