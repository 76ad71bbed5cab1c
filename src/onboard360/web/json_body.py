"""Strict JSON for bodies we store in ``jsonb``: anything PostgreSQL would refuse, or
that is no honest webhook, is a precise 400 here — never a 5xx after the fact.

A 5xx would make 360dialog deliver the same poison body again and again; a 400 says at
once what is wrong. Refused, each with its own ``code``:

- an empty body, bytes that are not UTF-8 JSON, or JSON that is not an object;
- ``NaN``/``Infinity`` (Python reads them, JSON and ``jsonb`` do not);
- a ``\\u0000`` anywhere, or a lone UTF-16 surrogate (``\\ud800``): ``jsonb`` holds
  neither;
- nesting deeper than ``MAX_DEPTH`` (a real webhook nests two or three levels).
"""

from __future__ import annotations

import json
from typing import Any, Final

from onboard360.web.errors import ApiError

MAX_DEPTH: Final = 32


def _no_constants(name: str) -> Any:
    raise ApiError(400, "invalid_number", f"the body holds {name}, which JSON does not allow")


# Built once: json.loads with a keyword builds a new decoder per call (~8 µs of the
# webhook receiver's ~30, measured).
_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def decode_object(body: bytes, what: str = "the webhook body") -> dict[str, Any]:
    """The JSON object in ``body``, checked to fit ``jsonb``, or an ApiError (400)."""
    return decode_object_text(body, what)[0]


def decode_object_text(body: bytes, what: str = "the webhook body") -> tuple[dict[str, Any], str]:
    """``decode_object``, and the body's text: valid JSON that ``jsonb`` accepts as it is.

    The text is decoded like ``json.loads`` decodes bytes (UTF-8, with or without a BOM,
    or UTF-16/32), but strictly: an encoded lone surrogate is no valid UTF-8 and is
    refused as ``invalid_json`` rather than reaching PostgreSQL.
    """
    if not body.strip():
        raise ApiError(400, "empty_body", f"{what} is empty")
    try:
        text = body.decode(json.detect_encoding(body))
        data = _DECODER.decode(text)
    except RecursionError:
        raise ApiError(400, "too_deep", f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise ApiError(400, "invalid_json", f"{what} is not valid UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "not_an_object", f"{what} must be a JSON object")
    # Fast path for the common body: NUL and surrogates can only arrive as \u escapes
    # (raw, they are invalid JSON or invalid UTF-8), and depth needs that many brackets.
    if "\\u" in text or text.count("{") + text.count("[") > MAX_DEPTH:
        _check(data, what)
    return data, text


def _check(data: dict[str, Any], what: str) -> None:
    """Walk the value without recursion: depth, NUL characters and lone surrogates."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, what)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise ApiError(400, "too_deep", f"{what} nests deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    _check_text(key, what)
                stack.append((item, depth + 1))


def _check_text(text: str, what: str) -> None:
    if "\x00" in text:
        raise ApiError(400, "nul_character", f"{what} contains a \\u0000 character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400, "lone_surrogate", f"{what} contains an unpaired UTF-16 surrogate (\\ud800-\\udfff)"
        ) from None
