"""What the popup accepts: query parameters and form fields, each bounded and validated.

Every check raises ``Invalid`` with a message the person in the popup can act on; the
value itself is never echoed into an error (it may be hostile or huge).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from starlette.datastructures import FormData

from onboard360.hub import platform as p

MAX_QUERY_VALUE = 2048
MAX_FORM_FIELDS = 60
MAX_NUMBERS = 10
NAME_MAX = 200
EMAIL_MAX = 254
PHONE_NAME_MAX = 100

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")
CHANNEL_ID_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")


class Invalid(ValueError):
    """A query parameter or form field the popup refuses; the message says what to do."""


@dataclass(frozen=True)
class PopupParams:
    """The query parameters the popup was opened with (see 360dialog.md)."""

    number: str = ""
    email: str = ""
    name: str = ""
    state: str = ""
    redirect_url: str = ""
    partner: str = ""
    login: bool = False
    plan_selection: str = ""
    hosting_type: str = ""
    io_signature: str = ""
    io_timestamp: str = ""


def parse_params(query: Mapping[str, str]) -> PopupParams:
    values: dict[str, str] = {}
    for name in (
        "number",
        "email",
        "name",
        "state",
        "redirect_url",
        "partner",
        "next",
        "plan_selection",
        "hosting_type",
        "io_signature",
        "io_timestamp",
    ):
        value = query.get(name, "")
        if len(value) > MAX_QUERY_VALUE:
            raise Invalid(f"the query parameter {name!r} is longer than {MAX_QUERY_VALUE} chars")
        values[name] = value
    nxt = values.pop("next")
    return PopupParams(**values, login=nxt == "login")


def prefill_number(raw: str) -> str:
    """The ``number`` parameter as a form value: the button does not URL-encode it, so
    ``+4915…`` arrives as `` 4915…``; give back ``+4915…`` when it looks like a number."""
    try:
        return phone_number(raw)
    except Invalid:
        return _clean_text(raw)[:32]


def phone_number(raw: str) -> str:
    """An E.164 number from what a person (or the button's unencoded ``+``) typed."""
    text = raw.strip()
    if len(text) > 32:
        raise Invalid("a phone number is at most 15 digits")
    compact = re.sub(r"[\s().-]", "", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        compact = "+" + compact
    if not E164_RE.match(compact):
        raise Invalid(
            "enter the number in international format: + and country code, "
            "8 to 15 digits, e.g. +4915123456789"
        )
    return compact


def _clean_text(value: str) -> str:
    """Trimmed, without control characters."""
    return "".join(ch for ch in value if unicodedata.category(ch)[0] != "C").strip()


def person_name(raw: str) -> str:
    name = _clean_text(raw)
    if not name:
        raise Invalid("enter your name or your company's name")
    if len(name) > NAME_MAX:
        raise Invalid(f"the name is longer than {NAME_MAX} characters")
    return name


def email_address(raw: str) -> str:
    email = raw.strip()
    if len(email) > EMAIL_MAX or not EMAIL_RE.match(email):
        raise Invalid("enter a valid email address, e.g. name@example.com")
    return email


def phone_name(raw: str, default: str) -> str:
    name = _clean_text(raw)
    if len(name) > PHONE_NAME_MAX:
        raise Invalid(f"a display name is at most {PHONE_NAME_MAX} characters")
    return name or default


@dataclass(frozen=True)
class Card:
    last4: str
    expiry: str


def card(number: str, expiry: str, cvc: str, *, today: date) -> Card:
    """A card the sandbox takes: one of the test cards, unexpired, with a CVC."""
    digits = re.sub(r"[\s-]", "", number)
    if not is_ascii_number(digits) or not 12 <= len(digits) <= 19 or not _luhn_ok(digits):
        raise Invalid("the card number is not valid; use a test card like 4242 4242 4242 4242")
    match = re.fullmatch(r"\s*([0-9]{1,2})\s*/\s*([0-9]{2}|[0-9]{4})\s*", expiry)
    if not match or not 1 <= int(match[1]) <= 12:
        raise Invalid("enter the expiry date as MM/YY")
    month, year = int(match[1]), int(match[2])
    year = year + 2000 if year < 100 else year
    if (year, month) < (today.year, today.month):
        raise Invalid("the card has expired")
    if not re.fullmatch(r"[0-9]{3,4}", cvc.strip()):
        raise Invalid("the CVC is the 3 or 4 digits on the back of the card")
    if digits == p.DECLINED_CARD:
        raise Invalid("the card was declined; try another card")
    if digits not in p.TEST_CARDS:
        raise Invalid("the sandbox takes only test cards, e.g. 4242 4242 4242 4242")
    return Card(last4=digits[-4:], expiry=f"{month:02d}/{year % 100:02d}")


def is_ascii_number(text: str) -> bool:
    """Only the digits 0-9: ``"²".isdigit()`` is true, yet ``int("²")`` fails."""
    return text.isascii() and text.isdigit()


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def field(form: FormData, name: str, max_len: int = 300) -> str:
    """One text field, "" when absent; refused when longer than ``max_len``."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text")
    if len(value) > max_len:
        raise Invalid(f"{name} is longer than {max_len} characters")
    return value


def fields(
    form: FormData, name: str, max_len: int = 300, max_count: int = MAX_NUMBERS
) -> list[str]:
    values = form.getlist(name)
    if len(values) > max_count:
        raise Invalid(f"at most {max_count} values for {name}")
    for value in values:
        if not isinstance(value, str) or len(value) > max_len:
            raise Invalid(f"{name} must be text of at most {max_len} characters")
    return [str(v) for v in values]


def check_form_size(form: FormData) -> None:
    if len(form.multi_items()) > MAX_FORM_FIELDS:
        raise Invalid("the form has too many fields")
