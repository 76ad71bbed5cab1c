"""The keys a partner's current system holds, as a file an operator hands to adoption.

Read from a file or stdin, never the command line (shell history, process lists). Errors
name the line or entry, never its content: a line may hold a key.
"""

from __future__ import annotations

import json

from pydantic import SecretStr

from onboard360.services.adoption import AdoptionRefused, HeldKey


def parse_held_keys(text: str) -> list[HeldKey]:
    """``channel_id,api_key`` lines (CSV, ``#`` comments, an optional header) or JSON: an
    object ``{channel_id: api_key}`` or a list of ``{"channel_id", "api_key"}``. Errors
    name the line or entry, never its content."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        return _json_keys(stripped)
    keys = []
    for number, raw in enumerate(stripped.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line.replace(" ", "") == "channel_id,api_key":
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not all(parts):
            raise AdoptionRefused(
                f"line {number}: expected 'channel_id,api_key'; nothing was done",
                code="bad_key_file",
            )
        keys.append(HeldKey(parts[0], SecretStr(parts[1])))
    if not keys:
        raise AdoptionRefused("the key file names no channel", code="bad_key_file")
    return keys


def _json_keys(text: str) -> list[HeldKey]:
    try:
        data = json.loads(text)
    except ValueError:
        raise AdoptionRefused("the key file is not valid JSON", code="bad_key_file") from None
    pairs = list(data.items()) if isinstance(data, dict) else data
    keys = []
    for n, entry in enumerate(pairs):
        pair = entry
        if isinstance(entry, dict) and set(entry) == {"channel_id", "api_key"}:
            pair = (entry["channel_id"], entry["api_key"])
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise AdoptionRefused(
                f"entry {n + 1}: expected a channel and a key", code="bad_key_file"
            )
        if not all(isinstance(p, str) and p for p in pair):
            raise AdoptionRefused(
                f"entry {n + 1}: expected a channel and a key", code="bad_key_file"
            )
        keys.append(HeldKey(pair[0], SecretStr(pair[1])))
    if not keys:
        raise AdoptionRefused("the key file names no channel", code="bad_key_file")
    return keys
