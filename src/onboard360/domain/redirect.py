"""The popup's redirect: ``?client=<id>&channels=[<id>,<id>]&revoked=[<id>]&state=…``.

360dialog's docs say the brackets are literal and the lists carry no quotes and no
spaces. What actually reaches a partner's page is looser, and every variant below has
been seen or is one browser/proxy hop away, so all of them parse to the same result:

- brackets literal (``[a,b]``), URL-encoded (``%5Ba%2Cb%5D``) or encoded twice
  (``%255B…``: a redirect URL that was itself passed through a query parameter);
- empty lists (``[]``), a missing ``channels`` or ``revoked`` (both mean "none");
- whitespace around ids and after commas, ``+`` for a space, a trailing comma;
- quotes around ids (``["a","b"]``, ``['a']``): JSON-minded code on the way;
- a list without brackets (``channels=a,b``): tolerated, as a one-element list is
  sometimes written that way by hand-rolled buttons;
- the same id twice in one list: deduplicated, first occurrence's order kept;
- the query with or without its leading ``?`` (``location.search`` keeps it, the
  server-side query string does not).

Repeated parameters: the official button posts ``location.search`` to its opener, which
reloads itself with those parameters, so a query can carry a parameter twice. The rule:
a parameter may repeat only with the same meaning — the same client id, the same state,
the same *set* of channel ids (the first occurrence's order is kept). Anything else is a
RedirectError, because we cannot tell which one 360dialog meant.

Hostile input is refused with a RedirectError whose message says what was wrong without
echoing more than a short sanitized excerpt: bad ids, more than MAX_IDS ids in a list,
a query longer than MAX_QUERY_LENGTH, a channel both granted and revoked, no client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, TypeVar
from urllib.parse import parse_qsl, quote, unquote

from onboard360.domain.ids import ChannelId, ClientId, IdError, channel_id, client_id, excerpt

MAX_QUERY_LENGTH: Final = 8 * 1024
MAX_IDS: Final = 100
MAX_STATE_LENGTH: Final = 512
# Encoding layers peeled off list and id values beyond the one every query gets.
MAX_EXTRA_DECODES: Final = 3
# More fields than any honest redirect carries; bounds the work done on junk.
MAX_FIELDS: Final = 32

_LIST_PARAMS: Final = ("channels", "revoked")
_QUOTES: Final = ('"', "'")
_T = TypeVar("_T")


class RedirectError(ValueError):
    """The redirect is not a valid Integrated Onboarding redirect."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


@dataclass(frozen=True)
class RedirectResult:
    """What the popup reported: the client, the channels it shares now, those it revoked.

    ``state`` is the value the partner's page passed to the popup, echoed back
    (# unverified: for the real hub); None when absent.
    """

    client_id: ClientId
    channels: tuple[ChannelId, ...] = ()
    revoked: tuple[ChannelId, ...] = ()
    state: str | None = None


class ListStyle(StrEnum):
    """How a list of ids is written in a redirect; the parser accepts them all."""

    LITERAL = "literal"  # channels=[a,b]  (what the docs show)
    ENCODED = "encoded"  # channels=%5Ba%2Cb%5D
    DOUBLE_ENCODED = "double_encoded"  # channels=%255Ba%252Cb%255D
    QUOTED = "quoted"  # channels=[%22a%22,%22b%22]  i.e. ["a","b"]
    SPACED = "spaced"  # channels=[%20a,%20b%20]  i.e. [ a, b ]


def parse_redirect(query: str) -> RedirectResult:
    """Parse a redirect query string (with or without ``?``) into a RedirectResult."""
    if not isinstance(query, str):
        raise RedirectError(f"the redirect query must be a string, not {type(query).__name__}")
    if len(query) > MAX_QUERY_LENGTH:
        raise RedirectError(
            f"the redirect query is {len(query)} characters long; "
            f"at most {MAX_QUERY_LENGTH} are accepted"
        )
    text = query.strip().removeprefix("?")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise RedirectError(f"the redirect query has more than {MAX_FIELDS} parameters") from None
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        values.setdefault(name, []).append(value)

    client = _single(values, "client", _parse_client)
    if client is None:
        raise RedirectError(
            "the redirect has no client id: it must come from 360dialog's popup "
            "(…?client=<id>&channels=[<id>])"
        )
    channels = _single(values, "channels", _parse_list) or ()
    revoked = _single(values, "revoked", _parse_list) or ()
    both = [c for c in channels if c in set(revoked)]
    if both:
        raise RedirectError(
            f"channel {_names(both)} is listed both in channels and in revoked; "
            "a channel is either shared or revoked"
        )
    return RedirectResult(
        client_id=client,
        channels=channels,
        revoked=revoked,
        state=_single(values, "state", _parse_state),
    )


