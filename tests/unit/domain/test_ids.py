from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard360.domain import IdError, channel_id, client_id, is_valid_id, partner_id
from onboard360.domain.ids import excerpt, validate_id
from tests.unit.domain.strategies import PROPERTY, ids


@pytest.mark.parametrize("value", ["ABC123CL", "a", "x_y-z", "4F2A9B01CH", "A" * 64])
def test_valid_ids_are_returned_unchanged(value: str) -> None:
    assert client_id(value) == value
    assert channel_id(value) == value
    assert partner_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "abc def",
        "abc\n",
        "abc\x00",
        "' OR 1=1 --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
        "ａｂｃ",  # fullwidth letters
        "abc٣",  # Arabic-Indic digit: \d would accept it
        "abc\u200b",  # zero-width space
        "ab\u202ecd",  # right-to-left override
        "A" * 65,
        "%5B",
        "a,b",
    ],
)
def test_hostile_ids_are_rejected(value: str) -> None:
    with pytest.raises(IdError):
        channel_id(value)
    assert not is_valid_id(value)


@pytest.mark.parametrize("value", [None, 42, 4.2, ["a"], {"id": "a"}, b"abc", True])
def test_non_string_ids_are_rejected_with_their_type(value: object) -> None:
    with pytest.raises(IdError, match="expected a string id"):
        client_id(value)


def test_error_names_the_field() -> None:
    with pytest.raises(IdError) as caught:
        client_id("bad id", "client")
    assert caught.value.field == "client"
    assert str(caught.value).startswith("client: ")


def test_empty_id_says_it_is_empty() -> None:
    with pytest.raises(IdError, match="channel_id: is empty"):
        channel_id("")


def test_long_id_reports_its_length_not_its_value() -> None:
    with pytest.raises(IdError) as caught:
        channel_id("Z" * 10_000)
    assert "10000 characters" in str(caught.value)
    assert "ZZZZZZZZZZZZZZZZZZ" not in str(caught.value)


def test_error_shows_only_a_sanitized_excerpt() -> None:
    with pytest.raises(IdError) as caught:
        channel_id("<script>alert(document.cookie)</script>")
    message = str(caught.value)
    assert "<" not in message
    assert "cookie" not in message
    assert "?script?alert?d" in message


def test_excerpt_cuts_long_values_and_gives_their_length() -> None:
    assert excerpt("a" * 40) == "'aaaaaaaaaaaaaaaa…' (40 chars)"
    assert excerpt("ok") == "'ok'"
    assert excerpt(None) == "<NoneType>"


@PROPERTY
@given(ids)
def test_every_well_formed_id_is_accepted(value: str) -> None:
    assert validate_id(value, "id") == value


@PROPERTY
@given(st.text(max_size=200))
def test_any_text_is_accepted_or_refused_with_a_short_message(value: str) -> None:
    try:
        validate_id(value, "id")
    except IdError as exc:
        message = str(exc)
    else:
        assert is_valid_id(value)
        return
    assert len(message) < 200
    assert all((c.isascii() and c.isprintable()) or c == "…" for c in message)
