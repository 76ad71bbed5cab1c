from __future__ import annotations

from onboard360.domain import (
    ChannelId,
    ChannelSnapshot,
    ClientId,
    ClientState,
    KeyStored,
    NotifyProduct,
    ProductEvent,
    Redirected,
    RedirectResult,
    apply_client,
    channels_touched,
    client_of,
    parse_event,
)

CL = ClientId("C1CL")
A, B, C = ChannelId("A1CH"), ChannelId("B2CH"), ChannelId("C3CH")
CREATED = NotifyProduct(ProductEvent.CLIENT_CREATED, client_id=CL)


def test_client_created_makes_the_client_known_once() -> None:
    created = parse_event({"event": "client_created", "payload": {"id": CL}})
    state, effects = apply_client(ClientState(CL), created)
    assert state.known
    assert effects == (CREATED,)
    assert apply_client(state, created) == (state, ())


def test_channel_event_before_client_created_makes_the_client_known() -> None:
    body = {"event": "channel_created", "payload": {"id": A, "client_id": CL}}
    state, effects = apply_client(ClientState(CL), parse_event(body))
    assert effects == (CREATED,)
    assert state.channel_ids == (A,)


def test_redirect_lists_shared_and_revoked_channels_once_in_first_seen_order() -> None:
    first = Redirected(RedirectResult(CL, channels=(B, A)), 1)
    second = Redirected(RedirectResult(CL, channels=(C,), revoked=(A,)), 2)
    state, _ = apply_client(ClientState(CL), first)
    state, effects = apply_client(state, second)
    assert state.channel_ids == (B, A, C)
    assert effects == ()


def test_input_for_another_client_changes_nothing() -> None:
    other = Redirected(RedirectResult(ClientId("OTHER"), channels=(A,)), 1)
    assert apply_client(ClientState(CL), other) == (ClientState(CL), ())
    assert apply_client(ClientState(CL), KeyStored(A, 1)) == (ClientState(CL), ())


def test_routing_helpers() -> None:
    redirect = Redirected(RedirectResult(CL, channels=(A,), revoked=(B,)), 1)
    assert channels_touched(redirect) == (A, B)
    assert client_of(redirect) == CL
    assert channels_touched(ChannelSnapshot(C)) == (C,)
    assert client_of(ChannelSnapshot(C, client_id=CL)) == CL
    assert client_of(KeyStored(A, 1)) is None
    violation = parse_event({"event": "account_violation", "phone_number": "+4917"})
    assert channels_touched(violation) == ()
