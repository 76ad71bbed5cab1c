"""Partner webhooks, normalised: a decoded JSON body in, a typed PartnerEvent out.

The event name is in a top-level ``event`` field (doc). Where the entity's fields live is
# unverified: the docs show them at top level, under ``payload`` and under ``data`` in
different places; the sandbox sends ``{"id", "event", "created_at", "payload": {…}}``.
So each field is looked up in ``payload``, then ``data``, then the top level. The
top-level ``id`` is the entity's id only when there is no ``payload``/``data`` object;
otherwise it is the envelope's (delivery) id.

Nothing is dropped: an unknown event name is still a PartnerEvent (kind UNKNOWN), and
every event keeps its raw body, so fields we do not model yet stay available. A body
that is not an event at all (not an object, no usable event name) is an EventError.

Known events are read strictly (a channel_running without a channel id, or with a
malformed id, is an error: it means our guess about the shape is wrong and must be
surfaced, not silently ignored). Unknown events are read best-effort.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, TypeVar

from onboard360.domain.ids import (
    ChannelId,
    ClientId,
    IdError,
    channel_id,
    client_id,
    excerpt,
)

MAX_EVENT_NAME_LENGTH: Final = 64
MAX_TEXT_LENGTH: Final = 64
MAX_PHONE_DIGITS: Final = 20

_EVENT_NAME = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_EVENT_NAME_LENGTH}}}")
_TEXT = re.compile(rf"[A-Za-z0-9_ .-]{{1,{MAX_TEXT_LENGTH}}}")
# The official button does not URL-encode `number`, so `+49…` arrives as ` 49…`.
_PHONE = re.compile(r"[0-9+ ().-]{1,32}")
_CONTAINERS: Final = ("payload", "data")
_T = TypeVar("_T")


class EventError(ValueError):
    """The partner webhook body is not a 360dialog event."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class EventKind(StrEnum):
    """The partner webhook events we understand; anything else is UNKNOWN."""

    CLIENT_CREATED = "client_created"
    CHANNEL_CREATED = "channel_created"
    CHANNEL_READY = "channel_ready"
    CHANNEL_RUNNING = "channel_running"
    ACCOUNT_VIOLATION = "account_violation"
    ACCOUNT_RESTRICTION = "account_restriction"
    TEMPLATE_MESSAGING_ENABLED = "template_messaging_enabled"
    TEMPLATE_MESSAGING_DISABLED = "template_messaging_disabled"
    UNKNOWN = "unknown"


# Events whose entity is a channel: their entity `id` is the channel id.
CHANNEL_ENTITY_EVENTS: Final = frozenset(
    {
        EventKind.CHANNEL_CREATED,
        EventKind.CHANNEL_READY,
        EventKind.CHANNEL_RUNNING,
        EventKind.TEMPLATE_MESSAGING_ENABLED,
        EventKind.TEMPLATE_MESSAGING_DISABLED,
    }
)
# Events the lifecycle cannot place without a channel id.
CHANNEL_ID_REQUIRED: Final = frozenset(
    {EventKind.CHANNEL_CREATED, EventKind.CHANNEL_READY, EventKind.CHANNEL_RUNNING}
)
_KINDS: Final = {kind.value: kind for kind in EventKind if kind is not EventKind.UNKNOWN}


