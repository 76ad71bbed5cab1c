"""Adopting a hub that already has clients (issue 18): never revoke a key that is in use.

The partner's old system holds the keys of running channels at the sandbox (it generated
them through the Partner API itself). onboard360 is configured for the hub, a worker runs
with reconciliation on and `onboard360 sync` runs: none of those keys may be revoked.
Then the keys are imported (no generation), or a channel is taken over (exactly one
generation, and only after the confirmation names the live channels affected).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from onboard360.jobs.queue import MESSAGING_TASK
from tests.cli_process import run_onboard360
from tests.integration.dashboard_http import FORM_RE, HIDDEN_RE, Dashboard
from tests.integration.service_http import rows
from tests.sandbox_fixtures import wait_until
from tests.stack import Stack, running_stack

OLD_SYSTEM_HOOK = "https://old-system.example/whatsapp"


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    """With a messaging webhook configured: a generated key would point it at the product."""
    with running_stack(database_url, messaging_webhook=True) as s:
        yield s


@dataclass(frozen=True)
class Held:
    """A channel onboarded before onboard360, and the key the partner's system holds."""

    channel_id: str
    api_key: str


def old_system_channels(stack: Stack, count: int, hub: str = "pp") -> list[Held]:
    """Running channels whose keys the partner's current system generated itself, with
    their messaging webhook pointing at that system."""
    pid = stack.hub(hub).partner_id
    client = stack.sandbox.create_client(pid, "Before", "before@example.test")
    held = []
    for n in range(count):
        channel = stack.sandbox.create_channel(client.id, f"+4916{n:09d}")
        stack.sandbox.set_status(channel.id, "running")
        answer = httpx.post(
            f"{stack.sandbox_url}/api/v2/partners/{pid}/channels/{channel.id}/api_keys",
            headers={"x-api-key": stack.hub(hub).api_key.get_secret_value()},  # type: ignore[union-attr]
        )
        assert answer.status_code in (200, 201), answer.text
        key = answer.json()["api_key"]
        set_hook = httpx.post(
            f"{stack.sandbox_url}/v1/configs/webhook",
            headers={"D360-API-KEY": key},
            json={"url": OLD_SYSTEM_HOOK},
        )
        assert set_hook.status_code == 200, set_hook.text
        held.append(Held(channel.id, key))
    return held


def messaging_hook(stack: Stack, key: str) -> httpx.Response:
    """The read-only Messaging API call: 200 while the key is the channel's live one."""
    return httpx.get(f"{stack.sandbox_url}/v1/configs/webhook", headers={"D360-API-KEY": key})


def generations(stack: Stack, held: list[Held]) -> list[int]:
    return [stack.sandbox.channel(h.channel_id).keys_generated for h in held]


