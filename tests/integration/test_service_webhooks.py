"""The partner webhook receiver over real HTTP: who may post, what is stored, what is
refused, and that replays and disorder change nothing they must not."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from onboard360.hub.signatures import webhook_signature
from tests.integration.service_http import (
    assert_error,
    channel_event,
    count,
    event_body,
    inbox_rows,
    onboarded_channels,
    post_webhook,
    quiet_sandbox,
    rows,
    snapshot,
    webhook_url,
)
from tests.stack import Stack, running_stack

HEADER_VALUE = "custom-header-value-" + "h" * 24


def a_channel_created() -> bytes:
    payload = {"id": "WhChan01CH", "client_id": "WhClient01CL", "status": "pending"}
    return event_body("channel_created", payload)


# ---- who may post ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hub", "secret"),
    [
        ("pp", "not-the-secret-" + "x" * 20),
        ("pp", ""),  # routes to nothing at all
        ("nohub", "not-the-secret-" + "x" * 20),
        ("pp", "other-hub"),  # dp's secret on pp's URL
    ],
)
def test_wrong_secret_or_hub_is_404_and_stores_nothing(stack: Stack, hub: str, secret: str) -> None:
    if secret == "other-hub":
        secret = stack.hub("dp").webhook_secret.get_secret_value()
    body = a_channel_created()
    url = f"{stack.service_url}/hooks/360dialog/{hub}/{secret}"
    answer = httpx.post(url, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 404
    assert count(stack, "inbox_events") == 0


@pytest.mark.parametrize("signature", [None, "", "00" * 32, "not hex", "other-body", "dp-secret"])
def test_missing_or_wrong_signature_is_401_and_stores_nothing(
    stack: Stack, signature: str | None
) -> None:
    body = a_channel_created()
    if signature == "other-body":
        secret = stack.hub("pp").platform_secret
        assert secret is not None
        signature = webhook_signature(secret.get_secret_value(), body + b" ")
    elif signature == "dp-secret":
        secret = stack.hub("dp").platform_secret
        assert secret is not None
        signature = webhook_signature(secret.get_secret_value(), body)
    answer = post_webhook(stack, "pp", body, signature=signature, sign=signature is not None)
    assert_error(answer, 401, "bad_signature")
    assert count(stack, "inbox_events") == 0


def test_signature_check_is_case_insensitive_hex(stack: Stack) -> None:
    body = a_channel_created()
    secret = stack.hub("pp").platform_secret
    assert secret is not None
    signature = webhook_signature(secret.get_secret_value(), body).upper()
    assert post_webhook(stack, "pp", body, signature=signature).status_code == 200


@pytest.fixture
def header_stack(database_url: str) -> Iterator[Stack]:
    value = SecretStr(HEADER_VALUE)
    overrides = {"pp": {"webhook_header": "Authorization", "webhook_header_value": value}}
    with running_stack(database_url, hub_overrides=overrides) as s:
        yield s


@pytest.mark.parametrize("sent", [None, "", "wrong-" + "w" * 30, HEADER_VALUE + "x"])
def test_configured_custom_header_is_required(header_stack: Stack, sent: str | None) -> None:
    headers = {} if sent is None else {"Authorization": sent}
    answer = post_webhook(header_stack, "pp", a_channel_created(), headers=headers)
    assert_error(answer, 401, "bad_header")
    assert count(header_stack, "inbox_events") == 0


def test_configured_custom_header_and_signature_admit_the_webhook(header_stack: Stack) -> None:
    answer = post_webhook(
        header_stack, "pp", a_channel_created(), headers={"Authorization": HEADER_VALUE}
    )
    assert answer.status_code == 200, answer.text
    assert count(header_stack, "inbox_events") == 1


def test_the_header_does_not_replace_the_signature(header_stack: Stack) -> None:
    answer = post_webhook(
        header_stack, "pp", a_channel_created(), sign=False, headers={"Authorization": HEADER_VALUE}
    )
    assert_error(answer, 401, "bad_signature")


# ---- what is refused ------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b'{"event":"x","n":' + b"[" * depth + b"]" * depth + b"}"


MALFORMED = {
    "empty": (b"", "empty_body"),
    "whitespace": (b"  \n", "empty_body"),
    "truncated": (b'{"event": "channel_created"', "invalid_json"),
    "not utf-8": (b'{"event": "\xff\xfe"}', "invalid_json"),
    "array": (b"[1, 2]", "not_an_object"),
    "string": (b'"channel_created"', "not_an_object"),
    "null": (b"null", "not_an_object"),
    "nul in a value": (b'{"event": "a\\u0000b"}', "nul_character"),
    "nul in a key": (b'{"event": "x", "k\\u0000": 1}', "nul_character"),
    "nul deep inside": (b'{"event": "x", "payload": {"a": ["\\u0000"]}}', "nul_character"),
    "lone surrogate": (b'{"event": "x", "name": "\\ud800"}', "lone_surrogate"),
    # An encoded surrogate is no valid UTF-8 (Python's json would read it; jsonb would not).
    "raw surrogate bytes": (b'{"event": "x", "name": "\xed\xa0\x80"}', "invalid_json"),
    "nul in UTF-16": ('{"event": "x", "k": "\\u0000"}'.encode("utf-16"), "nul_character"),
    "NaN": (b'{"event": "x", "n": NaN}', "invalid_number"),
    "Infinity": (b'{"event": "x", "n": -Infinity}', "invalid_number"),
    "deep": (nested(40), "too_deep"),
    "very deep": (nested(20_000), "too_deep"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_body_is_a_precise_400_and_stores_nothing(stack: Stack, case: str) -> None:
    body, code = MALFORMED[case]
    answer = post_webhook(stack, "pp", body)
    assert_error(answer, 400, code)
    assert count(stack, "inbox_events") == 0
    assert count(stack, "procrastinate_jobs") == 0


def test_escaped_backslash_u0000_text_is_not_a_nul(stack: Stack) -> None:
    # The characters \u0000 written as text (an escaped backslash) are harmless.
    body = b'{"event": "note", "text": "\\\\u0000"}'
    assert post_webhook(stack, "pp", body).status_code == 200
    assert inbox_rows(stack, body)[0]["body"]["text"] == "\\u0000"


def test_paired_surrogates_are_fine(stack: Stack) -> None:
    body = b'{"event": "note", "name": "\\ud83d\\ude00"}'
    assert post_webhook(stack, "pp", body).status_code == 200
    assert inbox_rows(stack, body)[0]["body"]["name"] == "\U0001f600"


@pytest.mark.parametrize("chunked", [False, True])
def test_huge_body_is_413_and_stores_nothing(stack: Stack, chunked: bool) -> None:
    body = event_body("channel_created", {"filler": "x" * (70 * 1024)})
    content = iter([body[:1000], body[1000:]]) if chunked else body
    secret = stack.hub("pp").platform_secret
    assert secret is not None
    answer = httpx.post(
        webhook_url(stack, "pp"),
        content=content,
        headers={"x-360dialog-signature": webhook_signature(secret.get_secret_value(), body)},
        timeout=10,
    )
    assert_error(answer, 413, "too_large")
    assert count(stack, "inbox_events") == 0


def test_refusals_echo_no_secret_and_no_body(stack: Stack) -> None:
    marker = "secret-looking-" + secrets.token_hex(8)
    body = b'{"event": "' + marker.encode() + b'", "n": NaN}'
    answer = post_webhook(stack, "pp", body)
    assert answer.status_code == 400
    assert marker not in answer.text
    assert stack.hub("pp").webhook_secret.get_secret_value() not in answer.text


# ---- stored, then answered ------------------------------------------------------------------


def test_the_row_and_its_job_exist_when_the_2xx_arrives(stack: Stack) -> None:
    body = a_channel_created()
    answer = post_webhook(stack, "pp", body)
    assert answer.status_code == 200
    assert answer.json() == {"received": True, "duplicate": False}
    (row,) = inbox_rows(stack, body)  # committed before the answer was sent
    assert row["event_type"] == "channel_created"
    jobs = rows(
        stack,
        "SELECT status, args FROM procrastinate_jobs WHERE task_name = 'process_inbox_events'",
    )
    assert [(job["status"], job["args"]) for job in jobs] == [("todo", {"event_ids": [row["id"]]})]


def test_replayed_webhook_changes_nothing(stack: Stack) -> None:
    quiet_sandbox(stack, "pp")
    _created, _client, (channel,) = onboarded_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    created = channel_event(stack, "channel_created", channel, "pending")
    running = channel_event(stack, "channel_running", channel, "running")
    for body in (created, running):
        assert post_webhook(stack, "pp", body).json()["duplicate"] is False
    stack.drain()
    assert stack.sandbox.channel(channel).keys_generated == 1
    before = snapshot(stack)

    for body in (running, created, running):
        answer = post_webhook(stack, "pp", body)
        assert answer.status_code == 200
        assert answer.json() == {"received": True, "duplicate": True}
    stack.drain()

    assert snapshot(stack) == before
    assert stack.sandbox.channel(channel).keys_generated == 1
    for body in (created, running):
        (row,) = inbox_rows(stack, body)
        assert row["processed_at"] is not None
    inbox_jobs = rows(
        stack,
        "SELECT count(*) AS n FROM procrastinate_jobs WHERE task_name = %s",
        "process_inbox_events",
    )
    assert inbox_jobs[0]["n"] == 2


def test_the_same_event_on_another_hub_is_not_a_duplicate(stack: Stack) -> None:
    body = a_channel_created()
    assert post_webhook(stack, "pp", body).json()["duplicate"] is False
    assert post_webhook(stack, "dp", body).json()["duplicate"] is False
    assert len(inbox_rows(stack, body)) == 2


# ---- kept and surfaced ----------------------------------------------------------------------


def test_unknown_event_about_a_channel_is_stored_processed_and_on_its_timeline(
    stack: Stack,
) -> None:
    body = event_body("channel_fee_changed", {"channel_id": "FeeChan1CH", "fee": {"eur": 3}})
    assert post_webhook(stack, "pp", body).status_code == 200
    stack.drain()
    (row,) = inbox_rows(stack, body)
    assert (row["event_type"], row["error"]) == ("channel_fee_changed", None)
    assert row["processed_at"] is not None
    assert row["body"]["payload"]["fee"] == {"eur": 3}
    lines = rows(stack, "SELECT kind, detail FROM timeline WHERE channel_id = 'FeeChan1CH'")
    assert [(line["kind"], line["detail"].get("unknown_event")) for line in lines] == [
        ("channel_fee_changed", True)
    ]


def test_unknown_event_about_nothing_known_is_still_on_the_timeline(stack: Stack) -> None:
    body = event_body("partner_billing_updated", {"amount": 12})
    assert post_webhook(stack, "pp", body).status_code == 200
    stack.drain()
    (row,) = inbox_rows(stack, body)
    assert row["processed_at"] is not None
    assert row["event_type"] == "partner_billing_updated"
    lines = rows(stack, "SELECT kind, detail, hub FROM timeline")
    assert [(line["kind"], line["hub"], line["detail"]["unknown_event"]) for line in lines] == [
        ("partner_billing_updated", "pp", True)
    ]
    assert lines[0]["detail"]["inbox_id"] == row["id"]


def test_known_event_with_unknown_fields_is_processed_and_keeps_them(stack: Stack) -> None:
    payload = {
        "id": "NewFld01CH",
        "client_id": "NewFld01CL",
        "status": "pending",
        "brand_new_field": {"nested": [1, 2, 3]},
    }
    body = event_body("channel_created", payload, delivery_attempt=3)
    assert post_webhook(stack, "pp", body).status_code == 200
    stack.drain()
    (row,) = inbox_rows(stack, body)
    assert row["error"] is None
    assert row["channel_id"] == "NewFld01CH"
    assert row["body"]["payload"]["brand_new_field"] == {"nested": [1, 2, 3]}
    assert row["body"]["delivery_attempt"] == 3
    (channel,) = rows(stack, "SELECT status FROM channels WHERE channel_id = 'NewFld01CH'")
    assert channel["status"] == "pending"


@pytest.mark.parametrize(
    "body",
    [
        b'{"no_event": true}',
        b'{"event": 42}',
        b'{"event": "channel_running", "payload": {"status": "running"}}',
        b'{"event": "channel_running", "payload": {"id": "bad id <script>"}}',
        b'{"event": "<script>alert(1)</script>"}',
    ],
)
def test_unusable_event_is_kept_with_its_error(stack: Stack, body: bytes) -> None:
    assert post_webhook(stack, "pp", body).status_code == 200
    stack.drain()
    (row,) = inbox_rows(stack, body)
    assert row["processed_at"] is not None
    assert row["error"]
    assert "<script>" not in row["error"]
    assert count(stack, "channels") == 0


# ---- disorder -------------------------------------------------------------------------------


def test_running_before_created_ends_running_with_one_key(stack: Stack) -> None:
    quiet_sandbox(stack, "pp")
    _created, _client, (channel,) = onboarded_channels(stack, "pp")
    stack.sandbox.set_status(channel, "running")
    for event, status in (
        ("channel_running", "running"),
        ("channel_created", "pending"),
        ("channel_ready", "ready"),
    ):
        assert post_webhook(stack, "pp", channel_event(stack, event, channel, status)).is_success
        stack.drain()

    (row,) = rows(stack, "SELECT status, key_status FROM channels WHERE channel_id = %s", channel)
    assert (row["status"], row["key_status"]) == ("running", "stored")
    assert stack.sandbox.channel(channel).keys_generated == 1
    events = [e["type"] for e in stack.product_events()]
    assert events.count("channel.activated") == 1
    assert events.count("channel.running") == 1


def test_concurrent_copies_of_one_webhook_store_it_once(stack: Stack) -> None:
    body = a_channel_created()
    with httpx.Client(timeout=10) as client:
        import concurrent.futures  # noqa: PLC0415

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: post_webhook_with(client, stack, body), range(16)))
    assert all(a.status_code == 200 for a in answers)
    assert [a.json()["duplicate"] for a in answers].count(False) == 1
    assert len(inbox_rows(stack, body)) == 1


def post_webhook_with(client: httpx.Client, stack: Stack, body: bytes) -> httpx.Response:
    secret = stack.hub("pp").platform_secret
    assert secret is not None
    return client.post(
        webhook_url(stack, "pp"),
        content=body,
        headers={"x-360dialog-signature": webhook_signature(secret.get_secret_value(), body)},
    )


def test_answer_body_is_json(stack: Stack) -> None:
    answer = post_webhook(stack, "pp", a_channel_created())
    assert answer.headers["content-type"].startswith("application/json")
    assert json.loads(answer.content)["received"] is True


def test_other_methods_on_the_webhook_url_are_not_the_receiver(stack: Stack) -> None:
    # The receiver's fast path (web/partner_webhooks.py) claims POSTs only.
    answer = httpx.get(webhook_url(stack, "pp"))
    assert answer.status_code == 405
    assert count(stack, "inbox_events") == 0
