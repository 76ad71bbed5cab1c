"""The sandbox's rules, without HTTP: hubs, credentials, permission, keys, lifecycle."""

from __future__ import annotations

import random

import pytest

from onboard360.hub import platform as p
from onboard360.sandbox.state import (
    Channel,
    Conflict,
    Hub,
    KeyRefused,
    NotFound,
    Sandbox,
    SandboxError,
)
from tests import sandbox_fixtures as sf


@pytest.fixture
def clock() -> sf.FakeClock:
    return sf.FakeClock()


@pytest.fixture
def sandbox(clock: sf.FakeClock) -> Sandbox:
    return sf.new_sandbox(clock=clock)


@pytest.fixture
def hub(sandbox: Sandbox) -> Hub:
    return sandbox.create_hub(sf.hub_spec())


@pytest.fixture
def channel(sandbox: Sandbox, hub: Hub) -> Channel:
    return sf.add_channel(sandbox, sf.add_client(sandbox, hub))


def test_hub_without_ids_or_credentials_gets_generated_ones(sandbox: Sandbox) -> None:
    hub = sandbox.create_hub(sf.hub_spec(partner_id=None, api_key=None, password=None))
    assert hub.partner_id.endswith(p.PARTNER_ID_SUFFIX)
    assert len(hub.api_key) >= 32
    assert hub.password


def test_second_hub_with_the_same_partner_id_conflicts(sandbox: Sandbox, hub: Hub) -> None:
    with pytest.raises(Conflict):
        sandbox.create_hub(sf.hub_spec(api_key="another-partner-key-0123"))


def test_hub_is_found_by_its_api_key_only(sandbox: Sandbox, hub: Hub) -> None:
    assert sandbox.hub_by_api_key(sf.API_KEY) is hub
    assert sandbox.hub_by_api_key(sf.API_KEY + "x") is None


def test_token_needs_the_right_password(sandbox: Sandbox, hub: Hub) -> None:
    assert sandbox.issue_token(sf.USERNAME, "wrong password") is None


def test_token_opens_its_hub_until_it_expires(
    sandbox: Sandbox, hub: Hub, clock: sf.FakeClock
) -> None:
    issued = sandbox.issue_token(sf.USERNAME, sf.PASSWORD)
    assert issued is not None
    value, _ = issued
    assert sandbox.hub_by_token(value) is hub
    clock.advance(p.TOKEN_TTL_SECONDS)
    assert sandbox.hub_by_token(value) is None


def test_partner_payment_clients_grant_key_permission_by_default(
    sandbox: Sandbox, hub: Hub
) -> None:
    assert sf.add_client(sandbox, hub).api_key_permission is True


def test_direct_payment_clients_do_not_grant_key_permission_by_default(
    sandbox: Sandbox,
) -> None:
    hub = sandbox.create_hub(sf.hub_spec(billing="direct"))
    assert sf.add_client(sandbox, hub).api_key_permission is False


def test_client_of_another_partner_is_not_found(sandbox: Sandbox, hub: Hub) -> None:
    client = sf.add_client(sandbox, hub)
    with pytest.raises(NotFound):
        sandbox.client(client.id, partner_id="OTHERPA")


def test_new_key_revokes_every_earlier_key(sandbox: Sandbox, hub: Hub, channel: Channel) -> None:
    first = sandbox.generate_api_key(hub.partner_id, channel.id)
    second = sandbox.generate_api_key(hub.partner_id, channel.id)
    third = sandbox.generate_api_key(hub.partner_id, channel.id)
    assert first.revoked_at is not None
    assert second.revoked_at is not None
    assert third.revoked_at is None
    assert channel.keys_generated == 3


def test_only_the_current_key_finds_its_channel(
    sandbox: Sandbox, hub: Hub, channel: Channel
) -> None:
    old = sandbox.generate_api_key(hub.partner_id, channel.id)
    new = sandbox.generate_api_key(hub.partner_id, channel.id)
    assert sandbox.channel_by_key(old.value) is None
    assert sandbox.channel_by_key(new.value) is channel


def test_key_for_a_channel_not_running_is_refused(sandbox: Sandbox, hub: Hub) -> None:
    channel = sf.add_channel(sandbox, sf.add_client(sandbox, hub), status="ready")
    with pytest.raises(KeyRefused, match="not running"):
        sandbox.generate_api_key(hub.partner_id, channel.id)
    assert channel.keys_generated == 0


def test_key_for_a_channel_not_shared_is_refused(sandbox: Sandbox, hub: Hub) -> None:
    channel = sf.add_channel(sandbox, sf.add_client(sandbox, hub), shared=False)
    with pytest.raises(KeyRefused, match="not shared"):
        sandbox.generate_api_key(hub.partner_id, channel.id)


