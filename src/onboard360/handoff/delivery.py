"""One signed delivery attempt of an event to the partner's product.

``deliver`` makes exactly one attempt and reports it; the job that calls it owns the
retry schedule (the spec suggests exponential backoff over days, with jitter). It never
raises for HTTP or transport failures, and neither its error text nor the excerpt of the
product's answer it keeps holds a secret, the payload's values or the URL (which may
carry a token of the product's own).

Outcome rules, after the spec's "Delivery success and failure":

- ``2xx``: delivered.
- ``410 Gone``: the product asks us to stop: not retryable; the caller should disable
  the endpoint (``DeliveryResult.gone``).
- every other status (3xx — redirects are not followed —, 4xx, 5xx), a timeout or a
  transport error: retryable, honouring ``retry_after`` when the product sent one.
  A 400 may well be our bug or theirs being fixed; retrying it is cheap, losing an
  event is not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import SecretStr

from onboard360.handoff.signing import SECRET_PREFIX, sign

# The spec recommends 15 to 30 seconds for the receiver to answer.
DEFAULT_TIMEOUT_SECONDS = 15.0
MAX_DETAIL_CHARS = 200
MAX_EXCERPT_BYTES = 200
REDACTED = "[redacted]"
# Payload values shorter than this are words like "running" or "granted": not worth hiding.
MIN_REDACTED_VALUE = 6


@dataclass(frozen=True)
class DeliveryResult:
    """What one attempt did. ``error`` is None when ``ok``; ``status`` is None when no
    HTTP answer came (timeout, connection refused, reset), and ``error_class`` then names
    the failure (``ConnectError``, ``ReadTimeout``…). ``excerpt``: the first bytes of the
    answer's body, redacted."""

    ok: bool
    status: int | None
    error: str | None
    duration_ms: float
    retry_after: float | None = None
    error_class: str | None = None
    excerpt: str | None = None

    @property
    def gone(self) -> bool:
        """The product answered 410: stop sending to this endpoint."""
        return self.status == 410

    @property
    def retryable(self) -> bool:
        return not self.ok and not self.gone


def event_body(event_type: str, payload: Mapping[str, Any], occurred_at: datetime) -> bytes:
    """The signed body: compact JSON in the spec's recommended ``type/timestamp/data`` shape."""
    if occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    timestamp = occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    envelope = {"type": str(event_type), "timestamp": timestamp, "data": dict(payload)}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


async def deliver(  # noqa: PLR0917 - the jobs' call shape: where, signed how, what
    client: httpx.AsyncClient,
    url: str,
    secrets: Sequence[str | SecretStr],
    msg_id: str,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    now: int,
    occurred_at: datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,  # noqa: ASYNC109 - one bound for connect+answer
) -> DeliveryResult:
    """POST one event to ``url``, signed with every secret, and report the outcome.

    ``msg_id`` must stay the same across retries of one event (the product deduplicates
    on it); ``now`` is this attempt's unix time (``webhook-timestamp``); ``occurred_at``
    is when the event happened (the body's ``timestamp``, default ``now``), so a retry
    changes only the timestamp header and the signature. ``timeout`` bounds the whole
    attempt. Raises only for a programming error: a bad secret (InvalidSecret), a bad id
    or payload (ValueError, TypeError), an invalid URL (httpx.InvalidURL).
    """
    when = occurred_at or datetime.fromtimestamp(now, UTC)
    body = event_body(event_type, payload, when)
    headers = sign(secrets, msg_id, now, body)
    headers["content-type"] = "application/json"
    started = time.perf_counter()

    def outcome(
        status: int | None,
        error: str | None,
        retry: float | None = None,
        *,
        error_class: str | None = None,
        excerpt: str | None = None,
    ) -> DeliveryResult:
        elapsed_ms = (time.perf_counter() - started) * 1000
        return DeliveryResult(error is None, status, error, elapsed_ms, retry, error_class, excerpt)

    try:
        async with (
            asyncio.timeout(timeout),
            client.stream(
                "POST", url, content=body, headers=headers, timeout=timeout, follow_redirects=False
            ) as response,
        ):
            status = response.status_code
            reason = response.reason_phrase
            retry_after_header = response.headers.get("retry-after")
            # Only the first bytes, for the delivery log; a product that echoes our body
            # back must not get it there (see _excerpt).
            head = await _read_head(response)
    except (httpx.TimeoutException, TimeoutError) as exc:
        name = type(exc).__name__
        return outcome(None, f"no answer within {timeout:g}s ({name})", error_class=name)
    except httpx.TransportError as exc:
        what = (
            "cannot connect to the receiver"
            if isinstance(exc, httpx.ConnectError)
            else "the connection to the receiver failed"
        )
        detail = _scrub(str(exc), url, secrets, body)
        name = type(exc).__name__
        return outcome(None, f"{what} ({name}: {detail})", error_class=name)
    excerpt = _excerpt(head, url, secrets, body, payload)
    if 200 <= status < 300:
        return outcome(status, None, excerpt=excerpt)
    retry = _retry_after(retry_after_header, now)
    return outcome(status, _describe_status(status, reason), retry, excerpt=excerpt)


async def _read_head(response: httpx.Response) -> bytes:
    head = b""
    async for chunk in response.aiter_raw():
        head += chunk
        if len(head) >= MAX_EXCERPT_BYTES:
            break
    return head[:MAX_EXCERPT_BYTES]


def _excerpt(
    head: bytes,
    url: str,
    secrets: Sequence[str | SecretStr],
    body: bytes,
    payload: Mapping[str, Any],
) -> str | None:
    """The answer's first bytes as text, with anything of ours in it blanked."""
    text = head.decode("utf-8", "replace").strip()
    if not text:
        return None
    if text in body.decode("utf-8", "replace"):
        return REDACTED  # an echo of (part of) what we sent
    values = [str(v) for v in payload.values() if isinstance(v, str) or type(v) is int]
    return _scrub(text, url, secrets, body, [v for v in values if len(v) >= MIN_REDACTED_VALUE])


def _describe_status(status: int, reason: str) -> str:
    text = f"HTTP {status} {reason}".rstrip()
    if status == 410:
        return f"{text}: the product asks to stop; disable deliveries to this endpoint"
    if 300 <= status < 400:
        return f"{text}: redirects are not followed; configure the final URL instead"
    return text


def _retry_after(value: str | None, now: int) -> float | None:
    """Seconds to wait, from ``Retry-After`` in seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _scrub(
    detail: str,
    url: str,
    secrets: Sequence[str | SecretStr],
    body: bytes,
    also: Sequence[str] = (),
) -> str:
    # Transport messages come from the OS and httpcore and should hold none of these;
    # this makes sure of it, whatever a future version decides to include.
    values = [s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets]
    sensitive = [url, body.decode("utf-8", "replace"), *also]
    sensitive += values + [v.strip().removeprefix(SECRET_PREFIX) for v in values]
    for value in sorted(filter(None, sensitive), key=len, reverse=True):
        detail = detail.replace(value, REDACTED)
    return detail[:MAX_DETAIL_CHARS] or "no detail"
