"""Keep secrets out of log lines: by field name, and by the shape of the value.

Field names first (``api_key=…``, ``authorization=…``): the value is replaced whatever it
is. Then every string — the message, each value, a formatted traceback, a stdlib record
from uvicorn, httpx or procrastinate — is scrubbed of the secret shapes this service
handles, wherever they appear in it:

- Standard Webhooks secrets (``whsec_…``), Fernet tokens (``gAAAAA…``) and Fernet keys
  (44 characters of url-safe base64 ending in ``=``);
- ``Bearer …`` / ``Basic …`` credentials;
- ``name: value`` / ``name=value`` pairs whose name says secret (``x-api-key``,
  ``D360-API-KEY``, ``password``, ``token``, ``"webhook_secret": "…"``);
- the password in a URL (``postgresql://user:…@host``) and the secret segment of our
  partner webhook URL (``/hooks/360dialog/{hub}/…``);
- an onboarding's ``state=`` / ``start=`` in a URL.

This is a safety net, not the first line: code must not log secrets in the first place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

REDACTED = "[redacted]"
_NAMES = r"api[_-]?key|password|passwd|secret|token|signature|authorization|cookie|d360"
# Any event field whose name looks like one of these never reaches a log line.
SECRET_FIELD = re.compile(rf"({_NAMES})", re.IGNORECASE)
_MAX_DEPTH = 6

_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), REDACTED),
    (re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}="), REDACTED),
    (re.compile(r"\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE), rf"\1\2{REDACTED}"),
    (
        re.compile(
            rf"\b([\w-]*(?:{_NAMES})[\w-]*)"  # a secret's name
            r"(\"?'?\s*[:=]\s*\"?'?)"  # its separator, JSON or header or query style
            rf"(?!\[redacted\]|bearer\b|basic\b)([^\s\"',;&}}\]]+)",
            re.IGNORECASE,
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"(://[^/\s:@]+):[^/\s@]+@"), rf"\1:{REDACTED}@"),
    (re.compile(r"(/hooks/360dialog/[^/\s]+/)[^/\s?\"']+"), rf"\1{REDACTED}"),
    # An onboarding's state in a URL (the popup's and the redirect's ``state``, our connect
    # page's ``start``): it ties a redirect to its attempt and opens its progress page, so
    # it is as good as a one-time credential until the attempt completes.
    (re.compile(r"([?&](?:amp;)?(?:state|start)=)[^&#\s\"']+"), rf"\1{REDACTED}"),
)


def scrub(text: str) -> str:
    """``text`` with every secret-shaped part replaced by ``[redacted]``."""
    for pattern, replacement in _VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            key: REDACTED if SECRET_FIELD.search(str(key)) else _clean(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, depth + 1) for item in value]
    # Whatever the renderer would repr(): scrub that text instead.
    return scrub(repr(value))


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: secret fields replaced, every value scrubbed (run it last
    before the renderer, after tracebacks are formatted)."""
    for key in list(event_dict):
        if SECRET_FIELD.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _clean(event_dict[key], 0)
    return event_dict
