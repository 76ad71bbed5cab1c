"""The platform's facts and our guesses about them, in one place.

Every guess is marked ``# unverified:``; see ../shared/docs/360dialog.md for sources.
"""

from __future__ import annotations

from typing import Final

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
# the sandbox sends {"id", "event", "created_at", "payload": {...}}.
# unverified: webhook signature encoding — HMAC-SHA256 over the raw body, lowercase hex.
SIGNATURE_HEADER: Final = "x-360dialog-signature"

# unverified: IO Signature — HMAC-SHA256 of "<partner_id>|<unix_seconds>", hex, valid ±5 min.
IO_SIGNATURE_TOLERANCE_SECONDS: Final = 300


# unverified: error body shape of the Partner API.
def error_body(http_code: int, message: str) -> dict[str, object]:
    return {"meta": {"http_code": http_code, "developer_message": message, "success": False}}


# unverified: status code when a key is refused (no permission / channel not running).
KEY_REFUSED_STATUS: Final = 403

# unverified: tokens from POST /token live 24 hours.
TOKEN_TTL_SECONDS: Final = 86_400

# unverified: test card numbers the payment form accepts (Stripe's well-known ones).
TEST_CARDS: Final = ("4242424242424242", "5555555555554444", "4000056655665556")
# and one that is declined, to exercise the error path.
DECLINED_CARD: Final = "4000000000000002"

# unverified: ids. Real partner ids are short strings ending in "PA"; client ids end in
# "CL" and channel ids in "CH" in examples seen in the docs.
PARTNER_ID_SUFFIX: Final = "PA"
CLIENT_ID_SUFFIX: Final = "CL"
CHANNEL_ID_SUFFIX: Final = "CH"
