"""A key health check's verdict: a refused key is marked and announced once per loss, a
working one lifts the mark, and neither ever asks for a key (a new key revokes the old)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from onboard360.db import codec
from onboard360.domain import (
    Billing,
    ChannelState,
    DiscardKey,
    Effect,
    Input,
    KeyBlocker,
    KeyCheckFailed,
    KeyCheckPassed,
    KeyRotationRequested,
    KeyStatus,
    KeyStored,
    NotifyProduct,
    ProductEvent,
    ProvisionKey,
    Redirected,
    RedirectResult,
    apply,
    apply_all,
    dedupe_key,
    may_generate_key,
    may_replace_dead_key,
    may_rotate_key,
)
from tests.unit.domain.strategies import PROPERTY
from tests.unit.domain.test_lifecycle_properties import CH, CL, RUNNING, plans, play


def keyed() -> ChannelState:
    """A running channel of ours with its first key stored."""
    shared = Redirected(RedirectResult(CL, channels=(CH,)), 1)
    state, _ = apply_all(ChannelState(CH, Billing.PARTNER_PAYMENT), [RUNNING, shared])
    state, _ = apply(state, KeyStored(CH, state.key_intent))
    assert state.key is KeyStatus.STORED
    return state


def events(effects: tuple[Effect, ...]) -> list[ProductEvent]:
    return [e.event for e in effects if isinstance(e, NotifyProduct)]


def test_a_refused_key_is_marked_not_working_and_announced() -> None:
    state, effects = apply(keyed(), KeyCheckFailed(CH, 1))
    assert state.key_not_working
    assert state.key is KeyStatus.STORED  # still stored: the product may still read it
    assert effects == (NotifyProduct(ProductEvent.KEY_NOT_WORKING, CL, CH),)
    assert may_generate_key(state).blocker is KeyBlocker.KEY_NOT_WORKING


def test_a_refused_key_never_asks_for_a_new_key() -> None:
    state = keyed()
    for item in (KeyCheckFailed(CH, 1), KeyCheckFailed(CH, 1), KeyCheckPassed(CH, 1)):
        state, effects = apply(state, item)
        assert not any(isinstance(e, ProvisionKey | DiscardKey) for e in effects)
    assert state.key_intent == 1


def test_a_refusal_seen_again_announces_nothing() -> None:
    state, _ = apply(keyed(), KeyCheckFailed(CH, 1))
    assert apply(state, KeyCheckFailed(CH, 1)) == (state, ())


def test_a_later_success_lifts_the_mark_and_says_so() -> None:
    state, _ = apply(keyed(), KeyCheckFailed(CH, 1))
    state, effects = apply(state, KeyCheckPassed(CH, 1))
    assert not state.key_not_working
    assert events(effects) == [ProductEvent.KEY_WORKING]
    assert may_generate_key(state).blocker is KeyBlocker.HAS_KEY


def test_a_success_of_a_key_never_refused_changes_nothing() -> None:
    state = keyed()
    assert apply(state, KeyCheckPassed(CH, 1)) == (state, ())


def test_each_loss_is_announced_under_its_own_dedupe_key() -> None:
    state = keyed()
    keys = []
    for _ in range(2):
        state, lost = apply(state, KeyCheckFailed(CH, 1))
        (notice,) = lost
        assert isinstance(notice, NotifyProduct)
        keys.append(dedupe_key("pp", notice, state))
        state, _ = apply(state, KeyCheckPassed(CH, 1))
    assert keys[0] != keys[1]
    assert state.key_losses == 2


def test_a_check_of_another_key_is_stale() -> None:
    state = keyed()
    assert apply(state, KeyCheckFailed(CH, 7)) == (state, ())
    assert apply(state, KeyCheckFailed(CH, 0)) == (state, ())


def test_a_rotation_is_still_allowed_and_its_new_key_is_not_marked() -> None:
    marked, _ = apply(keyed(), KeyCheckFailed(CH, 1))
    assert may_rotate_key(marked, 1).allowed  # the way to a new key, when a person asks
    state, effects = apply(marked, KeyRotationRequested(CH, 1))
    assert [e for e in effects if isinstance(e, ProvisionKey)] == [ProvisionKey(CH, 2, True)]
    state, _ = apply(state, KeyStored(CH, 2))
    assert not state.key_not_working
    assert apply(state, KeyCheckFailed(CH, 1)) == (state, ())  # the old key's verdict


def test_no_verdict_while_no_key_is_stored() -> None:
    revoked, _ = apply(keyed(), Redirected(RedirectResult(CL, revoked=(CH,)), 2))
    assert revoked.key is KeyStatus.NONE
    assert apply(revoked, KeyCheckFailed(CH, 1)) == (revoked, ())


def test_the_mark_survives_the_state_column() -> None:
    state, _ = apply(keyed(), KeyCheckFailed(CH, 1))
    assert codec.channel_from_json(codec.channel_to_json(state)) == state
    older = codec.channel_to_json(keyed())
    del older["key_refused_intent"], older["key_losses"]
    assert codec.channel_from_json(older) == keyed()


@PROPERTY
@given(plans, st.lists(st.booleans(), min_size=1, max_size=6))
def test_no_check_verdict_ever_asks_for_or_drops_a_key(
    plan: tuple[object, list[object]], verdicts: list[bool]
) -> None:
    state, _, _ = play(*plan)  # type: ignore[arg-type]
    losses = 0
    for works in verdicts:
        item: Input = (KeyCheckPassed if works else KeyCheckFailed)(CH, state.key_intent)
        before = state
        state, effects = apply(state, item)
        assert not any(isinstance(e, ProvisionKey | DiscardKey) for e in effects)
        assert replace(state, key_refused_intent=0, key_losses=0) == replace(
            before, key_refused_intent=0, key_losses=0
        )
        losses += events(effects).count(ProductEvent.KEY_NOT_WORKING)
    assert losses == state.key_losses - play(*plan)[0].key_losses  # type: ignore[arg-type]


def test_only_a_key_found_dead_may_be_replaced_as_dead() -> None:
    working = keyed()
    assert may_replace_dead_key(working, 1).blocker is KeyBlocker.HAS_KEY
    assert "not marked not working" in may_replace_dead_key(working, 1).message
    dead, _ = apply(working, KeyCheckFailed(CH, 1))
    assert may_replace_dead_key(dead, 1).allowed
    # Another version than the stored one: a replay, whatever the mark says.
    assert may_replace_dead_key(dead, 2).blocker is KeyBlocker.NO_KEY
    again, _ = apply(dead, KeyCheckPassed(CH, 1))
    assert may_replace_dead_key(again, 1).blocker is KeyBlocker.HAS_KEY


def test_a_new_key_for_a_dead_one_lifts_the_mark_when_stored() -> None:
    dead, _ = apply(keyed(), KeyCheckFailed(CH, 1))
    asked, effects = apply(dead, KeyRotationRequested(CH, 1))
    assert effects == (ProvisionKey(CH, 2, rotation=True),)
    stored, told = apply(asked, KeyStored(CH, 2))
    assert not stored.key_not_working
    assert may_replace_dead_key(stored, 2).blocker is KeyBlocker.HAS_KEY
    assert ProductEvent.KEY_ROTATED in events(told)
