"""Log lines never carry a secret: structlog events and stdlib records alike, as JSON."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from structlog.contextvars import bound_contextvars

from onboard360.handoff import generate_secret
from onboard360.runtime.crypto import Keyring, generate_key
from onboard360.runtime.logging import REQUEST_ID, configure_logging, get_logger
from onboard360.runtime.redaction import REDACTED, scrub

FERNET_KEY = generate_key()
FERNET_TOKEN = Keyring.from_keys([FERNET_KEY]).encrypt("the-api-key-itself").decode()
WHSEC = generate_secret()
BEARER = "prod-token-0123456789abcdefghij"
API_KEY = "Zx9hub-api-key-value-42"
SECRETS = (FERNET_KEY, FERNET_TOKEN, WHSEC, BEARER, API_KEY, "hunter2pass", "pathsecret123")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logging configured as in production (JSON) into a buffer; restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved = structlog.get_config()
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    try:
        yield out
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        structlog.configure(**saved)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def assert_no_secret(out: io.StringIO) -> None:
    text = out.getvalue()
    assert text
    for secret in SECRETS:
        assert secret not in text


def test_structlog_values_holding_secrets_are_scrubbed(captured: io.StringIO) -> None:
    log = get_logger("onboard360.test")
    log.info(f"calling hub with Authorization: Bearer {BEARER}")
    log.info("stored", note=f"key {FERNET_KEY} token {FERNET_TOKEN}", secret_hint=WHSEC)
    log.warning("header echo", headers={"x-api-key": API_KEY, "accept": "json"})
    log.info("product", detail=[f"D360-API-KEY: {API_KEY}", {"nested": f"whsec {WHSEC}"}])
    assert_no_secret(captured)
    assert lines(captured)[2]["headers"] == {"x-api-key": REDACTED, "accept": "json"}


def test_stdlib_records_are_rendered_as_json_and_scrubbed(captured: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning(
        "POST /hooks/360dialog/main/pathsecret123 from postgresql://u:hunter2pass@db/x"
    )
    logging.getLogger("httpx").warning("HTTP Request with api_key=%s", API_KEY)
    logging.getLogger("procrastinate.worker").error("job failed: token %s", FERNET_TOKEN)
    assert_no_secret(captured)
    records = lines(captured)
    assert [r["logger"] for r in records] == ["uvicorn.error", "httpx", "procrastinate.worker"]
    assert records[0]["event"].startswith("POST /hooks/360dialog/main/[redacted]")


def test_a_traceback_is_scrubbed_too(captured: io.StringIO) -> None:
    try:
        raise RuntimeError(f"the hub said: Bearer {BEARER} and {WHSEC}")
    except RuntimeError:
        get_logger("onboard360.test").exception("call failed")
        logging.getLogger("procrastinate").exception("job crashed")
    assert_no_secret(captured)
    assert all("RuntimeError" in record["exception"] for record in lines(captured))


def test_request_id_reaches_structlog_and_stdlib_lines(captured: io.StringIO) -> None:
    token = REQUEST_ID.set("req-42")
    get_logger("onboard360.test").info("one")
    logging.getLogger("uvicorn.error").warning("two")
    REQUEST_ID.reset(token)
    get_logger("onboard360.test").info("three")
    assert [r.get("request_id") for r in lines(captured)] == ["req-42", "req-42", None]


def test_bound_job_ids_reach_structlog_and_stdlib_lines(captured: io.StringIO) -> None:
    with bound_contextvars(job_id=7, task="provision_key"):
        get_logger("onboard360.test").info("one")
        logging.getLogger("procrastinate.worker").warning("two")
    assert [(r["job_id"], r["task"]) for r in lines(captured)] == [(7, "provision_key")] * 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        ('{"webhook_secret": "s3cr3t"}', '{"webhook_secret": "[redacted]"}'),
        ("x-api-key=abc&limit=5", "x-api-key=[redacted]&limit=5"),
        ("channel ABC123CH is running", "channel ABC123CH is running"),
        ("key_intent=2 status=running", "key_intent=2 status=running"),
        (
            "GET /connect/pp?client=C1&state=s7Kq_3x-Z&channels=[A]",
            "GET /connect/pp?client=C1&state=[redacted]&channels=[A]",
        ),
        (
            "Location: http://hub/dashboard/app/PA?state=s7Kq_3x-Z",
            "Location: http://hub/dashboard/app/PA?state=[redacted]",
        ),
        ('{"state": "running"}', '{"state": "running"}'),
        (
            "GET /connect/pp/progress?start=s7Kq_3x-Z HTTP/1.1",
            "GET /connect/pp/progress?start=[redacted] HTTP/1.1",
        ),
        (
            "GET /connect/pp/popup?x=1&amp;start=s7Kq_3x-Z",
            "GET /connect/pp/popup?x=1&amp;start=[redacted]",
        ),
        ("restart=now start=12", "restart=now start=12"),
    ],
)
def test_scrub_keeps_what_is_not_secret(text: str, expected: str) -> None:
    assert scrub(text) == expected
