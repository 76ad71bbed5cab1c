"""Entitlement: onboard360 generates a key only for a channel it may key (decisions/0006).

A hub connected to onboard360 has clients from before whose keys another system holds;
a new key revokes the old one. Webhooks and syncs only ever *show* such channels.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from onboard360.domain import (
    Billing,
    ChannelSnapshot,
    ChannelState,
    Entitled,
    Entitlement,
    Input,
    KeyBlocker,
    KeyRefused,
    KeyRotationRequested,
    KeyStored,
    PermissionConfirmed,
    ProvisionKey,
    Redirected,
    RedirectResult,
    apply,
    apply_all,
    may_generate_key,
    statuses,
)
from tests.unit.domain.strategies import PROPERTY
from tests.unit.domain.test_lifecycle_properties import CH, CL, other_events, status_inputs

RUNNING = ChannelSnapshot(CH, "running", CL)

# Everything that reaches a channel without entitling it: webhooks, Partner API reads,
# an operator's permission confirmation, key outcomes and rotation requests that answer
# nothing of ours, a redirect that only revokes the number.
unentitling = st.one_of(
    status_inputs(),
    other_events,
    st.builds(PermissionConfirmed, st.just(CH), st.integers(1, 5)),
    st.builds(KeyStored, st.just(CH), st.integers(0, 3)),
    st.builds(KeyRefused, st.just(CH), st.integers(0, 3)),
    st.builds(KeyRotationRequested, st.just(CH), st.integers(0, 3)),
    st.builds(
        lambda sequence: Redirected(RedirectResult(CL, revoked=(CH,)), sequence),
        st.integers(1, 5),
    ),
)


@PROPERTY
@given(st.sampled_from(Billing), st.lists(unentitling, max_size=40))
def test_no_input_without_an_entitlement_leads_to_a_key_request(
    billing: Billing, items: list[Input]
) -> None:
    state, effects = apply_all(ChannelState(CH, billing), items)
    assert not [e for e in effects if isinstance(e, ProvisionKey)]
    assert state.entitlement is None
    verdict = may_generate_key(state)
    terminal = statuses.is_terminal(state.status)
    assert verdict.blocker is (KeyBlocker.TERMINATED if terminal else KeyBlocker.NOT_ENTITLED)


@PROPERTY
@given(st.sampled_from(Billing), st.sampled_from(Entitlement), st.lists(unentitling, max_size=20))
def test_an_entitlement_asks_for_a_key_once_when_the_rest_allows(
    billing: Billing, how: Entitlement, items: list[Input]
) -> None:
    state, _ = apply_all(ChannelState(CH, billing), [RUNNING, *items])
    entitled, effects = apply(state, Entitled(CH, how))
    assert entitled.entitlement is how
    allowed = may_generate_key(replace(state, entitlement=how)).allowed
    assert [e for e in effects if isinstance(e, ProvisionKey)] == (
        [ProvisionKey(CH, state.key_intent + 1)] if allowed else []
    )
    # A later entitlement keeps the first and asks for nothing.
    assert apply(entitled, Entitled(CH, Entitlement.TAKEN_OVER)) == (entitled, ())


def test_a_running_channel_found_by_sync_gets_no_key_and_says_why() -> None:
    state, effects = apply(ChannelState(CH, Billing.PARTNER_PAYMENT), RUNNING)
    assert not [e for e in effects if isinstance(e, ProvisionKey)]
    verdict = may_generate_key(state)
    assert verdict.blocker is KeyBlocker.NOT_ENTITLED
    assert "not onboarded through onboard360" in verdict.message


def test_a_redirect_listing_the_number_entitles_it() -> None:
    state, _ = apply(ChannelState(CH, Billing.PARTNER_PAYMENT), RUNNING)
    state, effects = apply(state, Redirected(RedirectResult(CL, channels=(CH,)), 1))
    assert state.entitlement is Entitlement.ONBOARDING
    assert [e for e in effects if isinstance(e, ProvisionKey)] == [ProvisionKey(CH, 1)]


def test_the_first_entitlement_is_kept() -> None:
    state, _ = apply(ChannelState(CH, Billing.PARTNER_PAYMENT), Entitled(CH, Entitlement.CLAIMED))
    state, _ = apply(state, Redirected(RedirectResult(CL, channels=(CH,)), 1))
    assert state.entitlement is Entitlement.CLAIMED


def test_an_entitled_direct_payment_number_still_waits_for_the_client() -> None:
    state, _ = apply(ChannelState(CH, Billing.DIRECT_PAYMENT), RUNNING)
    state, effects = apply(state, Entitled(CH, Entitlement.CLAIMED))
    assert not [e for e in effects if isinstance(e, ProvisionKey)]
    assert may_generate_key(state).blocker is KeyBlocker.WAITING_FOR_PERMISSION
