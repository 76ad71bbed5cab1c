"""Standard Webhooks signatures (https://www.standardwebhooks.com, symmetric ``v1``).

A message is signed as ``HMAC-SHA256(key, f"{msg_id}.{timestamp}.{body}")`` where the key
is the base64-decoded part of a ``whsec_…`` secret, and sent as three headers:
``webhook-id`` (stable across retries: the receiver's idempotency key),
``webhook-timestamp`` (unix seconds of this attempt) and ``webhook-signature`` (a
space-separated list of ``v1,<base64 signature>``, one per secret, so a secret can be
rotated with an overlap: the receiver accepts any signature made with its secret).
Receivers can check them with any official Standard Webhooks library; ``verify`` here is
for our own demo product.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from secrets import token_bytes

from pydantic import SecretStr

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's marker, not a secret
SIGNATURE_VERSION = "v1"
# The spec: "Random. At least 24 bytes (192 bits, 512 maximum)".
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
GENERATED_SECRET_BYTES = 32
DEFAULT_TOLERANCE_SECONDS = 300

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class InvalidSecret(ValueError):
    """A webhook secret is not ``whsec_`` followed by base64 of 24 to 64 random bytes."""


class SignatureError(Exception):
    """A webhook's Standard Webhooks headers do not prove it came from the sender."""


def generate_secret() -> str:
    """A new signing secret to give the partner's product: ``whsec_`` + base64(32 bytes)."""
    raw = token_bytes(GENERATED_SECRET_BYTES)
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def secret_key(secret: str | SecretStr) -> bytes:
    """The HMAC key inside a ``whsec_`` secret; InvalidSecret (without the value) if bad."""
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    encoded = value.strip().removeprefix(SECRET_PREFIX)
    # Official libraries accept unpadded base64, so do we.
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret(
            "a webhook secret is not base64 after its whsec_ prefix; "
            "make one with onboard360.handoff.generate_secret()"
        ) from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise InvalidSecret(
            f"a webhook secret must hold {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} random "
            f"bytes, this one holds {len(key)}; make one with generate_secret()"
        )
    return key


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def _check_id(msg_id: str) -> None:
    # The spec: ids must not contain "." (it delimits the signed content).
    if not msg_id or "." in msg_id or any(ch.isspace() for ch in msg_id):
        raise ValueError("a webhook id must be non-empty, without '.' or whitespace")


def sign(
    secrets: Sequence[str | SecretStr], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed with every secret."""
    if isinstance(secrets, str | SecretStr) or not secrets:
        raise InvalidSecret("sign with a non-empty list of webhook secrets")
    _check_id(msg_id)
    signatures = " ".join(
        f"{SIGNATURE_VERSION},"
        + base64.b64encode(_signature(secret_key(s), msg_id, timestamp, body)).decode("ascii")
        for s in secrets
    )
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(int(timestamp)),
        HEADER_SIGNATURE: signatures,
    }


def verify(
    secret: str | SecretStr,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Return if ``headers`` carry a valid ``v1`` signature of ``body`` made with ``secret``
    less than ``tolerance`` seconds from ``now``; otherwise raise SignatureError saying why.
    """
    key = secret_key(secret)
    found = {name.lower(): value for name, value in headers.items()}
    msg_id = found.get(HEADER_ID, "")
    stamp = found.get(HEADER_TIMESTAMP, "")
    offered = found.get(HEADER_SIGNATURE, "")
    if not (msg_id and stamp and offered):
        raise SignatureError(
            f"missing {HEADER_ID}, {HEADER_TIMESTAMP} or {HEADER_SIGNATURE} header"
        )
    if not stamp.isdigit() or len(stamp) > 12:
        raise SignatureError(f"{HEADER_TIMESTAMP} is not unix seconds")
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"{HEADER_TIMESTAMP} is more than {tolerance}s away from now (a replay, or a "
            "clock out of sync)"
        )
    expected = _signature(key, msg_id, timestamp, body)
    for entry in offered.split():
        version, _, encoded = entry.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, candidate):
            return
    raise SignatureError("no signature matches this secret")
