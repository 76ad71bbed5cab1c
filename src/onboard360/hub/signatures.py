"""360dialog's HMAC signatures, shared by the sandbox (signing) and the service (checking).

Both use the hub's *platform secret*. The encodings (HMAC-SHA256, lowercase hex) are our
guess, marked with the other guesses in ``hub/platform.py``.
"""

from __future__ import annotations

import hashlib
import hmac

from onboard360.hub.platform import IO_SIGNATURE_TOLERANCE_SECONDS


def webhook_signature(platform_secret: str, body: bytes) -> str:
    """The ``x-360dialog-signature`` value for a raw webhook body."""
    return hmac.new(platform_secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_signature_valid(platform_secret: str, body: bytes, signature: str | None) -> bool:
    return webhook_signature_matches(platform_secret.encode(), body, signature)


def webhook_signature_matches(key: bytes, body: bytes, signature: str | None) -> bool:
    """``webhook_signature_valid`` with the secret already encoded (the receiver's hot path).

    One-shot ``hmac.digest`` (OpenSSL, no HMAC object per call), compared in constant time.
    """
    if not signature:
        return False
    expected = hmac.digest(key, body, "sha256").hex()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def io_signature(platform_secret: str, partner_id: str, unix_seconds: int) -> str:
    """The popup's ``io_signature`` for ``<partner_id>|<unix_seconds>`` (doc)."""
    message = f"{partner_id}|{unix_seconds}".encode()
    return hmac.new(platform_secret.encode(), message, hashlib.sha256).hexdigest()


def io_signature_problem(
    platform_secret: str,
    partner_id: str,
    signature: str | None,
    timestamp: str | None,
    *,
    now_seconds: int,
    tolerance: int = IO_SIGNATURE_TOLERANCE_SECONDS,
) -> str | None:
    """None when the popup opening is signed correctly and recently, else what is wrong."""
    if not signature or not timestamp:
        return "the popup was opened without an IO Signature"
    # ASCII digits only: "²".isdigit() is true, but int("²") fails.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return "io_timestamp is not a unix timestamp"
    if abs(now_seconds - int(timestamp)) > tolerance:
        return "the IO Signature has expired; open the popup again from the partner's page"
    expected = io_signature(platform_secret, partner_id, int(timestamp))
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        return "the IO Signature does not match"
    return None
