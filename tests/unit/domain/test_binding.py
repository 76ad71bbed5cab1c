"""Who a redirected client belongs to (domain/binding.py): the rules one by one, then
properties — nothing 360dialog does not list is kept, and no interleaving of honest and
forged redirects with 360dialog's own facts moves a channel to another owner or changes
its sharing, permission or key on a forger's word."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard360.domain import (
    DEFAULT_CLOCK_SKEW,
    Attempt,
    Billing,
    ChannelId,
    ChannelSnapshot,
    ChannelState,
    Claim,
    ClientFacts,
    ClientId,
    DiscardKey,
    Input,
    ProvisionKey,
    Redirected,
    RedirectResult,
    apply,
    may_claim,
    verify,
)
from tests.unit.domain.strategies import PROPERTY, channel_ids, client_ids

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CL = ClientId("C1CL")
A, B, JUNK = ChannelId("A1CH"), ChannelId("B1CH"), ChannelId("FAKE0000CH")


def facts(created: datetime | None = T0, *channels: ChannelId, exists: bool = True) -> ClientFacts:
    return ClientFacts(CL, exists=exists, created_at=created, channels=frozenset(channels))


def redirect(channels: tuple[ChannelId, ...] = (A,), revoked: tuple[ChannelId, ...] = ()):
    return RedirectResult(CL, channels, revoked)


def alice(began: datetime = T0 - timedelta(minutes=5)) -> Attempt:
    return Attempt("alice", began)


# ---- the rules --------------------------------------------------------------------------------


def test_a_client_360dialog_created_during_the_attempt_is_bound() -> None:
    verdict = verify(redirect(), facts(T0, A), alice(), None, now=T0)
    assert verdict.claim is Claim.NEW
    assert verdict.claim.binds
    assert verdict.redirect == redirect()


def test_a_returning_client_of_the_same_user_is_bound_whatever_its_age() -> None:
    old = T0 - timedelta(days=400)
    verdict = verify(redirect(), facts(old, A), alice(), "alice", now=T0)
    assert verdict.claim is Claim.RETURNING


def test_someone_elses_client_is_a_conflict() -> None:
    verdict = verify(redirect(), facts(T0, A), alice(), "bob", now=T0)
    assert verdict.claim is Claim.OTHER_USER
    assert verdict.claim.conflict
    assert not verdict.claim.binds


@pytest.mark.parametrize("created", [T0 - timedelta(days=1), None])
def test_an_old_or_ageless_unbound_client_is_a_conflict(created: datetime | None) -> None:
    verdict = verify(redirect(), facts(created, A), alice(T0), None, now=T0)
    assert verdict.claim is Claim.OLD_CLIENT
    assert verdict.claim.conflict


def test_clock_skew_is_allowed_both_ways_and_no_more() -> None:
    began = T0
    inside = [began - DEFAULT_CLOCK_SKEW, T0 + DEFAULT_CLOCK_SKEW]
    outside = [began - DEFAULT_CLOCK_SKEW - timedelta(seconds=1), T0 + timedelta(minutes=3)]
    for created in inside:
        assert verify(redirect(), facts(created, A), alice(began), None, now=T0).claim.binds
    for created in outside:
        claim = verify(redirect(), facts(created, A), alice(began), None, now=T0).claim
        assert claim is Claim.OLD_CLIENT


def test_a_new_client_whose_signup_already_came_back_by_direct_link_is_a_conflict() -> None:
    came_back = ClientFacts(CL, True, T0, frozenset({A}), returned_without_attempt=True)
    assert verify(redirect(), came_back, alice(), None, now=T0).claim is Claim.OLD_CLIENT
    # Its own user, later, is still a returning client once claimed.
    assert verify(redirect(), came_back, alice(), "alice", now=T0).claim is Claim.RETURNING


def test_a_client_360dialog_does_not_know_keeps_nothing() -> None:
    verdict = verify(redirect((A, JUNK)), facts(None, exists=False), alice(), "alice", now=T0)
    assert verdict.claim is Claim.UNKNOWN_CLIENT
    assert verdict.redirect.channels == ()
    assert verdict.ignored == (A, JUNK)


def test_no_attempt_binds_nothing() -> None:
    verdict = verify(redirect(), facts(T0, A), None, None, now=T0)
    assert verdict.claim is Claim.NO_ATTEMPT
    assert not verdict.claim.binds


def test_channels_and_revoked_keep_only_what_360dialog_lists_under_the_client() -> None:
    verdict = verify(redirect((A, JUNK), (B,)), facts(T0, A), alice(), "alice", now=T0)
    assert verdict.redirect.channels == (A,)
    assert verdict.redirect.revoked == ()
    assert verdict.ignored == (JUNK, B)


def test_facts_about_another_client_are_a_programming_error() -> None:
    other = ClientFacts(ClientId("C2CL"), exists=True, created_at=T0)
    with pytest.raises(ValueError, match="another client"):
        verify(redirect(), other, alice(), None, now=T0)


def test_a_client_is_claimed_again_only_by_its_user_or_an_operators_reassignment() -> None:
    assert may_claim(None, "alice", reassign=False)
    assert may_claim("alice", "alice", reassign=False)
    assert not may_claim("bob", "alice", reassign=False)
    assert may_claim("bob", "alice", reassign=True)


# ---- properties -------------------------------------------------------------------------------

users = st.sampled_from(["alice", "bob", "mallory"])
moments = st.integers(-10_000, 10_000).map(lambda s: T0 + timedelta(seconds=s))


@PROPERTY
@given(
    client=client_ids,
    listed=st.frozensets(channel_ids, max_size=6),
    channels=st.lists(channel_ids, max_size=6, unique=True),
    revoked=st.lists(channel_ids, max_size=6, unique=True),
    exists=st.booleans(),
    created=st.none() | moments,
    began=moments,
    owner=st.none() | users,
    user=st.none() | users,
)
def test_verify_keeps_only_listed_ids_and_binds_only_by_the_rule(  # noqa: PLR0917
    client: ClientId,
    listed: frozenset[ChannelId],
    channels: list[ChannelId],
    revoked: list[ChannelId],
    exists: bool,
    created: datetime | None,
    began: datetime,
    owner: str | None,
    user: str | None,
) -> None:
    revoked = [c for c in revoked if c not in channels]
    claimed = RedirectResult(client, tuple(channels), tuple(revoked))
    known = ClientFacts(client, exists, created, listed)
    attempt = None if user is None else Attempt(user, began)
    verdict = verify(claimed, known, attempt, owner, now=T0)
    kept = {*verdict.redirect.channels, *verdict.redirect.revoked}
    assert kept <= (listed if exists else set())
    assert kept | set(verdict.ignored) == {*channels, *revoked}
    assert not kept & set(verdict.ignored)
    assert set(verdict.redirect.channels) <= set(channels)
    if verdict.claim.binds:
        assert attempt is not None
        assert exists
        new = owner is None and created is not None
        new = new and began - DEFAULT_CLOCK_SKEW <= created <= T0 + DEFAULT_CLOCK_SKEW  # type: ignore[operator]
        assert owner == attempt.external_user_id or new


@dataclass
class World:
    """360dialog's truth (who created which client, which channels are whose) and what
    onboard360 holds (owners, channel states), stepped by honest and forged redirects."""

    now: datetime = T0
    sequence: int = 0
    creator: dict[ClientId, str] = field(default_factory=dict)
    created: dict[ClientId, datetime] = field(default_factory=dict)
    channels_of: dict[ClientId, list[ChannelId]] = field(default_factory=dict)
    owners: dict[ClientId, str] = field(default_factory=dict)
    states: dict[ChannelId, ChannelState] = field(default_factory=dict)

    def all_channels(self) -> list[ChannelId]:
        return sorted(c for chs in self.channels_of.values() for c in chs)

    def client_of(self, channel: ChannelId) -> ClientId | None:
        return next((c for c, chs in self.channels_of.items() if channel in chs), None)

    def facts(self, client: ClientId) -> ClientFacts:
        return ClientFacts(
            client,
            exists=client in self.creator,
            created_at=self.created.get(client),
            channels=frozenset(self.channels_of.get(client, ())),
        )

    def feed(self, items: list[Input]) -> list[object]:
        effects: list[object] = []
        for item in items:
            for channel in _touched(item):
                state = self.states.get(channel, ChannelState(channel, Billing.PARTNER_PAYMENT))
                self.states[channel], new = apply(state, item)
                effects.extend(new)
        return effects

    def redirect(self, user: str | None, claimed: RedirectResult) -> list[object]:
        """What services/redirects.py does with a redirect, minus the I/O."""
        self.now += timedelta(seconds=1)
        attempt = None if user is None else Attempt(user, self.now - timedelta(seconds=30))
        owner = self.owners.get(claimed.client_id)
        verdict = verify(claimed, self.facts(claimed.client_id), attempt, owner, now=self.now)
        if verdict.claim is Claim.NO_ATTEMPT:
            # A direct link records 360dialog's own view of the channels, nothing more.
            kept = [*verdict.redirect.channels, *verdict.redirect.revoked]
            return self.feed([ChannelSnapshot(c, "running", claimed.client_id) for c in kept])
        if not verdict.claim.binds:
            return []  # a conflict or an unknown client: nothing changes
        assert user is not None
        self.owners.setdefault(claimed.client_id, user)
        self.sequence += 1
        return self.feed([Redirected(verdict.redirect, self.sequence)])


def _touched(item: Input) -> tuple[ChannelId, ...]:
    if isinstance(item, Redirected):
        return (*item.redirect.channels, *item.redirect.revoked)
    return () if item.channel_id is None else (item.channel_id,)


# One step, drawn abstractly and made concrete against the world as it stands.
steps = st.one_of(
    st.tuples(st.just("signup"), users, st.integers(1, 2)),
    st.tuples(st.just("return"), users, st.integers(0, 5), st.booleans()),
    st.tuples(st.just("forge"), users, st.integers(0, 5), st.lists(st.integers(0, 12), max_size=4)),
    st.tuples(st.just("direct"), st.integers(0, 5), st.booleans()),
    st.tuples(st.just("webhook"), st.integers(0, 12), st.sampled_from(["ready", "running"])),
)


def _sharing(state: ChannelState | None) -> object:
    if state is None:
        return None
    return (state.shared, state.key_permission, state.key, state.key_intent, state.client_id)


Played = tuple[str | None, list[object]]  # who acted (None: a forger), and the effects


def _signup(world: World, n: int, actor: str, numbers: int) -> Played:
    client = ClientId(f"N{n}CL")
    world.now += timedelta(seconds=5)
    world.creator[client], world.created[client] = actor, world.now
    world.channels_of[client] = [ChannelId(f"N{n}X{i}CH") for i in range(numbers)]
    return actor, world.redirect(actor, RedirectResult(client, tuple(world.channels_of[client])))


def _return(world: World, _n: int, actor: str, pick: int, revoke: bool) -> Played:
    client = sorted(world.creator)[pick % len(world.creator)]
    mine = tuple(world.channels_of[client])
    claimed = RedirectResult(client, () if revoke else mine, mine if revoke else ())
    effects = world.redirect(actor, claimed)
    # Not this user's client: whatever the redirect names is forged.
    return (actor if world.owners.get(client) == actor else None), effects


def _forge(world: World, _n: int, actor: str, pick: int, targets: list[int]) -> Played:
    client = sorted(world.creator)[pick % len(world.creator)]
    pool = [*world.all_channels(), ChannelId("FAKE0000CH"), ChannelId("FAKE0001CH")]
    named = list(dict.fromkeys(pool[t % len(pool)] for t in targets))
    half = len(named) // 2
    effects = world.redirect(
        actor, RedirectResult(client, tuple(named[:half]), tuple(named[half:]))
    )
    return (actor if world.owners.get(client) == actor else None), effects


def _direct(world: World, _n: int, pick: int, junk: bool) -> Played:
    client = ClientId("JUNKCL") if junk else sorted(world.creator)[pick % len(world.creator)]
    effects = world.redirect(None, RedirectResult(client, tuple(world.all_channels()[:3])))
    return "360dialog", effects  # what it records is 360dialog's own view of the channels


def _webhook(world: World, _n: int, pick: int, status: str) -> Played:
    channels = world.all_channels()
    channel = channels[pick % len(channels)]
    return "360dialog", world.feed([ChannelSnapshot(channel, status, world.client_of(channel))])


PLAYS = {"signup": _signup, "return": _return, "forge": _forge, "direct": _direct}


@PROPERTY
@given(st.lists(steps, max_size=25))
def test_no_forged_redirect_changes_an_owner_a_permission_or_a_key(script: list[tuple]) -> None:
    world = World()
    for n, (kind, *args) in enumerate(script):
        if kind != "signup" and not world.creator:
            continue
        channels = world.all_channels()
        before = {c: _sharing(world.states.get(c)) for c in channels}
        actor, effects = (PLAYS.get(kind) or _webhook)(world, n, *args)
        # No client is ever someone else's than its creator's; no id 360dialog lacks is held.
        for client, owner in world.owners.items():
            assert owner == world.creator[client]
        assert set(world.states) <= set(world.all_channels())
        for channel, state in world.states.items():
            assert state.client_id in (None, world.client_of(channel))
        # A redirect changed sharing, permission and keys only of its user's own channels;
        # 360dialog's facts (webhooks, a direct link's record) never change sharing.
        for channel in channels:
            owner = world.owners.get(world.client_of(channel))  # type: ignore[arg-type]
            was, now = before[channel], _sharing(world.states.get(channel))
            if was == now:
                continue
            if actor == "360dialog":
                assert was is None or was[0] == now[0]  # type: ignore[index]
            else:
                assert actor is not None, (kind, args, channel)
                assert owner == actor, (kind, args, channel)
        for effect in effects:
            # A key only for a channel a bound client's verified redirect entitled.
            if isinstance(effect, ProvisionKey):
                assert world.client_of(effect.channel_id) in world.owners
            if isinstance(effect, DiscardKey) and actor != "360dialog":
                assert world.owners.get(world.client_of(effect.channel_id)) == actor  # type: ignore[arg-type]
