"""Standard Webhooks handoff: signatures checked by the official library, delivery over HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import onboard360.handoff
from onboard360.handoff import (
    DeliveryResult,
    InvalidSecret,
    SignatureError,
    deliver,
    event_body,
    generate_secret,
    secret_key,
    sign,
    verify,
)
from onboard360.runtime.serving import free_port, running

SECRET = generate_secret()
OLD_SECRET = generate_secret()
BODY = b'{"type":"channel.activated","timestamp":"2024-05-01T12:00:00Z","data":{"x":1}}'
PAYLOAD = {"client_id": "cl_1", "channel_id": "ch_1", "api_key": "d360-key-must-not-leak"}
SLOW_SECONDS = 1.0


# -- signing -------------------------------------------------------------------------


def test_public_names_are_exactly_all() -> None:
    public = {name for name in vars(onboard360.handoff) if not name.startswith("_")}
    public -= {"annotations", "delivery", "signing"}
    assert public == set(onboard360.handoff.__all__)


def test_generated_secret_has_prefix_and_32_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert generate_secret() != secret


def test_official_library_verifies_our_signature() -> None:
    now = int(time.time())
    headers = sign([SECRET], "msg_1", now, BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)


def test_official_library_accepts_either_secret_of_a_rotation_pair() -> None:
    now = int(time.time())
    headers = sign([SECRET, OLD_SECRET], "msg_2", now, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, OLD_SECRET):
        Webhook(secret).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_official_library_rejects_a_changed_body() -> None:
    headers = sign([SECRET], "msg_3", int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"1}", b"2}"), headers)


def test_our_verify_accepts_the_official_signature() -> None:
    now = int(time.time())
    official = Webhook(SECRET).sign("msg_4", datetime.fromtimestamp(now, UTC), BODY.decode())
    headers = {"Webhook-Id": "msg_4", "Webhook-Timestamp": str(now), "Webhook-Signature": official}
    verify(SECRET, headers, BODY, now=now)


def test_verify_accepts_either_secret_of_a_rotation_pair() -> None:
    headers = sign([SecretStr(SECRET), SecretStr(OLD_SECRET)], "msg_5", 1_700_000_000, BODY)
    for secret in (SECRET, OLD_SECRET):
        verify(secret, headers, BODY, now=1_700_000_100)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"webhook-signature": None}, "missing"),
        ({"webhook-timestamp": "soon"}, "not unix seconds"),
        ({"webhook-timestamp": "1699999000"}, "away from now"),
        ({"webhook-id": "msg_other"}, "no signature matches"),
        ({"webhook-signature": "v1a,abc v2,xyz v1,%%%"}, "no signature matches"),
    ],
)
def test_verify_says_why_it_refuses(change: dict[str, str | None], reason: str) -> None:
    headers: dict[str, str] = sign([SECRET], "msg_6", 1_700_000_000, BODY)
    for name, value in change.items():
        headers.pop(name)
        if value is not None:
            headers[name] = value
    with pytest.raises(SignatureError, match=reason):
        verify(SECRET, headers, BODY, now=1_700_000_000)


def test_verify_refuses_another_secret() -> None:
    headers = sign([SECRET], "msg_7", 1_700_000_000, BODY)
    with pytest.raises(SignatureError):
        verify(OLD_SECRET, headers, BODY, now=1_700_000_000)


@pytest.mark.parametrize(
    "bad", ["", "whsec_", "whsec_%%%%", "whsec_" + base64.b64encode(b"x" * 16).decode()]
)
def test_bad_secret_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(InvalidSecret) as caught:
        sign([SECRET, bad], "msg_8", 1_700_000_000, BODY)
    if bad.removeprefix("whsec_"):
        assert bad.removeprefix("whsec_") not in str(caught.value)


def test_unpadded_secret_is_accepted_like_the_official_library_does() -> None:
    unpadded = "whsec_" + base64.b64encode(b"k" * 25).decode().rstrip("=")
    assert secret_key(unpadded) == b"k" * 25


@pytest.mark.parametrize("msg_id", ["", "msg.1", "msg 1"])
def test_ids_with_dots_or_spaces_are_refused(msg_id: str) -> None:
    with pytest.raises(ValueError, match="webhook id"):
        sign([SECRET], msg_id, 1_700_000_000, BODY)


def test_event_body_is_compact_json_in_the_recommended_shape() -> None:
    occurred = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    body = event_body("channel.running", {"channel_id": "ch_1", "name": "Café"}, occurred)
    assert (
        body
        == (
            '{"type":"channel.running","timestamp":"2024-05-01T12:00:00.250000Z",'
            '"data":{"channel_id":"ch_1","name":"Café"}}'
        ).encode()
    )


# -- delivery over HTTP --------------------------------------------------------------


@dataclass
class Receiver:
    """Records every POST; answers queued (status, headers) first, then 200."""

    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        if request.url.path == "/slow":
            await asyncio.sleep(SLOW_SECONDS)
        with self.lock:
            self.received.append((dict(request.headers), body))
            status, headers = self.answers.pop(0) if self.answers else (200, {})
        if request.url.path == "/says":
            # A product that names a value of ours in a long answer.
            said = f"refused: {PAYLOAD['api_key']} is unknown here. " + "x" * 500
            return Response(said, status_code=status, headers=headers)
        # Echo the body back: a careless product does, and it must not reach our errors.
        return Response(body, status_code=status, headers=headers)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    recorder = Receiver()
    app = Starlette(routes=[Route("/{path:path}", recorder.receive, methods=["POST"])])
    with running(app) as base:
        yield recorder, base


def send(url: str, secrets: list[str] | None = None, **options: Any) -> DeliveryResult:
    async def attempt() -> DeliveryResult:
        async with httpx.AsyncClient() as client:
            return await deliver(
                client,
                url,
                secrets or [SECRET],
                options.pop("msg_id", "msg_d1"),
                "channel.activated",
                PAYLOAD,
                now=options.pop("now", int(time.time())),
                **options,
            )

    return asyncio.run(attempt())


def assert_no_secret_in(*texts: str | None) -> None:
    for text in filter(None, texts):
        for secret in (SECRET, OLD_SECRET):
            assert secret.removeprefix("whsec_") not in text
        assert PAYLOAD["api_key"] not in text


def test_delivery_succeeds_and_the_official_library_verifies_it(
    receiver: tuple[Receiver, str],
) -> None:
    recorder, base = receiver
    occurred = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    result = send(f"{base}/hooks", [SECRET, OLD_SECRET], occurred_at=occurred)
    assert result.ok
    assert result.status == 200
    assert result.error is None
    assert not result.retryable
    assert result.duration_ms > 0
    [(headers, body)] = recorder.received
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == "msg_d1"
    for secret in (SECRET, OLD_SECRET):
        event = Webhook(secret).verify(body, headers)
        assert event == {
            "type": "channel.activated",
            "timestamp": "2024-05-01T12:00:00Z",
            "data": PAYLOAD,
        }


def test_retry_keeps_the_id_and_body_and_changes_the_timestamp(
    receiver: tuple[Receiver, str],
) -> None:
    recorder, base = receiver
    now, occurred = int(time.time()), datetime(2024, 5, 1, tzinfo=UTC)
    send(f"{base}/hooks", now=now - 60, occurred_at=occurred)
    send(f"{base}/hooks", now=now, occurred_at=occurred)
    (first, first_body), (second, second_body) = recorder.received
    assert first["webhook-id"] == second["webhook-id"]
    assert first_body == second_body
    assert int(second["webhook-timestamp"]) - int(first["webhook-timestamp"]) == 60
    assert first["webhook-signature"] != second["webhook-signature"]


def test_server_error_is_retryable(receiver: tuple[Receiver, str]) -> None:
    recorder, base = receiver
    recorder.answers.append((500, {}))
    result = send(f"{base}/hooks")
    assert (result.ok, result.status, result.retryable) == (False, 500, True)
    assert result.error == "HTTP 500 Internal Server Error"
    assert_no_secret_in(result.error)


def test_bad_request_is_retried_like_every_non_2xx(receiver: tuple[Receiver, str]) -> None:
    recorder, base = receiver
    recorder.answers.append((400, {}))
    result = send(f"{base}/hooks")
    assert (result.ok, result.status, result.retryable, result.gone) == (False, 400, True, False)
    assert result.error == "HTTP 400 Bad Request"


def test_gone_is_not_retryable_and_asks_to_disable(receiver: tuple[Receiver, str]) -> None:
    recorder, base = receiver
    recorder.answers.append((410, {}))
    result = send(f"{base}/hooks")
    assert (result.ok, result.status, result.retryable, result.gone) == (False, 410, False, True)
    assert result.error is not None
    assert "disable" in result.error


def test_redirect_is_not_followed(receiver: tuple[Receiver, str]) -> None:
    recorder, base = receiver
    recorder.answers.append((307, {"location": f"{base}/elsewhere"}))
    result = send(f"{base}/hooks")
    assert (result.ok, result.status, result.retryable) == (False, 307, True)
    assert len(recorder.received) == 1
    assert result.error is not None
    assert "redirects are not followed" in result.error


@pytest.mark.parametrize(
    ("header", "expected"), [("7", 7.0), ("Wed, 01 May 2024 12:00:30 GMT", 30.0)]
)
def test_too_many_requests_reports_retry_after(
    receiver: tuple[Receiver, str], header: str, expected: float
) -> None:
    recorder, base = receiver
    recorder.answers.append((429, {"retry-after": header}))
    now = int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp())
    result = send(f"{base}/hooks", now=now)
    assert (result.status, result.retryable, result.retry_after) == (429, True, expected)


def test_connection_refused_is_retryable_with_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks?token=product-own-token"
    result = send(url)
    assert (result.ok, result.status, result.retryable) == (False, None, True)
    assert result.error is not None
    assert result.error.startswith("cannot connect to the receiver (ConnectError")
    assert "product-own-token" not in result.error
    assert_no_secret_in(result.error)


def test_slow_receiver_times_out_as_retryable(receiver: tuple[Receiver, str]) -> None:
    _, base = receiver
    started = time.monotonic()
    result = send(f"{base}/slow", timeout=0.2)
    assert time.monotonic() - started < SLOW_SECONDS
    assert (result.ok, result.status, result.retryable) == (False, None, True)
    assert result.error is not None
    assert result.error.startswith("no answer within 0.2s")


def test_no_secret_or_body_in_errors_or_logs(
    receiver: tuple[Receiver, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorder, base = receiver
    caplog.set_level(logging.DEBUG)
    recorder.answers.extend([(500, {}), (400, {}), (410, {})])
    secrets = [SECRET, OLD_SECRET]
    results = [send(f"{base}/hooks", secrets) for _ in range(4)]
    results.append(send(f"{base}/slow", secrets, timeout=0.2))
    results.append(send(f"http://127.0.0.1:{free_port()}/hooks", secrets))
    assert [r.ok for r in results] == [False, False, False, True, False, False]
    captured = capsys.readouterr()
    assert caplog.records  # httpx narrates at DEBUG/INFO: something was checked
    assert_no_secret_in(caplog.text, captured.out, captured.err, *(r.error for r in results))


def test_bad_secret_raises_before_sending(receiver: tuple[Receiver, str]) -> None:
    recorder, base = receiver
    with pytest.raises(InvalidSecret):
        send(f"{base}/hooks", ["whsec_short"])
    assert recorder.received == []


# -- the excerpt of the answer kept for the delivery log ------------------------------


def test_an_echoed_body_never_reaches_the_excerpt(receiver: tuple[Receiver, str]) -> None:
    recorder, base = receiver
    recorder.answers.append((500, {}))
    failed, delivered = send(f"{base}/hooks"), send(f"{base}/hooks")
    assert (failed.excerpt, delivered.excerpt) == ("[redacted]", "[redacted]")


def test_the_excerpt_is_short_and_blanks_our_values(receiver: tuple[Receiver, str]) -> None:
    recorder, base = receiver
    recorder.answers.append((422, {}))
    result = send(f"{base}/says")
    assert result.status == 422
    assert result.excerpt is not None
    assert result.excerpt.startswith("refused: [redacted] is unknown here. xxx")
    assert len(result.excerpt) <= 200
    assert_no_secret_in(result.excerpt)


def test_no_answer_means_no_excerpt_and_an_error_class() -> None:
    result = send(f"http://127.0.0.1:{free_port()}/hooks")
    assert (result.excerpt, result.error_class) == (None, "ConnectError")
