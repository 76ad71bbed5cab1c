"""Properties of the channel lifecycle under duplicated, replayed and reordered inputs.

Inputs are generated as *actions* and turned into concrete inputs against the state
reached so far, the way the world produces them: a key job answers the intent it was
given (sometimes a stale one), a rotation names the key the operator sees, a redirect
gets the next sequence number or replays an earlier one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import assume, given
from hypothesis import strategies as st

from onboard360.domain import (
    Billing,
    ChannelId,
    ChannelSnapshot,
    ChannelState,
    ClientId,
    Effect,
    Entitlement,
    Input,
    KeyPermission,
    KeyRefused,
    KeyRotationRequested,
    KeyStatus,
    KeyStored,
    NotifyProduct,
    PartnerEvent,
    Permission,
    PermissionConfirmed,
    ProductEvent,
    ProvisionKey,
    Redirected,
    RedirectResult,
    apply,
    apply_all,
    may_generate_key,
    parse_event,
    statuses,
)
from tests.unit.domain.strategies import PROPERTY

CH = ChannelId("A1CH")
CL = ClientId("C1CL")
# The properties below are about channels onboard360 may key (test_entitlement.py: others).
OURS = Entitlement.ONBOARDING
STATUSES = ["pending", "ready", "running", "terminated", "suspended", "pending_review"]
ONCE = {ProductEvent.CHANNEL_CREATED, ProductEvent.CHANNEL_RUNNING, ProductEvent.CHANNEL_TERMINATED}
BY_SEQUENCE = {
    ProductEvent.CHANNEL_SHARED,
    ProductEvent.PERMISSION_GRANTED,
    ProductEvent.PERMISSION_REVOKED,
}


def _event(name: str, **fields: object) -> PartnerEvent:
    return parse_event({"event": name, "payload": {"id": CH, "client_id": CL, **fields}})


def status_inputs() -> st.SearchStrategy[Input]:
    webhook = st.builds(
        lambda name, status: _event(name, **({"status": status} if status else {})),
        st.sampled_from(["channel_created", "channel_ready", "channel_running"]),
        st.none() | st.sampled_from(STATUSES),
    )
    snapshot = st.builds(
        lambda status: ChannelSnapshot(CH, status, CL), st.none() | st.sampled_from(STATUSES)
    )
    return webhook | snapshot


other_events = st.sampled_from(
    [
        _event("account_violation", violation_type="spam"),
        _event("account_restriction"),
        _event("template_messaging_enabled"),
        _event("template_messaging_disabled"),
        _event("something_new"),
    ]
)


@dataclass(frozen=True)
class Act:
    """An action resolved against the current state into a concrete input."""

    kind: str
    arg: int = 0


actions = st.one_of(
    status_inputs(),
    other_events,
    st.builds(Act, st.sampled_from(["grant", "revoke", "confirm", "replay_permission"])),
    st.builds(Act, st.sampled_from(["store", "refuse", "rotate"])),
    st.builds(
        Act, st.sampled_from(["stale_store", "stale_refuse", "stale_rotate"]), st.integers(0, 5)
    ),
)


def _permission(kind: str, sequence: int) -> Input:
    if kind == "grant":
        return Redirected(RedirectResult(CL, channels=(CH,)), sequence)
    if kind == "revoke":
        return Redirected(RedirectResult(CL, revoked=(CH,)), sequence)
    return PermissionConfirmed(CH, sequence)


def _key(kind: str, arg: int, state: ChannelState) -> Input | None:
    provisioning = state.key is KeyStatus.PROVISIONING
    # Stale answers and requests name intents that were issued already.
    stale = min(arg, state.key_intent)
    builders = {
        "store": lambda: KeyStored(CH, state.key_intent) if provisioning else None,
        "refuse": lambda: KeyRefused(CH, state.key_intent) if provisioning else None,
        # The edge accepts a rotation only for the key stored now (may_rotate_key).
        "rotate": lambda: (
            KeyRotationRequested(CH, state.key_intent) if state.key is KeyStatus.STORED else None
        ),
        "stale_store": lambda: KeyStored(CH, stale),
        "stale_refuse": lambda: KeyRefused(CH, stale),
        "stale_rotate": lambda: KeyRotationRequested(CH, min(arg, state.key_intent - 1)),
    }
    return builders[kind]()


def resolve(action: Input | Act, state: ChannelState, history: list[Input]) -> Input | None:
    if not isinstance(action, Act):
        return action
    earlier = [i for i in history if isinstance(i, Redirected | PermissionConfirmed)]
    if action.kind == "replay_permission":
        return earlier[-1] if earlier else None
    if action.kind in ("grant", "revoke", "confirm"):
        return _permission(action.kind, max((i.sequence for i in earlier), default=0) + 1)
    return _key(action.kind, action.arg, state)


def notified(effects: tuple[Effect, ...]) -> list[ProductEvent]:
    return [e.event for e in effects if isinstance(e, NotifyProduct)]


def play(
    billing: Billing, plan: list[Input | Act]
) -> tuple[ChannelState, list[Input], list[tuple[ChannelState, Input, tuple[Effect, ...]]]]:
    state = ChannelState(CH, billing, entitlement=OURS)
    history: list[Input] = []
    steps = []
    for action in plan:
        item = resolve(action, state, history)
        if item is None:
            continue
        before = state
        state, effects = apply(state, item)
        history.append(item)
        steps.append((before, item, effects))
    return state, history, steps


RUNNING = _event("channel_running")
# Half the plans start from a running channel the client just shared, so that key jobs
# and newer popup visits interleave often (from scratch, few plans get that far).
plans = st.tuples(
    st.sampled_from(Billing),
    st.lists(actions, max_size=40)
    | st.lists(actions, max_size=40).map(lambda rest: [RUNNING, Act("grant"), *rest]),
)


@PROPERTY
@given(plans)
def test_replaying_everything_changes_nothing(plan: tuple[Billing, list[Input | Act]]) -> None:
    final, history, _ = play(*plan)
    again, effects = apply_all(final, history)
    assert again == final
    assert effects == ()


@PROPERTY
@given(plans)
def test_each_input_delivered_twice_is_the_same_as_once(
    plan: tuple[Billing, list[Input | Act]],
) -> None:
    final, history, _ = play(*plan)
    state = ChannelState(CH, plan[0], entitlement=OURS)
    for item in history:
        state, _ = apply(state, item)
        state, effects = apply(state, item)
        assert effects == ()
    assert state == final


@PROPERTY
@given(plans)
def test_every_key_intent_is_provisioned_at_most_once(
    plan: tuple[Billing, list[Input | Act]],
) -> None:
    _, _, steps = play(*plan)
    intents = [e.intent for _, _, effects in steps for e in effects if isinstance(e, ProvisionKey)]
    assert intents == sorted(set(intents))
    assert intents == list(range(1, len(intents) + 1))


@PROPERTY
@given(plans)
def test_milestones_are_notified_at_most_once(plan: tuple[Billing, list[Input | Act]]) -> None:
    _, _, steps = play(*plan)
    sent = Counter(
        e.event for _, _, effects in steps for e in effects if isinstance(e, NotifyProduct)
    )
    assert all(sent[event] <= 1 for event in ONCE)


@PROPERTY
@given(plans)
def test_each_stored_key_is_announced_once(plan: tuple[Billing, list[Input | Act]]) -> None:
    _, _, steps = play(*plan)
    for before, item, effects in steps:
        announced = [
            e.event
            for e in effects
            if isinstance(e, NotifyProduct)
            and e.event in (ProductEvent.CHANNEL_ACTIVATED, ProductEvent.KEY_ROTATED)
        ]
        answers = (
            isinstance(item, KeyStored)
            and before.key is KeyStatus.PROVISIONING
            and before.key_intent == item.intent
        )
        assert len(announced) == (1 if answers else 0)


@PROPERTY
@given(plans)
def test_a_key_is_requested_only_when_the_rules_allow_it(
    plan: tuple[Billing, list[Input | Act]],
) -> None:
    billing, _ = plan
    _, _, steps = play(*plan)
    for before, item, effects in steps:
        for effect in (e for e in effects if isinstance(e, ProvisionKey)):
            after, _ = apply(before, item)
            assert after.status == statuses.RUNNING
            assert after.shared is not False
            assert after.key_permission in (KeyPermission.UNKNOWN, KeyPermission.GRANTED)
            if billing is Billing.DIRECT_PAYMENT:
                assert after.shared is True
            # A rotation only of a stored key; a first key only when there is none, or
            # when the one in flight was refused before a newer redirect (one more try).
            if effect.rotation:
                assert before.key is KeyStatus.STORED
            elif before.key is not KeyStatus.NONE:
                assert item == KeyRefused(CH, before.key_intent)


@PROPERTY
@given(plans)
def test_no_eligible_channel_is_left_without_a_key_request(
    plan: tuple[Billing, list[Input | Act]],
) -> None:
    _, _, steps = play(*plan)
    for before, item, _ in steps:
        after, _ = apply(before, item)
        assert not may_generate_key(after).allowed
        if after.key is not KeyStatus.NONE:
            assert after.status == statuses.RUNNING or statuses.is_terminal(after.status)
            assert after.permission not in (Permission.REVOKED, Permission.REFUSED)
            assert after.key_permission is not KeyPermission.REFUSED


@PROPERTY
@given(plans)
def test_api_key_permission_is_granted_only_by_a_key_or_an_operator(
    plan: tuple[Billing, list[Input | Act]],
) -> None:
    billing, _ = plan
    _, _, steps = play(*plan)
    for before, item, effects in steps:
        after, _ = apply(before, item)
        granted = ProductEvent.PERMISSION_GRANTED in notified(effects)
        became = after.key_permission is KeyPermission.GRANTED
        assert granted == (became and before.key_permission is not KeyPermission.GRANTED)
        if granted:
            stored = isinstance(item, KeyStored) and billing is Billing.DIRECT_PAYMENT
            assert stored or isinstance(item, PermissionConfirmed)
        if isinstance(item, Redirected):
            # A redirect shares or unshares the number; it never proves API-key permission.
            assert not granted


@PROPERTY
@given(plans)
def test_permission_notifications_are_distinct_by_their_dedupe_key(
    plan: tuple[Billing, list[Input | Act]],
) -> None:
    # jobs/effects.py dedupes these by (event, permission_sequence) / (event, key_intent):
    # two real notifications must never share a key, or the second is silently dropped.
    _, _, steps = play(*plan)
    keys: list[tuple[ProductEvent, int]] = []
    for before, item, effects in steps:
        after, _ = apply(before, item)
        for event in notified(effects):
            if event in BY_SEQUENCE:
                keys.append((event, after.permission_sequence))
            elif event is ProductEvent.PERMISSION_REFUSED:
                keys.append((event, after.key_intent))
    assert len(keys) == len(set(keys))


def _asked_before_newer_permission(
    steps: list[tuple[ChannelState, Input, tuple[Effect, ...]]],
) -> list[tuple[ChannelState, Input, tuple[Effect, ...], bool]]:
    """Each step, and whether a key outcome in it answers an intent asked for before the
    newest redirect / confirmation applied so far (tracked here, not read off the state)."""
    newest = 0
    asked: dict[int, int] = {}
    marked = []
    for before, item, effects in steps:
        intent = item.intent if isinstance(item, KeyStored | KeyRefused) else None
        marked.append((before, item, effects, intent in asked and asked[intent] < newest))
        if isinstance(item, Redirected | PermissionConfirmed):
            newest = max(newest, item.sequence)
        asked.update((e.intent, newest) for e in effects if isinstance(e, ProvisionKey))
    return marked


@PROPERTY
@given(plans)
def test_a_refusal_counts_only_for_an_intent_asked_after_the_newest_redirect(
    plan: tuple[Billing, list[Input | Act]],
) -> None:
    _, _, steps = play(*plan)
    for before, item, effects, stale in _asked_before_newer_permission(steps):
        answers = before.key is KeyStatus.PROVISIONING and item == KeyRefused(CH, before.key_intent)
        if not answers:
            continue
        after, _ = apply(before, item)
        assert (ProductEvent.PERMISSION_REFUSED in notified(effects)) is not stale
        assert (after.key_permission is KeyPermission.REFUSED) is not stale
        if stale:
            # Permission stays as the newer input left it; exactly one new attempt follows.
            assert after.key_permission is before.key_permission
            wanted = [] if statuses.is_terminal(after.status) else [before.key_intent + 1]
            assert [e.intent for e in effects if isinstance(e, ProvisionKey)] == wanted


def _key_verdict(state: ChannelState) -> tuple[object, ...]:
    return (
        may_generate_key(state).blocker,
        state.key,
        state.shared,
        state.permission is Permission.REFUSED,
    )


@PROPERTY
@given(
    plans,
    st.lists(st.sampled_from(["grant", "revoke", "confirm"]), min_size=1, max_size=4),
    st.sampled_from(["store", "refuse"]),
)
def test_a_key_outcome_ends_the_same_before_or_after_newer_redirects(
    plan: tuple[Billing, list[Input | Act]], kinds: list[str], outcome: str
) -> None:
    # The job answers intent N; the client may visit the popup (or an operator confirm)
    # any number of times before or after that answer is applied.
    billing, actions = plan
    state, _, _ = play(billing, [RUNNING, Act("grant"), *actions[:12]])
    assume(state.key is KeyStatus.PROVISIONING)
    newer = [_permission(k, state.permission_sequence + n) for n, k in enumerate(kinds, 1)]
    answer = (KeyStored if outcome == "store" else KeyRefused)(CH, state.key_intent)
    early, _ = apply_all(state, [answer, *newer])
    late, _ = apply_all(state, [*newer, answer])
    assert _key_verdict(late) == _key_verdict(early)
    assert late.permission_sequence == early.permission_sequence


@PROPERTY
@given(
    st.sampled_from(Billing),
    st.lists(st.sampled_from(["grant", "revoke", "confirm"]), max_size=8),
    st.booleans(),
    st.randoms(),
)
def test_sharing_converges_whatever_the_order(
    billing: Billing, kinds: list[str], running: bool, rnd
) -> None:
    # Each popup opening / operator action has its own sequence; they arrive in any order.
    items = [_permission(kind, n) for n, kind in enumerate(kinds, start=1)]
    if running:
        items.append(RUNNING)
    forward, _ = apply_all(ChannelState(CH, billing, entitlement=OURS), items)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    other, _ = apply_all(ChannelState(CH, billing, entitlement=OURS), shuffled)
    assert other.shared == forward.shared
    assert other.permission_sequence == forward.permission_sequence
    assert may_generate_key(other).blocker == may_generate_key(forward).blocker
    assert (other.key is KeyStatus.NONE) == (forward.key is KeyStatus.NONE)


@PROPERTY
@given(st.sampled_from(Billing), st.lists(status_inputs(), max_size=12), st.randoms())
def test_status_converges_whatever_the_order(billing: Billing, items: list[Input], rnd) -> None:
    forward, _ = apply_all(ChannelState(CH, billing, entitlement=OURS), items)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    other, _ = apply_all(ChannelState(CH, billing, entitlement=OURS), shuffled)
    assert other.status == forward.status
    assert other.statuses_seen == forward.statuses_seen
    assert may_generate_key(other) == may_generate_key(forward)
    if not statuses.is_terminal(forward.status):
        # A key requested before a late `terminated` cannot be un-requested.
        assert (other.key, other.key_intent) == (forward.key, forward.key_intent)


@PROPERTY
@given(st.lists(status_inputs(), max_size=12))
def test_a_running_channel_never_moves_back(items: list[Input]) -> None:
    state, _ = apply_all(ChannelState(CH, Billing.PARTNER_PAYMENT, entitlement=OURS), [RUNNING])
    for item in items:
        state, _ = apply(state, item)
        assert statuses.rank(state.status) >= statuses.rank(statuses.RUNNING)
