from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard360.domain import EventError, EventKind, normalize_phone, parse_event
from tests.unit.domain.strategies import PROPERTY

CHANNEL = {
    "id": "A1CH",
    "client_id": "C1CL",
    "status": "running",
    "phone_number": "+49 170 1234567",
    "account_mode": "live",
    "fb_account_status": "verified",
    "created_at": "2026-01-02T03:04:05Z",
}


def _shapes(event: str, entity: dict[str, Any]) -> list[dict[str, Any]]:
    """The three shapes the docs hint at: nested under payload, under data, or flat."""
    return [
        {"id": "evt1", "event": event, "created_at": "2026-01-02T03:04:05Z", "payload": entity},
        {"event": event, "data": entity},
        {"event": event, **entity},
    ]


@pytest.mark.parametrize("body", _shapes("channel_running", CHANNEL))
def test_channel_fields_are_read_in_every_shape(body: dict[str, Any]) -> None:
    event = parse_event(body)
    assert event.kind is EventKind.CHANNEL_RUNNING
    assert event.channel_id == "A1CH"
    assert event.client_id == "C1CL"
    assert event.status == "running"
    assert event.phone_number == "+491701234567"
    assert event.account_mode == "live"
    assert event.fb_account_status == "verified"
    assert event.created_at == "2026-01-02T03:04:05Z"


def test_top_level_id_is_the_envelope_id_when_the_entity_is_nested() -> None:
    event = parse_event({"id": "evt1", "event": "channel_ready", "payload": {"id": "A1CH"}})
    assert event.event_id == "evt1"
    assert event.channel_id == "A1CH"


def test_flat_body_has_no_envelope_id() -> None:
    event = parse_event({"id": "A1CH", "event": "channel_ready"})
    assert event.event_id is None
    assert event.channel_id == "A1CH"


def test_explicit_channel_id_wins_over_entity_id() -> None:
    event = parse_event({"event": "channel_ready", "payload": {"id": "X", "channel_id": "A1CH"}})
    assert event.channel_id == "A1CH"


def test_client_created_reads_the_client_id_from_the_entity() -> None:
    event = parse_event({"event": "client_created", "payload": {"id": "C1CL", "name": "Acme"}})
    assert event.kind is EventKind.CLIENT_CREATED
    assert event.client_id == "C1CL"
    assert event.channel_id is None


@pytest.mark.parametrize("client", [{"id": "C1CL", "name": "Acme"}, "C1CL"])
def test_client_id_is_found_in_a_nested_client(client: object) -> None:
    event = parse_event({"event": "channel_created", "payload": {"id": "A1CH", "client": client}})
    assert event.client_id == "C1CL"


def test_phone_number_is_found_in_setup_info() -> None:
    body = {
        "event": "channel_created",
        "payload": {"id": "A1CH", "setup_info": {"phone_number": "4917012"}},
    }
    assert parse_event(body).phone_number == "+4917012"


def test_violation_names_only_the_phone_number() -> None:
    body = {
        "event": "account_violation",
        "payload": {"phone_number": " 49170", "violation_type": "SPAM"},
    }
    event = parse_event(body)
    assert event.kind is EventKind.ACCOUNT_VIOLATION
    assert event.channel_id is None
    assert event.phone_number == "+49170"
    assert event.violation_type == "spam"


def test_account_event_entity_id_is_not_taken_for_a_channel_id() -> None:
    event = parse_event({"event": "account_restriction", "payload": {"id": "R1"}})
    assert event.channel_id is None


@pytest.mark.parametrize("name", [k.value for k in EventKind if k is not EventKind.UNKNOWN])
def test_every_known_event_name_has_its_kind(name: str) -> None:
    entity = {"id": "A1CH", "client_id": "C1CL"}
    assert parse_event({"event": name, "payload": entity}).kind.value == name


def test_event_names_match_regardless_of_case() -> None:
    event = parse_event({"event": "Channel_Running", "payload": {"id": "A1CH"}})
    assert event.kind is EventKind.CHANNEL_RUNNING
    assert event.name == "Channel_Running"


def test_unknown_event_is_kept_with_everything_it_carried() -> None:
    body = {"event": "channel_renamed", "payload": {"id": "A1CH", "new_name": "Shop"}, "extra": [1]}
    event = parse_event(body)
    assert event.kind is EventKind.UNKNOWN
    assert event.name == "channel_renamed"
    assert event.raw == body
    assert event.entity == {"id": "A1CH", "new_name": "Shop"}


