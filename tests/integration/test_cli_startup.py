"""`serve` and `worker` refuse bad configuration with one clear line and exit code 2."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from onboard360.db.embedded import to_libpq_uri
from onboard360.runtime.crypto import generate_key
from tests.cli_process import run_onboard360
from tests.conftest import _admin, _drop, _url_for

PASSWORD = "s3cretpassw0rd"
WEAK = "short-secret"


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_onboard360(*args, env=env, cwd=cwd, timeout=60)


def service_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "ONBOARD360_DATABASE_URL": to_libpq_uri(database_url),
        "ONBOARD360_ENCRYPTION_KEYS": json.dumps([generate_key()]),
        **extra,
    }


def hub(**fields: str) -> str:
    spec = {
        "name": "main",
        "partner_id": "abcDEF12PA",
        "api_key": "a" * 30,
        "webhook_secret": "w" * 30,
        **fields,
    }
    return json.dumps([spec])


def refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 2 and exactly one line on stderr that says what was wrong, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for words in expected:
        assert words in lines[0]


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database nobody migrated (SQLAlchemy URL)."""
    name = f"o360_empty_{uuid.uuid4().hex[:12]}"
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _url_for(name).replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        _drop(name)


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_malformed_database_url_is_refused(command: str) -> None:
    env = {"ONBOARD360_DATABASE_URL": "postgres//nowhere", "ONBOARD360_ENCRYPTION_KEYS": "[]"}
    refused(run_cli(command, env=env), "invalid configuration: database_url")


@pytest.mark.parametrize("command", ["serve", "worker", "rotate-encryption-key", "abandon"])
def test_an_unreachable_database_is_refused_without_its_password(command: str) -> None:
    url = f"postgresql+psycopg://o360:{PASSWORD}@127.0.0.1:1/nowhere"
    result = run_cli(command, env=service_env(url))
    refused(result, "cannot connect to the database at", "127.0.0.1:1")
    assert PASSWORD not in result.stderr + result.stdout


def test_a_database_nobody_migrated_is_refused_with_what_to_do(empty_database: str) -> None:
    result = run_cli("serve", env=service_env(empty_database))
    refused(result, "has no schema yet: run `onboard360 migrate`")


def test_a_weak_webhook_secret_is_refused_without_echoing_it(database_url: str) -> None:
    result = run_cli(
        "worker", env=service_env(database_url, ONBOARD360_HUBS=hub(webhook_secret=WEAK))
    )
    refused(result, "webhook_secret must be at least 24 characters")
    assert WEAK not in result.stderr


def test_a_missing_hub_secret_is_refused(database_url: str) -> None:
    spec = json.loads(hub())
    del spec[0]["webhook_secret"]
    result = run_cli("serve", env=service_env(database_url, ONBOARD360_HUBS=json.dumps(spec)))
    refused(result, "hubs.0.webhook_secret", "required")


def test_a_weak_product_token_is_refused(database_url: str) -> None:
    products = json.dumps([{"name": "default", "api_tokens": ["tiny-token"]}])
    result = run_cli("serve", env=service_env(database_url, ONBOARD360_PRODUCTS=products))
    refused(result, "api_tokens entries must be at least 24 characters")
    assert "tiny-token" not in result.stderr


def test_an_unknown_hub_named_by_hub_is_refused(database_url: str) -> None:
    result = run_cli("rotate-key", "SOMECHANNEL", "--hub", "nope", env=service_env(database_url))
    refused(result, "no hub named 'nope' is configured")


def test_a_toml_syntax_error_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "onboard360.toml"
    config.write_text('public_url = "https://x.example"\nencryption_keys = [\n')
    refused(
        run_cli("serve", "--config", str(config), env={}, cwd=tmp_path),
        "cannot read configuration",
    )


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    result = run_cli("worker", env={"ONBOARD360_CONFIG": str(tmp_path / "nope.toml")})
    refused(result, "config file not found")


def test_a_busy_metrics_port_is_refused(database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("worker", "--metrics-port", str(port), env=service_env(database_url))
    refused(result, f"cannot serve metrics on 127.0.0.1:{port}")
