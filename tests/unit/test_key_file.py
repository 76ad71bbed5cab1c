"""The file of keys a partner's current system holds: CSV or JSON, errors without keys."""

from __future__ import annotations

import pytest

from onboard360.services.adoption import AdoptionRefused
from onboard360.services.key_file import parse_held_keys

SECRET = "held-key-" + "s" * 30


def pairs(text: str) -> list[tuple[str, str]]:
    return [(k.channel_id, k.api_key.get_secret_value()) for k in parse_held_keys(text)]


def test_csv_lines_with_a_header_comments_and_blank_lines() -> None:
    text = f"channel_id,api_key\n# from the old system\n\nAAA1CH, {SECRET}\nBBB2CH,k2\n"
    assert pairs(text) == [("AAA1CH", SECRET), ("BBB2CH", "k2")]


def test_json_object_or_list() -> None:
    assert pairs(f'{{"AAA1CH": "{SECRET}"}}') == [("AAA1CH", SECRET)]
    listed = f'[{{"channel_id": "AAA1CH", "api_key": "{SECRET}"}}]'
    assert pairs(listed) == [("AAA1CH", SECRET)]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"AAA1CH,{SECRET},extra\n", "line 1"),
        (f"AAA1CH,k\n{SECRET}\n", "line 2"),
        ("# nothing\n", "names no channel"),
        (f'{{"AAA1CH": ["{SECRET}"]}}', "entry 1"),
        (f'[{{"channel_id": "AAA1CH", "key": "{SECRET}"}}]', "entry 1"),
        (f'{{"AAA1CH": "{SECRET}"', "not valid JSON"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_never_the_key(text: str, says: str) -> None:
    with pytest.raises(AdoptionRefused) as refused:
        parse_held_keys(text)
    assert says in str(refused.value)
    assert SECRET not in str(refused.value)
    assert SECRET not in repr(parse_held_keys("AAA1CH,k\n" + f"BBB2CH,{SECRET}"))
