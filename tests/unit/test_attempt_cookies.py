"""The attempt cookies a request carries, the popup state tag (web/attempts.py), and the
origins allowed to read progress."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from onboard360.config.hubs import ProductConfig
from onboard360.web.attempts import (
    COOKIE_PREFIX,
    MAX_COOKIES,
    attempt_cookies,
    cookie_name,
    popup_state,
    state_agrees,
)
from onboard360.web.onboardings import state_digest


def test_only_well_formed_attempt_cookies_are_read() -> None:
    good = uuid.uuid4()
    cookies = {
        cookie_name(good): "token",
        COOKIE_PREFIX + "not-a-uuid": "token",
        COOKIE_PREFIX + uuid.uuid4().hex: "",
        COOKIE_PREFIX + uuid.uuid4().hex: "x" * 101,
        "o360_session": "dashboard",
    }
    assert attempt_cookies(cookies) == {good: "token"}


def test_a_browser_with_many_attempt_cookies_is_read_up_to_the_limit() -> None:
    cookies = {cookie_name(uuid.uuid4()): "t" for _ in range(MAX_COOKIES + 5)}
    assert len(attempt_cookies(cookies)) == MAX_COOKIES


def test_the_popup_state_is_stable_and_not_the_attempts_state() -> None:
    row = SimpleNamespace(state_sha256=state_digest("the-secret-state"))
    other = SimpleNamespace(state_sha256=state_digest("another-state"))
    tag = popup_state(row)  # type: ignore[arg-type]
    assert tag == popup_state(row)  # type: ignore[arg-type]
    assert tag != popup_state(other)  # type: ignore[arg-type]
    assert "the-secret-state" not in tag
    for state in (None, "the-secret-state", tag):
        assert state_agrees(row, state)  # type: ignore[arg-type]
    for state in ("another-state", popup_state(other), tag + "x"):  # type: ignore[arg-type]
        assert not state_agrees(row, state)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "origin", ["app.example", "https://app.example/", "https://app.example/page", "*", "null"]
)
def test_embed_origins_are_bare_origins(origin: str) -> None:
    with pytest.raises(ValidationError, match="embed_origins"):
        ProductConfig(embed_origins=[origin])
    assert ProductConfig(embed_origins=["https://app.example:8443"]).embed_origins
