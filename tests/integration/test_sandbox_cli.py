"""`onboard360 sandbox <command>` against a sandbox on real HTTP, and `--hubs` files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from onboard360.cli.app import app
from onboard360.runtime.serving import free_port
from onboard360.sandbox.cli import load_hubs
from tests.sandbox_fixtures import logged, running_sandbox, running_sink, wait_until

runner = CliRunner()


@pytest.fixture
def base() -> Iterator[str]:
    with running_sandbox() as url:
        yield url


def run(base: str, *args: str) -> Result:
    return runner.invoke(app, ["sandbox", args[0], "--url", base, *args[1:]])


def ok(base: str, *args: str) -> Any:
    result = run(base, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(result: Result, code: int = 1) -> str:
    """The single error line of a failed command (and no traceback)."""
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def new_hub(base: str, *extra: str) -> dict[str, Any]:
    hub: dict[str, Any] = ok(base, "create-hub", "--redirect-url", "http://127.0.0.1:9/x", *extra)
    return hub


def test_create_hub_prints_ids_and_secrets(base: str) -> None:
    hub = new_hub(
        base, "--platform-secret", "p" * 20, "--header", "Authorization: abc", "--billing", "direct"
    )
    assert hub["partner_id"].endswith("PA")
    assert hub["api_key"]
    assert hub["password"]
    assert hub["platform_secret"] == "p" * 20
    assert hub["webhook_headers"] == {"Authorization": "abc"}
    assert hub["billing"] == "direct"
    assert hub["popup_url"].startswith(base)


def test_hubs_lists_without_secrets(base: str) -> None:
    hub = new_hub(base)
    (listed,) = ok(base, "hubs")["hubs"]
    assert listed["partner_id"] == hub["partner_id"]
    assert "api_key" not in listed


def test_a_whole_lifecycle_reaches_the_webhook_sink(base: str) -> None:
    with running_sink() as (sink, url):
        hub = new_hub(base, "--webhook-url", url, "--no-auto-advance")
        client = ok(base, "create-client", hub["partner_id"], "--name", "Acme")
        channel = ok(base, "create-channel", client["id"], "--phone", "+4915112345678")
        assert ok(base, "status", channel["id"], "running")["status"] == "running"
        triggered = ok(
            base, "trigger", channel["id"], "account_violation", "--violation-type", "SCAM"
        )
        assert triggered["event"] == "account_violation"

        expected = [
            "client_created",
            "channel_created",
            "channel_ready",
            "channel_running",
            "account_violation",
        ]
        wait_until(lambda: sink.events() == expected, what="five webhooks in order")
        logged(base, len(expected))
        shown = ok(base, "deliveries", "--partner-id", hub["partner_id"])["deliveries"]
        assert [d["event"] for d in shown] == expected


def test_update_hub_points_webhooks_elsewhere(base: str) -> None:
    hub = new_hub(base, "--no-auto-advance")
    with running_sink() as (sink, url):
        patched = ok(
            base, "update-hub", hub["partner_id"], "--webhook-url", url, "--step-delay", "1"
        )
        assert patched["webhook_url"] == url
        assert patched["step_delay_seconds"] == 1
        ok(base, "create-client", hub["partner_id"])
        wait_until(lambda: sink.events() == ["client_created"], what="client_created")


def test_echo_state_is_switched_at_creation_and_later(base: str) -> None:
    hub = new_hub(base, "--no-echo-state")
    assert hub["echo_state"] is False
    assert ok(base, "update-hub", hub["partner_id"], "--echo-state")["echo_state"] is True


def test_update_hub_without_options_is_refused(base: str) -> None:
    hub = new_hub(base)
    assert "nothing to change" in refused(run(base, "update-hub", hub["partner_id"]), code=2)


def test_permission_grant_and_revoke(base: str) -> None:
    hub = new_hub(base, "--no-auto-advance")
    client = ok(base, "create-client", hub["partner_id"])
    channel = ok(base, "create-channel", client["id"])

    assert ok(base, "permission", "revoke", client["id"])["api_key_permission"] is False
    assert ok(base, "permission", "grant", client["id"])["api_key_permission"] is True
    assert ok(base, "permission", "revoke", channel["id"], "--sharing")["shared"] is False
    assert ok(base, "permission", "grant", channel["id"], "--sharing")["shared"] is True


def test_faults_changes_only_the_given_switches(base: str) -> None:
    hub = new_hub(base)
    pid = hub["partner_id"]
    shown = ok(base, "faults", pid, "--duplicate", "0.2", "--drop", "0.1", "--reorder")
    assert shown["webhook_duplicate_rate"] == 0.2
    assert shown["webhook_drop_rate"] == 0.1
    assert shown["webhook_reorder"] is True
    assert shown["outage"] is False

    again = ok(base, "faults", pid, "--no-reorder", "--outage", "--api-429", "0.5")
    assert again["webhook_duplicate_rate"] == 0.2
    assert again["webhook_reorder"] is False
    assert again["outage"] is True
    assert ok(base, "faults", pid) == again


def test_faults_out_of_range_is_one_clear_line(base: str) -> None:
    hub = new_hub(base)
    line = refused(run(base, "faults", hub["partner_id"], "--drop", "2"))
    assert "422" in line
    assert "webhook_drop_rate" in line


def test_keys_shows_counts_per_hub_and_per_channel(base: str) -> None:
    hub = new_hub(base, "--no-auto-advance")
    channel = ok(base, "create-channel", ok(base, "create-client", hub["partner_id"])["id"])

    counts = ok(base, "keys", hub["partner_id"])
    assert counts["key_counts"] == {channel["id"]: 0}
    assert ok(base, "keys", hub["partner_id"], "--only-with-keys")["key_counts"] == {}
    assert ok(base, "keys", channel["id"], "--channel") == {
        "channel_id": channel["id"],
        "keys_generated": 0,
    }


def test_seed_creates_many_channels(base: str) -> None:
    hub = new_hub(base)
    seeded = ok(base, "seed", hub["partner_id"], "--clients", "50", "--channels-per-client", "2")
    assert seeded["channels_created"] == 100
    assert len(ok(base, "keys", hub["partner_id"])["key_counts"]) == 100


def test_unknown_ids_and_values_are_one_clear_line(base: str) -> None:
    assert refused(run(base, "status", "NOPECH", "running")) == (
        "error: HTTP 404: no channel 'NOPECH'"
    )
    hub = new_hub(base, "--no-auto-advance")
    channel = ok(base, "create-channel", ok(base, "create-client", hub["partner_id"])["id"])
    assert "flying" in refused(run(base, "status", channel["id"], "flying"))
    assert "unknown event" in refused(run(base, "trigger", channel["id"], "channel_exploded"))


def test_unreachable_sandbox_is_one_clear_line() -> None:
    line = refused(run(f"http://127.0.0.1:{free_port()}", "hubs"))
    assert "cannot reach the sandbox" in line


def test_credentials_in_the_url_never_reach_the_error_line() -> None:
    line = refused(run(f"http://ci:s3cret-pass@127.0.0.1:{free_port()}", "hubs"))
    assert "cannot reach the sandbox at http://127.0.0.1:" in line
    assert "s3cret" not in line
    assert "s3cret" not in refused(run("ftp://ci:s3cret-pass@127.0.0.1", "hubs"))
    assert "s3cret" not in refused(run("http://ci:s3cret-pass@127.0.0.1:port", "hubs"))


def test_bad_url_and_header_are_refused() -> None:
    assert "--url" in refused(run("nope", "hubs"))
    result = runner.invoke(
        app,
        ["sandbox", "create-hub", "--redirect-url", "http://x/", "--header", "no-colon"],
    )
    assert "--header" in refused(result, code=2)


def test_url_comes_from_the_environment(base: str) -> None:
    result = runner.invoke(app, ["sandbox", "hubs"], env={"ONBOARD360_SANDBOX_URL": base})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"hubs": []}


# ---- --hubs files ----------------------------------------------------------------------------


def test_load_hubs_reads_toml(tmp_path: Path) -> None:
    path = tmp_path / "hubs.toml"
    path.write_text(
        '[[hubs]]\npartner_id = "ACMEPA"\nredirect_url = "http://127.0.0.1:8080/done"\n'
        "echo_state = false\n"
        "[hubs.faults]\nwebhook_drop_rate = 0.5\n"
        '[[hubs]]\nredirect_url = "http://127.0.0.1:8080/other"\nbilling = "direct"\n',
        encoding="utf-8",
    )
    first, second = load_hubs(path)
    assert first.partner_id == "ACMEPA"
    assert first.faults.webhook_drop_rate == 0.5
    assert (first.echo_state, second.echo_state) == (False, True)
    assert second.billing == "direct"


def test_load_hubs_reads_json(tmp_path: Path) -> None:
    path = tmp_path / "hubs.json"
    path.write_text(json.dumps({"hubs": [{"redirect_url": "http://x/"}]}), encoding="utf-8")
    (hub,) = load_hubs(path)
    assert hub.redirect_url == "http://x/"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("hubs.toml", "[[hubs]\n", "not valid TOML"),
        ("hubs.json", "{", "not valid JSON"),
        ("hubs.toml", 'hubs = "nope"\n', "list named 'hubs'"),
        ("hubs.json", "[]", "list named 'hubs'"),
        ("hubs.toml", '[[hubs]]\npartner_id = "bad"\nredirect_url = "http://x/"\n', "partner_id"),
        ("hubs.toml", "[[hubs]]\nname = 'no redirect'\n", "hubs.0.redirect_url"),
        ("hubs.json", '{"hubs": [{"redirect_url": "http://x/", "extra": 1}]}', "extra"),
    ],
)
def test_load_hubs_explains_invalid_files(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_hubs(path)


def test_load_hubs_explains_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_hubs(tmp_path / "absent.toml")


def test_serving_with_an_invalid_hubs_file_exits_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Logging set up inside CliRunner would keep writing to its closed stream afterwards.
    monkeypatch.setattr("onboard360.sandbox.cli.configure_logging", lambda: None)
    path = tmp_path / "hubs.toml"
    path.write_text("[[hubs]]\n", encoding="utf-8")
    result = runner.invoke(app, ["sandbox", "--hubs", str(path), "--port", str(free_port())])
    line = refused(result, code=2)
    assert "redirect_url" in line
