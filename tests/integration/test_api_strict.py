"""The product API takes only what its OpenAPI declares: no coercion, no unknown field.

Each refusal is checked by the state it leaves: the same rows, the same key version, no
key generated at the sandbox, no product event, no audit line.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.service_http import (
    assert_error,
    live_channel,
    redirect_query,
    rows,
    sandbox_channels,
    snapshot,
    state_of,
)
from tests.stack import Stack


def _state(stack: Stack, channel: str) -> dict[str, Any]:
    return {
        **snapshot(stack),
        "audit": rows(stack, "SELECT id FROM audit_log ORDER BY id"),
        "keys_at_sandbox": stack.sandbox.channel(channel).keys_generated,
        "key_version": stack.api.get(f"/api/v1/channels/{channel}").json()["key_version"],
        "product_events": rows(stack, "SELECT id FROM product_events ORDER BY id"),
    }


@pytest.mark.parametrize(
    "body",
    [
        {"key_version": True},
        {"key_version": "2"},
        {"key_version": "1"},
        {"key_version": 2.0},
        {"key_version": 1.0},
        {"key_version": None},
        {},
        {"key_version": 1, "force": True},
    ],
    ids=["true", "str-2", "str-1", "float-2", "float-1", "null", "missing", "extra-field"],
)
def test_rotate_key_refuses_anything_but_an_integer_key_version(
    stack: Stack, body: dict[str, Any]
) -> None:
    _created, _client, channel = live_channel(stack)
    before = _state(stack, channel)
    assert before["key_version"] == 1

    answer = stack.api.post(f"/api/v1/channels/{channel}/rotate-key", json=body)

    assert_error(answer, 422, "validation_failed")
    named = "force" if "force" in body else "key_version"
    assert named in answer.json()["error"]["message"]
    stack.drain()  # a rotation queued by mistake would run now
    assert _state(stack, channel) == before
    assert stack.sandbox.channel(channel).keys_generated == 1


def test_every_post_body_refuses_an_unknown_field(stack: Stack) -> None:
    _created, _client, channel = live_channel(stack)
    waiting = stack.start_onboarding("pp", "button-user")
    client, channels = sandbox_channels(stack, "pp")
    stack.settle()  # the sandbox's webhooks about that client, before the snapshot
    bodies = {
        "/api/v1/onboardings": {"hub": "pp", "external_user_id": "someone"},
        "/api/v1/redirects": {"query": redirect_query(state_of(waiting), client, channels)},
        f"/api/v1/channels/{channel}/rotate-key": {"key_version": 1},
        "/api/v1/events/replay": {"status": "all"},
        "/api/v1/endpoint/disable": {"reason": "maintenance"},
    }
    before = _state(stack, channel)
    for path, body in bodies.items():
        answer = stack.api.post(path, json={**body, "unexpected": 1})
        assert_error(answer, 422, "validation_failed")
        assert "unexpected" in answer.json()["error"]["message"], path
    stack.drain()
    assert _state(stack, channel) == before
    assert stack.sandbox.channel(channel).keys_generated == 1


def test_every_request_body_declares_no_additional_properties(stack: Stack) -> None:
    spec = stack.api.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    bodies = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                schema = media["schema"]
                ref = schema.get("$ref") or next(
                    (s["$ref"] for s in schema.get("anyOf", []) if "$ref" in s), None
                )
                assert ref, (method, path, schema)
                bodies.append((method, path, schemas[ref.rsplit("/", 1)[1]]))
    assert len(bodies) >= 5
    open_bodies = [(m, p) for m, p, s in bodies if s.get("additionalProperties") is not False]
    assert not open_bodies


@pytest.mark.parametrize(
    "query",
    ["limit=2.0", "limit=%2B2", "limit=2_0", "limit=true", "delivered=yes", "delivered=1"],
)
def test_query_parameters_take_only_their_declared_spelling(stack: Stack, query: str) -> None:
    answer = stack.api.get(f"/api/v1/events?{query}")
    assert_error(answer, 422, "validation_failed")
    assert query.split("=", maxsplit=1)[0] in answer.json()["error"]["message"]


def test_onboarding_ids_are_canonical_uuids(stack: Stack) -> None:
    created = stack.start_onboarding("pp")
    assert stack.api.get(f"/api/v1/onboardings/{created['id']}").status_code == 200
    braced = "{" + created["id"] + "}"
    assert_error(stack.api.get(f"/api/v1/onboardings/{braced}"), 422, "validation_failed")
    bare = created["id"].replace("-", "")
    assert_error(stack.api.get(f"/api/v1/onboardings/{bare}"), 422, "validation_failed")


def test_an_undeclared_query_parameter_is_refused(stack: Stack) -> None:
    assert stack.api.get("/api/v1/events?limit=1").status_code == 200
    answer = stack.api.get("/api/v1/events?limt=1")
    assert_error(answer, 422, "validation_failed")
    assert "limt" in answer.json()["error"]["message"]