def format_redirect(
    result: RedirectResult, style: ListStyle = ListStyle.LITERAL, *, question_mark: bool = False
) -> str:
    """The query string 360dialog's popup would send for ``result``, in ``style``.

    ``revoked`` is written only when non-empty and ``state`` only when set, as the popup does.
    """
    parts = [f"client={result.client_id}", f"channels={_format_list(result.channels, style)}"]
    if result.revoked:
        parts.append(f"revoked={_format_list(result.revoked, style)}")
    if result.state is not None:
        parts.append(f"state={quote(result.state, safe='')}")
    return ("?" if question_mark else "") + "&".join(parts)


# ---- parameters ------------------------------------------------------------------------


def _single(
    values: dict[str, list[str]], name: str, parse: Callable[[str, str], _T | None]
) -> _T | None:
    """The parsed value of ``name``; repeats must agree (see the module docstring)."""
    raw = values.get(name)
    if not raw:
        return None
    parsed = [parse(value, name) for value in raw]
    first = parsed[0]
    for other in parsed[1:]:
        if _key(other) != _key(first):
            raise RedirectError(
                f"'{name}' appears {len(raw)} times with different values; send it once"
            )
    return first


def _key(value: object) -> object:
    return frozenset(value) if isinstance(value, tuple) else value


def _decode(value: str, name: str) -> str:
    """Peel extra URL-encoding layers off an id or list value (ids never contain ``%``)."""
    for _ in range(MAX_EXTRA_DECODES):
        if "%" not in value:
            return value
        value = unquote(value)
    if "%" in value:
        raise RedirectError(f"{name}: the value is encoded too many times or contains '%'")
    return value


def _strip_item(item: str) -> str:
    item = item.strip()
    for quote_char in _QUOTES:
        if len(item) >= 2 and item[0] == quote_char and item[-1] == quote_char:
            return item[1:-1].strip()
    return item


def _parse_client(value: str, name: str) -> ClientId | None:
    text = _strip_item(_decode(value, name))
    if not text:
        return None
    try:
        return client_id(text, name)
    except IdError as exc:
        raise RedirectError(str(exc)) from None


def _parse_list(value: str, name: str) -> tuple[ChannelId, ...]:
    text = _decode(value, name).strip()
    opens, closes = text.startswith("["), text.endswith("]")
    if opens != closes:
        raise RedirectError(
            f"{name}: {excerpt(text)} has an unbalanced bracket; expected [<id>,<id>]"
        )
    if opens:
        text = text[1:-1]
    items = [item for item in (_strip_item(part) for part in text.split(",")) if item]
    if len(items) > MAX_IDS:
        raise RedirectError(f"{name}: {len(items)} ids; at most {MAX_IDS} are accepted")
    ids: list[ChannelId] = []
    for index, item in enumerate(items):
        try:
            ids.append(channel_id(item, f"{name}[{index}]"))
        except IdError as exc:
            raise RedirectError(str(exc)) from None
    return tuple(dict.fromkeys(ids))


def _parse_state(value: str, name: str) -> str | None:
    if not value:
        return None
    if len(value) > MAX_STATE_LENGTH:
        raise RedirectError(
            f"{name}: {len(value)} characters; at most {MAX_STATE_LENGTH} are accepted"
        )
    if not all("!" <= c <= "~" for c in value):
        raise RedirectError(
            f"{name}: {excerpt(value)} contains spaces, control or non-ASCII characters"
        )
    return value


def _format_list(ids: Iterable[str], style: ListStyle) -> str:
    ids = list(ids)
    literal = "[" + ",".join(ids) + "]"
    if style is ListStyle.ENCODED:
        return quote(literal, safe="")
    if style is ListStyle.DOUBLE_ENCODED:
        return quote(quote(literal, safe=""), safe="")
    if style is ListStyle.QUOTED:
        return "[" + ",".join(f"%22{i}%22" for i in ids) + "]"
    if style is ListStyle.SPACED:
        return "[" + ",".join(f"%20{i}" for i in ids) + "%20]"
    return literal


def _names(ids: list[ChannelId]) -> str:
    shown = ", ".join(ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
