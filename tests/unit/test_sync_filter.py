"""What the sync's lock-free filter (jobs/reconcile.py) and the state codec rely on.

The filter skips a snapshot that changes nothing in the committed state it read without
a lock. That is sound only if such a snapshot also changes nothing in every state a later
transition (a concurrent webhook, redirect, key job) can reach from there.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from onboard360.db import codec
from onboard360.domain import Billing, ChannelSnapshot, ChannelState, apply
from tests.unit.domain.strategies import PROPERTY
from tests.unit.domain.test_lifecycle_properties import (
    CH,
    CL,
    STATUSES,
    Act,
    Input,
    actions,
    play,
)

snapshots = st.builds(
    ChannelSnapshot,
    st.just(CH),
    st.none() | st.sampled_from(STATUSES),
    st.none() | st.just(CL),
    st.none() | st.sampled_from(["+4917000000001", "+4917000000002"]),
)
# The lifecycle's own action plans, with snapshots that carry a phone number mixed in.
plans = st.tuples(st.sampled_from(Billing), st.lists(actions | snapshots, max_size=40))


def reached(plan: tuple[Billing, list[Input | Act]]) -> list[ChannelState]:
    final, _, steps = play(*plan)
    return [before for before, _, _ in steps] + [final]


@PROPERTY
@given(plans, st.lists(snapshots, min_size=1, max_size=4))
def test_a_snapshot_that_changes_nothing_changes_nothing_later(
    plan: tuple[Billing, list[Input | Act]], seen: list[ChannelSnapshot]
) -> None:
    states = reached(plan)
    for n, state in enumerate(states):
        for snapshot in seen:
            if apply(state, snapshot) != (state, ()):
                continue
            for later in states[n + 1 :]:
                assert apply(later, snapshot) == (later, ()), (state, later, snapshot)


@PROPERTY
@given(plans)
def test_every_reachable_state_survives_the_codec(plan: tuple[Billing, list[Input | Act]]) -> None:
    for state in reached(plan):
        stored = json.loads(json.dumps(codec.channel_to_json(state)))
        assert codec.channel_from_json(stored) == state