@dataclass(frozen=True)
class PartnerEvent:
    """One partner webhook, with the fields the lifecycle needs pulled out.

    ``name`` is the event name exactly as sent; ``kind`` is its known meaning.
    Text fields are stripped and lowercased; ``phone_number`` is ``+`` and digits.
    ``created_at`` is kept as sent: the domain has no clock and does not parse time.
    """

    kind: EventKind
    name: str
    event_id: str | None = None
    client_id: ClientId | None = None
    channel_id: ChannelId | None = None
    status: str | None = None
    phone_number: str | None = None
    violation_type: str | None = None
    account_mode: str | None = None
    fb_account_status: str | None = None
    created_at: str | None = None
    entity: Mapping[str, Any] = field(default_factory=dict, repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


def parse_event(body: Any) -> PartnerEvent:
    """Normalise a decoded partner webhook body, or raise EventError saying why not."""
    if not isinstance(body, dict):
        raise EventError(f"the webhook body must be a JSON object, not {_json_type(body)}")
    name = body.get("event")
    if name is None:
        raise EventError("the webhook body has no 'event' field naming the event")
    if not isinstance(name, str):
        raise EventError(f"'event' must be a string, not {_json_type(name)}")
    if len(name) > MAX_EVENT_NAME_LENGTH:
        raise EventError(
            f"'event' is {len(name)} characters long; at most {MAX_EVENT_NAME_LENGTH} are allowed"
        )
    if not _EVENT_NAME.fullmatch(name):
        raise EventError(
            f"'event' {excerpt(name)} is not an event name: use letters, digits, '_', '.', ':', '-'"
        )
    kind = _KINDS.get(name.lower(), EventKind.UNKNOWN)
    return _Reader(body, kind).event(name)


class _Reader:
    """Looks fields up in payload, data, then the top level."""

    def __init__(self, body: dict[str, Any], kind: EventKind) -> None:
        self.body = body
        self.kind = kind
        self.strict = kind is not EventKind.UNKNOWN
        self.containers = [body[c] for c in _CONTAINERS if isinstance(body.get(c), dict)]
        self.nested = bool(self.containers)
        self.entity: dict[str, Any] = (
            self.containers[0] if self.nested else {k: v for k, v in body.items() if k != "event"}
        )

    def event(self, name: str) -> PartnerEvent:
        event = PartnerEvent(
            kind=self.kind,
            name=name,
            event_id=self._envelope_id(),
            client_id=self._client_id(),
            channel_id=self._channel_id(),
            status=self._text("status"),
            phone_number=self._phone(),
            violation_type=self._text("violation_type"),
            account_mode=self._text("account_mode"),
            fb_account_status=self._text("fb_account_status"),
            created_at=self._created_at(),
            entity=self.entity,
            raw=self.body,
        )
        if self.kind in CHANNEL_ID_REQUIRED and event.channel_id is None:
            raise EventError(f"{name}: no channel id (looked for 'channel_id' and the entity 'id')")
        if self.kind is EventKind.CLIENT_CREATED and event.client_id is None:
            raise EventError(f"{name}: no client id (looked for 'client_id' and the entity 'id')")
        return event

    def lookup(self, key: str) -> Any:
        for container in (*self.containers, self.body):
            if key in container and container[key] is not None:
                return container[key]
        return None

    def _entity_id(self) -> Any:
        return self.entity.get("id")

    def _envelope_id(self) -> str | None:
        value = self.body.get("id") if self.nested else None
        return value if isinstance(value, str) and len(value) <= MAX_TEXT_LENGTH else None

    def _client_id(self) -> ClientId | None:
        entity_is_client = self.kind is EventKind.CLIENT_CREATED
        return self._id("client", entity_is_client, client_id)

    def _channel_id(self) -> ChannelId | None:
        return self._id("channel", self.kind in CHANNEL_ENTITY_EVENTS, channel_id)

    def _id(self, name: str, entity_is_it: bool, check: Callable[[object, str], _T]) -> _T | None:
        """``<name>_id``, else the entity's ``id`` when the entity is one, else a nested
        ``<name>`` (an object with an ``id``, or the id itself)."""
        value, source = self.lookup(f"{name}_id"), f"{name}_id"
        if value is None and entity_is_it:
            value, source = self._entity_id(), "id"
        if value is None:
            nested = self.lookup(name)
            value = nested.get("id") if isinstance(nested, dict) else nested
            source = name
        return self._valid(value, source, check)

    def _valid(self, value: Any, source: str, check: Callable[[object, str], _T]) -> _T | None:
        if value is None:
            return None
        try:
            return check(value, f"{self.kind.value}: {source}")
        except IdError as exc:
            if self.strict:
                raise EventError(str(exc)) from None
            return None

    def _text(self, key: str) -> str | None:
        value = self.lookup(key)
        if value is None:
            return None
        word = normalize_word(value)
        if word is not None:
            return word
        if self.strict:
            raise EventError(f"{self.kind.value}: '{key}' {excerpt(value)} is not a short word")
        return None

    def _phone(self) -> str | None:
        value = self.lookup("phone_number")
        if value is None:
            setup = self.lookup("setup_info")
            value = setup.get("phone_number") if isinstance(setup, dict) else None
        if value is None:
            return None
        phone = normalize_phone(value)
        if phone is None and self.strict:
            raise EventError(f"{self.kind.value}: 'phone_number' {excerpt(value)} is not a number")
        return phone

    def _created_at(self) -> str | None:
        value = self.lookup("created_at")
        return value if isinstance(value, str) and len(value) <= MAX_TEXT_LENGTH else None


def normalize_word(value: object) -> str | None:
    """A short stripped, lowercased word (a status, a mode), or None when it is not one."""
    if isinstance(value, str) and _TEXT.fullmatch(value.strip()):
        return value.strip().lower()
    return None


def normalize_phone(value: object) -> str | None:
    """``+`` and the digits of a phone number, or None when it is not one.

    Tolerates spaces, dashes, dots, brackets and a leading space where ``+`` was lost.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _PHONE.fullmatch(value.strip()):
        return None
    digits = "".join(c for c in value if c.isdigit())
    if not 1 <= len(digits) <= MAX_PHONE_DIGITS:
        return None
    return "+" + digits


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
