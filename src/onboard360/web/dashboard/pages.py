"""Rendering dashboard pages: one Jinja environment (autoescaped), one set of headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
STATIC = HERE / "static"

# Pages hold client data: never cached, never framed, never leaking a URL in a Referer;
# no inline script or style, so an injected tag could not run even if escaping failed.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}

# Any detail field with one of these in its name is shown as [redacted], whatever it holds:
# the timeline never stores a key, and the dashboard would not show one if it did.
SECRET_WORDS = ("api_key", "apikey", "token", "secret", "password", "ciphertext", "signature")


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["ago"] = ago
    env.filters["detail"] = detail_text
    return env


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = environment().get_template(name).render(**context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def render_error(status: int, message: str) -> HTMLResponse:
    return render("error.html", status, message=message, session=None)


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(value: datetime | None) -> str:
    if value is None:
        return "—"
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "[redacted]" if _secret_name(k) and not _harmless(v) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _secret_name(name: object) -> bool:
    lowered = str(name).lower()
    return any(word in lowered for word in SECRET_WORDS)


def _harmless(value: Any) -> bool:
    # "api_key_available": true, "key": "stored" and counts say nothing secret.
    return value is None or isinstance(value, bool | int)


def detail_text(value: Any) -> str:
    """A JSON detail, redacted, on one line (escaped by the template like any text)."""
    if not value:
        return ""
    text = json.dumps(redact(value), separators=(", ", ": "), sort_keys=True, default=str)
    return text if len(text) <= 400 else text[:399] + "…"