def test_unknown_event_is_read_best_effort() -> None:
    body = {"event": "whatever", "payload": {"channel_id": "<bad>", "status": ["x"]}}
    event = parse_event(body)
    assert event.channel_id is None
    assert event.status is None


def test_unknown_fields_of_a_known_event_are_preserved() -> None:
    body = {"event": "channel_running", "payload": {"id": "A1CH", "waba_account": {"id": "W"}}}
    event = parse_event(body)
    assert event.entity["waba_account"] == {"id": "W"}
    assert event.raw is body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "must be a JSON object, not an array"),
        ("channel_running", "must be a JSON object, not a string"),
        (None, "must be a JSON object, not null"),
        (3, "must be a JSON object, not a number"),
        ({}, "no 'event' field"),
        ({"payload": {"id": "A1CH"}}, "no 'event' field"),
        ({"event": 7}, "'event' must be a string, not a number"),
        ({"event": ["channel_running"]}, "'event' must be a string, not an array"),
        ({"event": "x" * 65}, "65 characters long; at most 64"),
        ({"event": ""}, "is not an event name"),
        ({"event": "channel running"}, "is not an event name"),
        ({"event": "<script>"}, "is not an event name"),
    ],
)
def test_malformed_body_is_an_event_error(body: object, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_event(body)


@pytest.mark.parametrize("name", ["channel_created", "channel_ready", "channel_running"])
def test_lifecycle_event_without_a_channel_id_is_an_error(name: str) -> None:
    with pytest.raises(EventError, match="no channel id"):
        parse_event({"event": name, "payload": {"client_id": "C1CL"}})


def test_client_created_without_a_client_id_is_an_error() -> None:
    with pytest.raises(EventError, match="no client id"):
        parse_event({"event": "client_created", "payload": {"name": "Acme"}})


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ({"id": "A1CH'; DROP TABLE channels;--"}, "channel_running: id: "),
        ({"id": "A1CH", "client_id": 12}, "expected a string id, got int"),
        ({"id": "A1CH", "status": "x" * 100}, "'status'"),
        ({"id": "A1CH", "status": {"value": "running"}}, "'status' <dict>"),
        ({"id": "A1CH", "phone_number": "call me"}, "'phone_number'"),
    ],
)
def test_known_event_with_malformed_fields_is_an_error(
    entity: dict[str, Any], message: str
) -> None:
    with pytest.raises(EventError, match=message):
        parse_event({"event": "channel_running", "payload": entity})


def test_error_message_never_echoes_the_hostile_value() -> None:
    hostile = "<svg onload=alert(1)>" * 10
    with pytest.raises(EventError) as caught:
        parse_event({"event": "channel_running", "payload": {"id": hostile}})
    assert "<" not in str(caught.value)
    assert "onload" not in str(caught.value)


def test_statuses_are_an_open_set() -> None:
    event = parse_event(
        {"event": "channel_ready", "payload": {"id": "A1CH", "status": "Pending Review"}}
    )
    assert event.status == "pending review"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+49 170 1234567", "+491701234567"),
        (" 491701234567", "+491701234567"),  # the button's unencoded '+'
        ("(030) 123-45.6", "+030123456"),
        (491701234567, "+491701234567"),
        ("", None),
        ("+", None),
        ("abc", None),
        ("1" * 21, None),
        (True, None),
        (None, None),
    ],
)
def test_normalize_phone(value: object, expected: str | None) -> None:
    assert normalize_phone(value) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@PROPERTY
@given(json_values)
def test_any_json_parses_or_raises_an_event_error(body: object) -> None:
    try:
        event = parse_event(body)
    except EventError as exc:
        message = str(exc)
    else:
        assert event.raw is body
        return
    assert len(message) < 200


@PROPERTY
@given(
    st.sampled_from(["channel_created", "channel_ready", "channel_running", "something_new"]),
    st.dictionaries(
        st.sampled_from(["id", "client_id", "status", "phone_number", "note", "payload", "data"]),
        json_values,
        max_size=6,
    ),
)
def test_any_event_object_parses_or_raises_an_event_error(
    name: str, fields: dict[str, Any]
) -> None:
    with contextlib.suppress(EventError):
        parse_event({"event": name, **fields})
