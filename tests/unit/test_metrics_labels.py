"""Metric labels stay bounded, and request ids are taken only when sane."""

from __future__ import annotations

import re

import pytest

from onboard360.runtime.metrics import path_template
from onboard360.web.observe import request_id_from


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/partners/AbC12PA/channels", "/partners/{id}/channels"),
        ("/partners/AbC12PA/channels/Xy9zzCH/api_keys", "/partners/{id}/channels/{id}/api_keys"),
        ("/partners/abcdefPA/clients?limit=5", "/partners/{id}/clients"),
        ("/v1/configs/webhook", "/v1/configs/webhook"),
        ("/token", "/token"),
        ("/something/UNEXPECTED-id/x", "/something/{id}/x"),
    ],
)
def test_hub_paths_become_templates_without_ids(path: str, template: str) -> None:
    assert path_template(path) == template


def test_a_sane_request_id_is_kept() -> None:
    assert request_id_from([(b"x-request-id", b"abc-123_X.y")]) == "abc-123_X.y"


@pytest.mark.parametrize(
    "value", [b"", b"x" * 65, b"has space", b"new\nline", b"<script>", "é".encode()]
)
def test_an_odd_request_id_is_replaced(value: bytes) -> None:
    fresh = request_id_from([(b"x-request-id", value)])
    assert fresh != value.decode("utf-8", "replace")
    assert re.fullmatch(r"[0-9a-f]{16,}", fresh)
