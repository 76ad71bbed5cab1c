"""360dialog ids as they arrive from outside: redirects, webhooks, Partner API answers.

An id is one to 64 ASCII letters, digits, ``_`` or ``-``. That covers every id seen in
360dialog's docs and code (partner ids end in ``PA``, client ids in ``CL``, channel ids
in ``CH``) and nothing that could carry markup, a path, a quote or a control character
into a log line, a SQL statement or a page. The suffixes are not enforced: they are
# unverified: and a real id without one must still be accepted.

Validation is strict on purpose: callers that want to tolerate whitespace or quotes
around an id (the redirect parser does) strip them first. Errors name the field and show
at most a short, sanitized excerpt of the value, never the value itself.
"""

from __future__ import annotations

import re
from typing import Final, NewType

ClientId = NewType("ClientId", str)
ChannelId = NewType("ChannelId", str)
PartnerId = NewType("PartnerId", str)

MAX_ID_LENGTH: Final = 64
EXCERPT_LENGTH: Final = 16

# Explicit ASCII classes: `\w` and `\d` would let in Unicode letters and digits (`٣`, `ｃ`).
ID_PATTERN: Final = rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}"
_ID = re.compile(ID_PATTERN)
_SAFE_CHAR = re.compile(r"[A-Za-z0-9_-]")


class IdError(ValueError):
    """Not a valid 360dialog id."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def excerpt(value: object, limit: int = EXCERPT_LENGTH) -> str:
    """A short, log- and HTML-safe rendering of an untrusted value, for error messages.

    Only id-safe characters survive; everything else becomes ``?``. Long values are cut
    and their length given, so a huge or hostile value never reaches a message in full.
    """
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    shown = "".join(c if _SAFE_CHAR.fullmatch(c) else "?" for c in value[:limit])
    if len(value) > limit:
        return f"'{shown}…' ({len(value)} chars)"
    return f"'{shown}'"


def validate_id(value: object, field: str) -> str:
    """``value`` if it is a well-formed id, else IdError naming ``field``."""
    if not isinstance(value, str):
        raise IdError(field, f"expected a string id, got {type(value).__name__}")
    if not value:
        raise IdError(field, "is empty")
    if len(value) > MAX_ID_LENGTH:
        raise IdError(
            field, f"is {len(value)} characters long, at most {MAX_ID_LENGTH} are allowed"
        )
    if not _ID.fullmatch(value):
        raise IdError(
            field,
            f"{excerpt(value)} is not a valid id: use only ASCII letters, digits, '_' and '-'",
        )
    return value


def is_valid_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def client_id(value: object, field: str = "client_id") -> ClientId:
    """A validated client id."""
    return ClientId(validate_id(value, field))


def channel_id(value: object, field: str = "channel_id") -> ChannelId:
    """A validated channel id."""
    return ChannelId(validate_id(value, field))


def partner_id(value: object, field: str = "partner_id") -> PartnerId:
    """A validated partner (hub) id."""
    return PartnerId(validate_id(value, field))
