"""Handing events to the partner's product: Standard Webhooks signatures and delivery."""

from __future__ import annotations

from onboard360.handoff.delivery import DeliveryResult, deliver, event_body
from onboard360.handoff.signing import (
    InvalidSecret,
    SignatureError,
    generate_secret,
    secret_key,
    sign,
    verify,
)

__all__ = [
    "DeliveryResult",
    "InvalidSecret",
    "SignatureError",
    "deliver",
    "event_body",
    "generate_secret",
    "secret_key",
    "sign",
    "verify",
]
