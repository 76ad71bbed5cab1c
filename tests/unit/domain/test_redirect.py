from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard360.domain import (
    MAX_IDS,
    MAX_QUERY_LENGTH,
    ChannelId,
    ClientId,
    ListStyle,
    RedirectError,
    RedirectResult,
    format_redirect,
    parse_redirect,
)
from tests.unit.domain.strategies import PROPERTY, channel_ids, client_ids, states

CL = ClientId("C1CL")
A, B, C = ChannelId("A1CH"), ChannelId("B2CH"), ChannelId("C3CH")


def _result(channels: tuple[str, ...] = (), revoked: tuple[str, ...] = (), state=None):
    return RedirectResult(
        CL,
        tuple(ChannelId(c) for c in channels),
        tuple(ChannelId(c) for c in revoked),
        state,
    )


@pytest.mark.parametrize(
    "query",
    [
        "client=C1CL&channels=[A1CH,B2CH]",
        "?client=C1CL&channels=[A1CH,B2CH]",
        "client=C1CL&channels=%5BA1CH%2CB2CH%5D",
        "client=C1CL&channels=%5bA1CH%2cB2CH%5d",
        "client=C1CL&channels=%255BA1CH%252CB2CH%255D",
        "client=C1CL&channels=%25255BA1CH%25252CB2CH%25255D",
        "client=C1CL&channels=[A1CH, B2CH]",
        "client=C1CL&channels=[ A1CH , B2CH ]",
        "client=C1CL&channels=[A1CH,+B2CH]",
        "client=C1CL&channels=[A1CH,B2CH,]",
        'client=C1CL&channels=["A1CH","B2CH"]',
        "client=C1CL&channels=[%22A1CH%22,%22B2CH%22]",
        "client=C1CL&channels=['A1CH', 'B2CH']",
        "client=C1CL&channels=[A1CH,B2CH,A1CH]",
        "client=C1CL&channels=[A1CH,,B2CH]",
        "client=C1CL&channels=A1CH,B2CH",
        "channels=[A1CH,B2CH]&client=C1CL",
        "  ?client=C1CL&channels=[A1CH,B2CH]  ",
        "client=C1CL&channels=[A1CH,B2CH]&partner=anything&utm_source=x",
        "client=%20C1CL%20&channels=[A1CH,B2CH]",
    ],
)
def test_every_form_seen_in_the_wild_parses_the_same(query: str) -> None:
    assert parse_redirect(query) == _result(("A1CH", "B2CH"))


@pytest.mark.parametrize(
    "query",
    [
        "client=C1CL",
        "client=C1CL&channels=[]",
        "client=C1CL&channels=",
        "client=C1CL&channels=[ , ]",
    ],
)
def test_missing_or_empty_channels_mean_none(query: str) -> None:
    assert parse_redirect(query) == _result()


def test_revoked_channels_are_parsed() -> None:
    result = parse_redirect("client=C1CL&channels=[A1CH]&revoked=%5BB2CH,C3CH%5D")
    assert result.channels == (A,)
    assert result.revoked == (B, C)


def test_state_is_kept_and_decoded_once() -> None:
    assert parse_redirect("client=C1CL&state=abc%2Fdef").state == "abc/def"
    assert parse_redirect("client=C1CL&state=a%2541").state == "a%41"


def test_empty_state_is_none() -> None:
    assert parse_redirect("client=C1CL&state=").state is None


def test_duplicates_keep_first_order() -> None:
    result = parse_redirect("client=C1CL&channels=[B2CH,A1CH,B2CH,C3CH,A1CH]")
    assert result.channels == (B, A, C)


def test_repeated_parameter_with_same_meaning_is_accepted() -> None:
    query = "client=C1CL&channels=[A1CH,B2CH]&client=C1CL&channels=%5BB2CH,A1CH%5D"
    assert parse_redirect(query) == _result(("A1CH", "B2CH"))


@pytest.mark.parametrize(
    "query",
    [
        "client=C1CL&client=C2CL",
        "client=C1CL&channels=[A1CH]&channels=[B2CH]",
        "client=C1CL&revoked=[A1CH]&revoked=[]",
        "client=C1CL&state=x&state=y",
    ],
)
def test_repeated_parameter_with_conflicting_values_is_refused(query: str) -> None:
    with pytest.raises(RedirectError, match="appears 2 times with different values"):
        parse_redirect(query)


@pytest.mark.parametrize(
    "query", ["", "?", "channels=[A1CH]", "client=&channels=[A1CH]", "client=%22%22"]
)
def test_missing_client_is_refused(query: str) -> None:
    with pytest.raises(RedirectError, match="no client id"):
        parse_redirect(query)


def test_channel_both_granted_and_revoked_is_refused() -> None:
    with pytest.raises(RedirectError, match="A1CH is listed both in channels and in revoked"):
        parse_redirect("client=C1CL&channels=[A1CH,B2CH]&revoked=[A1CH]")


