"""The platform's facts and our guesses about them, in one place.

Every guess is marked ``# unverified:``; see ../shared/docs/360dialog.md for sources.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote, urlsplit, urlunsplit

# The official button's env="local" opens http://localhost:8082/dashboard/app/{partner_id}.
DEFAULT_PORT: Final = 8082

# unverified: channel statuses. The docs name `ready` and `running` and call the set open;
# `pending` before `ready` and the terminal ones are our choice.
STATUS_PENDING: Final = "pending"
STATUS_READY: Final = "ready"
STATUS_RUNNING: Final = "running"
STATUS_SUSPENDED: Final = "suspended"
STATUS_TERMINATED: Final = "terminated"
CHANNEL_STATUSES: Final = (
    STATUS_PENDING,
    STATUS_READY,
    STATUS_RUNNING,
    STATUS_SUSPENDED,
    STATUS_TERMINATED,
)

# Lifecycle steps a channel moves through and the partner webhook each one sends.
LIFECYCLE_EVENTS: Final = {
    STATUS_PENDING: "channel_created",
    STATUS_READY: "channel_ready",
    STATUS_RUNNING: "channel_running",
}

# Events the sandbox can send on demand (besides the lifecycle ones and client_created).
ON_DEMAND_EVENTS: Final = (
    "account_violation",
    "account_restriction",
    "template_messaging_enabled",
    "template_messaging_disabled",
)
ALL_EVENTS: Final = ("client_created", *LIFECYCLE_EVENTS.values(), *ON_DEMAND_EVENTS)

FB_ACCOUNT_STATUSES: Final = (
    "verified",
    "not_verified",
    "rejected",
    "pending_submission",
    "failed",
    "pending",
    "pending_need_more_info",
)
ACCOUNT_MODES: Final = ("sandbox", "live")

# unverified: webhook envelope. The docs put the event name in a top-level `event` field;
# the sandbox sends {"id", "event", "created_at", "payload": {...}} (entities.OutgoingEvent).
# unverified: webhook signature encoding — HMAC-SHA256 over the raw body, lowercase hex.
SIGNATURE_HEADER: Final = "x-360dialog-signature"

# unverified: 360dialog documents no retry schedule and no event id. The sandbox retries a
# failed delivery with exponential backoff (webhooks.DeliverySettings: 6 attempts, 1 s base,
# 60 s cap) and gives each event an `id`; an injected duplicate follows its original at once.

# unverified: account_violation and account_restriction carry the channel's fields plus
# `violation_type` (doc names `phone_number` and `violation_type`); Meta's types are not
# listed, so the sandbox sends this one unless told otherwise.
DEFAULT_VIOLATION_TYPE: Final = "SPAM"

# GET /partners/{pid} answers the partner object with `id`, `webhook_url` and
# `partner_redirect_url` (doc: Partner API reference, "Retrieve partner"); PATCH answers it
# too (code).
# unverified: shapes of the objects inside payloads and lists (entities.py): the partner
# object names its billing model `billing_model`; a client carries `contact_info: {"email"}`,
# `status` (always this one) and `partner_payload: null`; a channel's `waba_account.status`
# is always "approved".
CLIENT_STATUS: Final = "active"
WABA_ACCOUNT_STATUS: Final = "approved"

# unverified: a client unsharing a number, or taking API-key permission away, also revokes
# the keys the partner generated for it (the old key stops working on the Messaging API).

# unverified: IO Signature — HMAC-SHA256 of "<partner_id>|<unix_seconds>", hex, valid ±5 min.
IO_SIGNATURE_TOLERANCE_SECONDS: Final = 300


# unverified: error body shape of the Partner API.
def error_body(http_code: int, message: str) -> dict[str, object]:
    return {"meta": {"http_code": http_code, "developer_message": message, "success": False}}


# unverified: status code when a key is refused (no permission / channel not running).
KEY_REFUSED_STATUS: Final = 403

# unverified: tokens from POST /token live 24 hours.
TOKEN_TTL_SECONDS: Final = 86_400
# unverified: POST /token also answers a `refresh_token`; the sandbox has no refresh
# endpoint and never accepts one.

# unverified: test card numbers the payment form accepts (Stripe's well-known ones).
TEST_CARDS: Final = ("4242424242424242", "5555555555554444", "4000056655665556")
# and one that is declined, to exercise the error path.
DECLINED_CARD: Final = "4000000000000002"

# unverified: ids. Real partner ids are short strings ending in "PA"; client ids end in
# "CL" and channel ids in "CH" in examples seen in the docs.
PARTNER_ID_SUFFIX: Final = "PA"
CLIENT_ID_SUFFIX: Final = "CL"
CHANNEL_ID_SUFFIX: Final = "CH"

# ---- Partner API and Messaging API (partner_api.py, messaging.py, auth.py, faults.py) ----

# unverified: a hub's valid credentials used on another partner's id (existing or not)
# answer 403, so a caller learns nothing about which partner ids exist.
OTHER_PARTNER_STATUS: Final = 403

# unverified: list paging bounds and default order; the docs show `-created_at` as an example.
LIST_LIMIT_DEFAULT: Final = 20
LIST_LIMIT_MAX: Final = 1000
LIST_SORT_DEFAULT: Final = "-created_at"
# unverified: fields `sort` accepts (a leading "-" sorts descending).
CHANNEL_SORT_FIELDS: Final = ("created_at", "id", "status")
CLIENT_SORT_FIELDS: Final = ("created_at", "id", "name", "status")
# Filter keys of the channel list are from client code; `email` on clients is unverified.
# unverified: filter values are single strings compared for equality (no lists, no operators).
CHANNEL_FILTER_KEYS: Final = ("id", "client_id", "status", "account_mode")
CLIENT_FILTER_KEYS: Final = ("id", "status", "email")
# unverified: the clients `email` filter compares case-insensitively.
# unverified: the channel list shows every channel onboarded through the hub, also those the
# client did not share or took back; only key generation is refused for them.

# unverified: POST .../api_keys answers 201; `address` is the messaging base URL (the sandbox's
# own base URL) and `app_id` is the channel id.
API_KEY_CREATED_STATUS: Final = 201

# unverified: GET /v1/configs/webhook answers {"url": ...} (null when none is set), never the
# custom headers, which may hold the partner's secrets.

# unverified: which 5xx answers an unhealthy API gives, and their share (uniform).
API_5XX_STATUSES: Final = (500, 502, 503)

# ---- Integrated Onboarding popup (popup.py, popup_forms.py, popup_flow.py) ----------------

# unverified: a `redirect_url` query parameter is honoured only when its origin (scheme, host,
# port) equals the origin of the hub's configured Redirect URL; any other is refused with an
# error page, never followed.
# unverified: `channels` lists every number the client shares when the popup ends (new ones
# and earlier ones left ticked on the permission screen); `revoked` the earlier ones it
# unticked; `state` is echoed last, URL-encoded, when the button sent one.
# unverified: Cancel closes the popup without a redirect (the official button has no cancel
# callback), and nothing is created in the hub.
# unverified: a returning client (`next=login`) logs in by email alone in the sandbox.
# unverified: the popup opens for a hub without a Partner Webhook URL (the docs require one
# first); its webhooks are then logged as `skipped`.
# unverified: Direct Payment prices shown on the price page are illustrative.
PRICE_LINES: Final = (
    ("WhatsApp Business API, per number", "€49 / month"),
    ("Conversations", "billed by Meta at its published rates"),
)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of an absolute URL, lower-cased; "" when it has none."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return ""
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError:
        return ""
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + ("" if port == default else f":{port}")


def onboarding_redirect(
    base_url: str,
    client_id: str,
    channel_ids: list[str],
    revoked_ids: list[str],
    state: str | None,
) -> str:
    """The URL the popup ends on: ``client=…&channels=[a,b]`` (brackets literal, no quotes)."""
    parts = urlsplit(base_url)
    ours = f"client={client_id}&channels=[{','.join(channel_ids)}]"
    if revoked_ids:
        ours += f"&revoked=[{','.join(revoked_ids)}]"
    if state:
        ours += f"&state={quote(state, safe='')}"
    query = f"{parts.query}&{ours}" if parts.query else ours
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))