def test_key_without_client_permission_is_refused(sandbox: Sandbox, hub: Hub) -> None:
    channel = sf.add_channel(sandbox, sf.add_client(sandbox, hub, permission=False))
    with pytest.raises(KeyRefused, match="permission"):
        sandbox.generate_api_key(hub.partner_id, channel.id)


def test_key_for_another_partners_channel_is_not_found(sandbox: Sandbox, channel: Channel) -> None:
    with pytest.raises(NotFound):
        sandbox.generate_api_key("OTHERPA", channel.id)


def test_taking_permission_away_revokes_the_key(
    sandbox: Sandbox, hub: Hub, channel: Channel
) -> None:
    key = sandbox.generate_api_key(hub.partner_id, channel.id)
    sandbox.set_api_key_permission(channel.client_id, granted=False)
    assert sandbox.channel_by_key(key.value) is None


def test_unsharing_a_channel_revokes_its_key(sandbox: Sandbox, hub: Hub, channel: Channel) -> None:
    key = sandbox.generate_api_key(hub.partner_id, channel.id)
    sandbox.set_shared([channel.id], shared=False)
    assert sandbox.channel_by_key(key.value) is None


def test_jumping_to_running_sends_every_step_passed(sandbox: Sandbox, hub: Hub) -> None:
    channel = sf.add_channel(sandbox, sf.add_client(sandbox, hub), status="pending")
    recorder = sandbox.dispatcher
    before = len(recorder.sent)  # type: ignore[attr-defined]
    sandbox.set_status(channel.id, p.STATUS_RUNNING)
    events = [e.event for e in recorder.sent[before:]]  # type: ignore[attr-defined]
    assert events == ["channel_ready", "channel_running"]
    assert channel.billing_started_at is not None


def test_running_channel_moved_back_to_ready_is_ready_again(
    sandbox: Sandbox, channel: Channel
) -> None:
    before = len(sandbox.dispatcher.sent)  # type: ignore[attr-defined]
    sandbox.set_status(channel.id, p.STATUS_READY)
    assert channel.status == p.STATUS_READY
    events = [e.event for e in sandbox.dispatcher.sent[before:]]  # type: ignore[attr-defined]
    assert events == ["channel_ready"]


def test_moving_to_the_current_status_sends_nothing(sandbox: Sandbox, channel: Channel) -> None:
    before = len(sandbox.dispatcher.sent)  # type: ignore[attr-defined]
    sandbox.set_status(channel.id, channel.status)
    assert len(sandbox.dispatcher.sent) == before  # type: ignore[attr-defined]


def test_unsharing_with_one_unknown_channel_changes_none(
    sandbox: Sandbox, hub: Hub, channel: Channel
) -> None:
    key = sandbox.generate_api_key(hub.partner_id, channel.id)
    with pytest.raises(NotFound):
        sandbox.set_shared([channel.id, "NOSUCHCH"], shared=False)
    assert channel.shared is True
    assert sandbox.channel_by_key(key.value) is channel


def test_generated_ids_skip_taken_ones(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.create_hub(sf.hub_spec(partner_id="AAAAPA"))
    drawn = iter(["aaaa", "bbbb"])
    monkeypatch.setattr("onboard360.sandbox.entities.secrets.token_hex", lambda _n: next(drawn))
    hub = sandbox.create_hub(sf.hub_spec(partner_id=None, api_key="second-partner-key-0123"))
    assert hub.partner_id == "BBBBPA"


def test_repr_of_hubs_and_channels_shows_no_secret(
    sandbox: Sandbox, hub: Hub, channel: Channel
) -> None:
    secret_hub = sandbox.create_hub(
        sf.hub_spec(
            partner_id="SECRETPA",
            api_key="api-key-never-shown-0123",
            platform_secret="platform-secret-never-shown",
            webhook_headers={"Authorization": "header-never-shown"},
        )
    )
    key = sandbox.generate_api_key(hub.partner_id, channel.id)
    channel.messaging_webhook = {"url": "https://x.test/", "headers": {"X": "inbound-secret"}}
    shown = repr(secret_hub) + repr(channel)
    for secret in ("never-shown", sf.PASSWORD, key.value, "inbound-secret"):
        assert secret not in shown


def test_running_channel_advances_no_further(sandbox: Sandbox, channel: Channel) -> None:
    assert sandbox.advance(channel.id) is None


def test_unknown_status_is_refused(sandbox: Sandbox, channel: Channel) -> None:
    with pytest.raises(SandboxError, match="unknown status"):
        sandbox.set_status(channel.id, "dancing")


def test_sandbox_has_fault_randomness_by_default() -> None:
    assert isinstance(Sandbox().rng, random.Random)