def test_too_many_ids_are_refused() -> None:
    many = ",".join(f"X{i}" for i in range(MAX_IDS + 1))
    with pytest.raises(RedirectError, match=f"{MAX_IDS + 1} ids; at most {MAX_IDS}"):
        parse_redirect(f"client=C1CL&channels=[{many}]")


def test_exactly_the_maximum_number_of_ids_is_accepted() -> None:
    many = ",".join(f"X{i}" for i in range(MAX_IDS))
    assert len(parse_redirect(f"client=C1CL&channels=[{many}]").channels) == MAX_IDS


def test_too_long_a_query_is_refused_before_parsing() -> None:
    with pytest.raises(RedirectError, match="at most 8192"):
        parse_redirect("client=C1CL&state=" + "x" * MAX_QUERY_LENGTH)


def test_too_many_parameters_are_refused() -> None:
    with pytest.raises(RedirectError, match="more than 32 parameters"):
        parse_redirect("client=C1CL" + "&x=1" * 40)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("client=C1CL&channels=[A1CH,<script>]", "channels[1]"),
        ("client=C1CL&channels=[A1CH]&revoked=[x'OR'1]", "revoked[0]"),
        ("client=C1CL%3Cb%3E&channels=[A1CH]", "client"),
        ("client=C1CL&channels=[%E2%80%AEA1CH]", "channels[0]"),
        ("client=C1CL&channels=[[A1CH]]", "channels[0]"),
        ("client=C1CL&channels=[a b]", "channels[0]"),
        ("client=C1CL&channels=[" + "Z" * 65 + "]", "channels[0]"),
    ],
)
def test_bad_id_is_refused_naming_its_place(query: str, field: str) -> None:
    with pytest.raises(RedirectError) as caught:
        parse_redirect(query)
    assert str(caught.value).startswith(f"{field}: ")


def test_unbalanced_bracket_is_refused() -> None:
    with pytest.raises(RedirectError, match="unbalanced bracket"):
        parse_redirect("client=C1CL&channels=[A1CH,B2CH")


def test_value_encoded_too_many_times_is_refused() -> None:
    with pytest.raises(RedirectError, match="encoded too many times"):
        parse_redirect("client=C1CL&channels=%2525252525255BA1CH%2525252525255D")


@pytest.mark.parametrize("state", ["a b", "a\x00", "caf\u00e9", "x" * 513])
def test_unsafe_state_is_refused(state: str) -> None:
    with pytest.raises(RedirectError, match=r"^state: "):
        parse_redirect(f"client=C1CL&state={quote(state)}")


def test_non_string_query_is_refused() -> None:
    with pytest.raises(RedirectError, match="must be a string"):
        parse_redirect(b"client=C1CL")  # type: ignore[arg-type]


def test_error_never_echoes_the_hostile_value() -> None:
    hostile = "<img src=x onerror=alert(document.cookie)>" * 3
    with pytest.raises(RedirectError) as caught:
        parse_redirect(f"client=C1CL&channels=[{hostile}]")
    message = str(caught.value)
    assert "<" not in message
    assert "onerror" not in message
    assert len(message) < 160


def test_format_writes_the_documented_form() -> None:
    result = _result(("A1CH", "B2CH"), ("C3CH",), "st")
    assert format_redirect(result) == "client=C1CL&channels=[A1CH,B2CH]&revoked=[C3CH]&state=st"
    assert format_redirect(_result(), question_mark=True) == "?client=C1CL&channels=[]"


@st.composite
def redirect_results(draw: st.DrawFn) -> RedirectResult:
    distinct = draw(st.lists(channel_ids, unique=True, max_size=MAX_IDS))
    split = draw(st.integers(0, len(distinct)))
    return RedirectResult(
        client_id=draw(client_ids),
        channels=tuple(distinct[:split]),
        revoked=tuple(distinct[split:]),
        state=draw(st.none() | states),
    )


@PROPERTY
@given(redirect_results(), st.sampled_from(ListStyle), st.booleans())
def test_format_then_parse_round_trips_in_every_encoding(
    result: RedirectResult, style: ListStyle, question_mark: bool
) -> None:
    query = format_redirect(result, style, question_mark=question_mark)
    assert parse_redirect(query) == result


@PROPERTY
@given(redirect_results(), st.sampled_from(ListStyle))
def test_repeating_the_whole_query_changes_nothing(
    result: RedirectResult, style: ListStyle
) -> None:
    query = format_redirect(result, style)
    assert parse_redirect(f"{query}&{query}") == result


@PROPERTY
@given(st.lists(channel_ids, min_size=1, max_size=20))
def test_duplicates_are_removed_keeping_first_occurrence(channels: list[ChannelId]) -> None:
    query = "client=C1CL&channels=[" + ",".join(channels) + "]"
    assert parse_redirect(query).channels == tuple(dict.fromkeys(channels))


@PROPERTY
@given(st.text(max_size=300))
def test_any_text_parses_or_raises_a_redirect_error(query: str) -> None:
    try:
        parse_redirect(query)
    except RedirectError as exc:
        message = str(exc)
    else:
        return
    assert len(message) < 300
