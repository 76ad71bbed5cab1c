"""Importing the key the partner already holds: stored, announced, never generated."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from onboard360.domain import (
    KEY_IMPORTED,
    Billing,
    ChannelSnapshot,
    ChannelState,
    DiscardKey,
    Entitled,
    Entitlement,
    Input,
    KeyBlocker,
    KeyImported,
    KeyRotationRequested,
    KeyStatus,
    NotifyProduct,
    ProductEvent,
    ProvisionKey,
    Redirected,
    RedirectResult,
    apply,
    apply_all,
    may_generate_key,
    may_import_key,
)
from tests.unit.domain.strategies import PROPERTY
from tests.unit.domain.test_entitlement import RUNNING, unentitling
from tests.unit.domain.test_lifecycle_properties import CH, CL


def running(billing: Billing = Billing.PARTNER_PAYMENT) -> ChannelState:
    return apply(ChannelState(CH, billing), RUNNING)[0]


def test_an_imported_key_is_stored_and_announced_without_a_generation() -> None:
    state, effects = apply(running(), KeyImported(CH, 1))
    assert (state.key, state.key_intent, state.entitlement) == (
        KeyStatus.STORED,
        1,
        Entitlement.IMPORTED,
    )
    assert effects == (NotifyProduct(ProductEvent.CHANNEL_ACTIVATED, CL, CH, KEY_IMPORTED),)
    assert may_generate_key(state).blocker is KeyBlocker.HAS_KEY


def test_an_import_naming_another_intent_changes_nothing() -> None:
    state = running()
    assert apply(state, KeyImported(CH, 2)) == (state, ())
    imported, _ = apply(state, KeyImported(CH, 1))
    assert apply(imported, KeyImported(CH, 1)) == (imported, ())  # a replay
    assert apply(imported, KeyImported(CH, 2)) == (imported, ())  # it has a key


def test_a_revoked_or_terminated_number_takes_no_imported_key() -> None:
    revoked, _ = apply(running(), Redirected(RedirectResult(CL, revoked=(CH,)), 1))
    assert may_import_key(revoked).blocker is KeyBlocker.PERMISSION_REVOKED
    assert apply(revoked, KeyImported(CH, 1)) == (revoked, ())
    gone, _ = apply(running(), ChannelSnapshot(CH, "terminated", CL))
    assert may_import_key(gone).blocker is KeyBlocker.TERMINATED


def test_an_import_keeps_an_earlier_entitlement() -> None:
    state, _ = apply(running(Billing.DIRECT_PAYMENT), Entitled(CH, Entitlement.CLAIMED))
    state, effects = apply(state, KeyImported(CH, 1))
    assert (state.entitlement, state.key) == (Entitlement.CLAIMED, KeyStatus.STORED)
    assert not [e for e in effects if isinstance(e, ProvisionKey)]


@PROPERTY
@given(st.sampled_from(Billing), st.lists(unentitling, max_size=30))
def test_an_imported_key_never_leads_to_a_generation(billing: Billing, items: list[Input]) -> None:
    """Whatever webhooks, syncs or stale outcomes follow an import, no key is generated
    while the imported one is stored: only once the client took the number away (the key
    is discarded) may a later grant bring a new one (or an explicit rotation)."""
    state, _ = apply(running(billing), KeyImported(CH, 1))
    later = [i for i in items if not isinstance(i, KeyRotationRequested)]
    _, effects = apply_all(state, later)
    kinds = [type(e) for e in effects if isinstance(e, ProvisionKey | DiscardKey)]
    assert kinds[:1] != [ProvisionKey]