def cli(stack: Stack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_onboard360(*args, env=stack.env(), stdin=stdin, timeout=60)


def run_worker_until_reconciled(stack: Stack) -> str:
    """`onboard360 worker` with reconciliation every 2 s, until a reconcile job finished;
    answers everything it logged."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONBOARD360_")}
    env.update(stack.env(), ONBOARD360_RECONCILE_CRON="* * * * * */2")
    worker = subprocess.Popen(
        [sys.executable, "-m", "onboard360", "worker"],
        env=env,
        cwd=Path(__file__).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: bool(
                rows(
                    stack,
                    "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'reconcile' "
                    "AND status = 'succeeded'",
                )
            ),
            what="the worker's periodic reconciliation",
            timeout=60,
        )
        wait_until(
            lambda: (
                not rows(
                    stack, "SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
                )
            ),
            what="the worker to run every job",
            timeout=30,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    return output


def assert_no_secret(held: list[Held], *texts: str) -> None:
    for text in texts:
        for h in held:
            assert h.api_key not in text


def test_existing_keys_survive_worker_and_sync_then_import_and_take_over(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    held = old_system_channels(stack, 3)
    stack.settle()  # their webhooks arrived: the channels are recorded as running

    worker_log = run_worker_until_reconciled(stack)
    synced = cli(stack, "sync", "--hub", "pp")
    stack.drain()

    assert synced.returncode == 0, synced.stderr
    assert generations(stack, held) == [1, 1, 1]  # the partner's own, nothing more
    assert rows(stack, "SELECT * FROM key_generations") == []
    assert all(messaging_hook(stack, h.api_key).status_code == 200 for h in held)
    seen = stack.api.get(f"/api/v1/channels/{held[0].channel_id}").json()
    assert (seen["status"], seen["blocker"]) == ("running", "not_entitled")

    # Import two of them from stdin: readable by the product, no generation.
    imported = cli(
        stack,
        *("hubs", "adopt", "--hub", "pp", "--import-keys", "-"),
        stdin="".join(f"{h.channel_id},{h.api_key}\n" for h in held[:2]),
    )
    stack.drain()

    assert imported.returncode == 0, imported.stderr
    assert f"{held[0].channel_id}: key imported (key version 1)" in imported.stdout
    for h in held[:2]:
        key = stack.api.get(f"/api/v1/channels/{h.channel_id}/api-key")
        assert key.status_code == 200, key.text
        assert (key.json()["api_key"], key.json()["key_version"]) == (h.api_key, 1)
        # The messaging webhook still points at the partner's current system.
        assert messaging_hook(stack, h.api_key).json()["url"] == OLD_SYSTEM_HOOK
    assert generations(stack, held) == [1, 1, 1]
    assert not rows(stack, "SELECT 1 FROM procrastinate_jobs WHERE task_name = %s", MESSAGING_TASK)
    activated = [
        e
        for e in stack.product_events()
        if e["type"] == "channel.activated" and e["data"]["channel_id"] == held[0].channel_id
    ]
    assert [e["data"]["detail"] for e in activated] == ["key_imported"]

    # A take-over without the right confirmation generates nothing.
    third = held[2].channel_id
    unconfirmed = cli(stack, *("hubs", "adopt", "--hub", "pp", "--take-over", third), stdin="")
    wrong = cli(stack, *("hubs", "adopt", "--hub", "pp", "--take-over", third, "--yes-revoke", "0"))
    stack.drain()
    assert (unconfirmed.returncode, wrong.returncode) == (2, 1)
    assert "stops working on 1 live channel(s)" in wrong.stderr
    assert generations(stack, held) == [1, 1, 1]
    assert messaging_hook(stack, held[2].api_key).status_code == 200

    # Confirmed through the prompt: exactly one generation; the old key dies.
    taken = cli(stack, *("hubs", "adopt", "--hub", "pp", "--take-over", third), stdin="1\n")
    stack.drain()
    stack.drain()
    assert taken.returncode == 0, taken.stderr
    assert "1 new key(s) asked for" in taken.stdout
    assert generations(stack, held) == [1, 1, 2]
    assert messaging_hook(stack, held[2].api_key).status_code == 401
    assert stack.api.get(f"/api/v1/channels/{third}/api-key").json()["key_version"] == 1
    assert (
        rows(stack, "SELECT detail FROM audit_log WHERE action = 'adopt_taken_over'")[0]["detail"][
            "source"
        ]
        == "cli"
    )

    outputs = [worker_log, synced.stdout, synced.stderr, imported.stdout, imported.stderr]
    outputs += [unconfirmed.stderr, wrong.stderr, taken.stdout, taken.stderr, caplog.text]
    timeline = rows(stack, "SELECT detail::text AS d FROM timeline")
    audit = rows(stack, "SELECT detail::text AS d FROM audit_log")
    assert_no_secret(held, *outputs, *(r["d"] for r in timeline + audit))


def test_a_wrong_key_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    held = old_system_channels(stack, 2)
    stack.settle()
    before = rows(stack, "SELECT channel_id, state FROM channels ORDER BY channel_id")
    events_before = rows(stack, "SELECT id FROM product_events")
    wrong_key = "not-the-key-" + "x" * 30

    refused = cli(
        stack,
        *("hubs", "adopt", "--hub", "pp", "--import-keys", "-"),
        # One good key and one wrong one: all or nothing.
        stdin=f"{held[0].channel_id},{held[0].api_key}\n{held[1].channel_id},{wrong_key}\n",
    )

    assert refused.returncode == 1
    assert f"360dialog refused the key given for {held[1].channel_id}" in refused.stderr
    assert "nothing was stored" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert_no_secret([*held, Held("", wrong_key)], refused.stdout, refused.stderr)
    assert rows(stack, "SELECT * FROM api_keys") == []
    assert rows(stack, "SELECT channel_id, state FROM channels ORDER BY channel_id") == before
    assert rows(stack, "SELECT id FROM product_events") == events_before
    assert stack.api.get(f"/api/v1/channels/{held[0].channel_id}/api-key").status_code == 409
    assert generations(stack, held) == [1, 1]


def test_the_dry_run_lists_every_channel_and_what_would_happen(stack: Stack) -> None:
    held = old_system_channels(stack, 2)
    ours = stack.redirect_running_channel("pp", phone="+4915100000009")
    stack.settle()

    listed = cli(stack, "hubs", "adopt", "--hub", "pp")

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    for h in held:
        (line,) = [x for x in lines if h.channel_id in x]
        assert "Before" in line
        assert "running" in line
        assert "left unkeyed; can be imported, or taken over (its current key dies)" in line
    (mine,) = [x for x in lines if ours in x]
    assert "already onboard360's to key (onboarding)" in mine
    assert (
        "pp: 2 client(s), 3 channel(s) (3 live): 1 already onboard360's to key, "
        "2 left unkeyed (2 live), 0 terminated. Dry run: nothing was changed."
    ) in listed.stdout
    assert generations(stack, held) == [1, 1]
    assert rows(stack, "SELECT * FROM audit_log") == []


# ---- the same through the product API ---------------------------------------------------


def test_api_dry_run_import_and_take_over(stack: Stack) -> None:
    held = old_system_channels(stack, 3)
    stack.settle()

    listed = stack.api.get("/api/v1/hubs/pp/adoption")
    assert listed.status_code == 200, listed.text
    assert listed.json()["counts"] == {
        "clients": 1,
        "channels": 3,
        "live": 3,
        "entitled": 0,
        "left": 3,
        "left_live": 3,
        "terminated": 0,
    }
    assert {c["choices"] == ["import", "take_over"] for c in listed.json()["channels"]} == {True}

    url = "/api/v1/hubs/pp/adoption/import"
    wrong = stack.api.post(
        url, json={"keys": [{"channel_id": held[0].channel_id, "api_key": "nope"}]}
    )
    extra = stack.api.post(
        url, json={"keys": [{"channel_id": held[0].channel_id, "api_key": "x"}], "also": 1}
    )
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (409, "key_refused")
    assert extra.status_code == 422
    assert rows(stack, "SELECT * FROM api_keys") == []

    imported = stack.api.post(
        url, json={"keys": [{"channel_id": held[0].channel_id, "api_key": held[0].api_key}]}
    )
    again = stack.api.post(
        url, json={"keys": [{"channel_id": held[0].channel_id, "api_key": held[0].api_key}]}
    )
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"imported": [{"channel_id": held[0].channel_id, "key_version": 1}]}
    assert imported.headers["cache-control"] == "no-store"
    assert (again.status_code, again.json()["error"]["code"]) == (409, "cannot_import")
    assert "already has an API key" in again.json()["error"]["message"]
    read = stack.api.get(f"/api/v1/channels/{held[0].channel_id}/api-key").json()
    assert read["api_key"] == held[0].api_key

    take = "/api/v1/hubs/pp/adoption/take-over"
    mismatch = stack.api.post(take, json={"all_left": True, "live_channels": 1})
    stack.drain()
    assert (mismatch.status_code, mismatch.json()["error"]["code"]) == (
        409,
        "confirmation_mismatch",
    )
    assert "stops working on 2 live channel(s)" in mismatch.json()["error"]["message"]
    assert generations(stack, held) == [1, 1, 1]

    taken = stack.api.post(take, json={"all_left": True, "live_channels": 2})
    stack.drain()
    assert taken.status_code == 202, taken.text
    assert sorted(taken.json()["channel_ids"]) == sorted(h.channel_id for h in held[1:])
    assert (taken.json()["live"], taken.json()["keys_requested"]) == (2, 2)
    assert generations(stack, held) == [1, 2, 2]
    retaken = stack.api.post(take, json={"channel_ids": [held[1].channel_id], "live_channels": 1})
    assert (retaken.status_code, retaken.json()["error"]["code"]) == (409, "already_entitled")
    sources = rows(stack, "SELECT detail->>'source' AS s FROM audit_log")
    assert {r["s"] for r in sources} == {"api"}


def test_api_import_of_a_channel_360dialog_does_not_list_stores_nothing(stack: Stack) -> None:
    held = old_system_channels(stack, 1)
    # A live key, named for a channel id 360dialog does not list under the hub.
    answer = stack.api.post(
        "/api/v1/hubs/pp/adoption/import",
        json={"keys": [{"channel_id": "NOTOURS0CH", "api_key": held[0].api_key}]},
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (404, "unknown_channel")
    assert held[0].api_key not in answer.text
    assert rows(stack, "SELECT * FROM api_keys") == []
    assert rows(stack, "SELECT * FROM channels WHERE channel_id = 'NOTOURS0CH'") == []
    assert stack.api.get("/api/v1/hubs/dp/adoption").json()["counts"]["channels"] == 0
    assert stack.api.get("/api/v1/hubs/nope/adoption").status_code == 404


# ---- the same from the operator dashboard -----------------------------------------------


def test_dashboard_lists_imports_and_takes_over_with_csrf(
    stack: Stack, dashboard: Dashboard
) -> None:
    held = old_system_channels(stack, 2)
    stack.settle()
    page = dashboard.get("/dashboard/hubs/pp/adopt")
    assert page.status_code == 200, page.text
    assert "2 left unkeyed (2 live)" in page.text
    assert 'href="/dashboard/hubs/pp/adopt"' in dashboard.get("/dashboard").text
    import_url = "/dashboard/hubs/pp/adopt/import"
    (fields,) = [  # the first channel's import form
        form
        for action, body in FORM_RE.findall(page.text)
        if action == import_url
        and (form := dict(HIDDEN_RE.findall(body))).get("channel") == held[0].channel_id
    ]

    forged = dashboard.http.post(
        import_url, data={"channel": held[0].channel_id, "api_key": held[0].api_key}
    )
    wrong = dashboard.http.post(import_url, data={**fields, "api_key": "wrong-" + "k" * 30})
    assert forged.status_code == 403
    assert wrong.status_code == 409
    assert "360dialog refused the key" in wrong.text
    assert rows(stack, "SELECT * FROM api_keys") == []

    done = dashboard.http.post(import_url, data={**fields, "api_key": held[0].api_key})
    assert done.status_code == 303, done.text
    assert "Key(s) imported" in dashboard.get(done.headers["location"]).text
    read = stack.api.get(f"/api/v1/channels/{held[0].channel_id}/api-key").json()
    assert read["api_key"] == held[0].api_key

    take_url = "/dashboard/hubs/pp/adopt/take-over"
    token = dashboard.csrf_token()
    choose = {"csrf_token": token, "channel": held[1].channel_id}
    unconfirmed = dashboard.http.post(take_url, data={**choose, "live_channels": "2"})
    stack.drain()
    assert unconfirmed.status_code == 409
    assert "stops working on 1 live channel(s)" in unconfirmed.text
    assert generations(stack, held) == [1, 1]

    taken = dashboard.http.post(take_url, data={**choose, "live_channels": "1"})
    stack.drain()
    assert taken.status_code == 303, taken.text
    assert generations(stack, held) == [1, 2]
    audit = rows(
        stack,
        "SELECT action, operator_id, detail FROM audit_log WHERE action LIKE %s ORDER BY id",
        "adopt_%",
    )
    assert [(a["action"], a["detail"]["source"]) for a in audit] == [
        ("adopt_key_imported", f"dashboard:operator-{audit[0]['operator_id']}"),
        ("adopt_taken_over", f"dashboard:operator-{audit[0]['operator_id']}"),
    ]
    assert audit[0]["operator_id"] is not None
    assert_no_secret(held, *(str(a["detail"]) for a in audit))
