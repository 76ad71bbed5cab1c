from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onboard360.domain import statuses
from tests.unit.domain.strategies import PROPERTY

some_statuses = (
    st.sampled_from(["pending", "ready", "running", "terminated", "suspended", "flagged", "x_new"])
    | st.none()
)


@pytest.mark.parametrize(
    ("current", "observed", "expected"),
    [
        (None, "pending", "pending"),
        ("pending", "running", "running"),
        ("running", "pending", "running"),
        ("running", "ready", "running"),
        ("running", "terminated", "terminated"),
        ("terminated", "running", "terminated"),
        ("running", "suspended", "suspended"),
        ("suspended", "running", "suspended"),
        ("suspended", "pending", "suspended"),
        ("suspended", "terminated", "terminated"),
        ("suspended", "x_new", "x_new"),
        ("running", None, "running"),
    ],
)
def test_merge_keeps_the_most_advanced_status(current, observed, expected) -> None:
    assert statuses.merge(current, observed) == expected


def test_unknown_statuses_rank_above_running_and_below_terminated() -> None:
    assert statuses.rank("running") < statuses.rank("suspended") < statuses.rank("terminated")
    assert not statuses.is_known("suspended")
    assert not statuses.is_live("suspended")
    assert "'suspended', a status onboard360 does not know" in statuses.not_running("suspended")
    assert statuses.not_running("ready") == "the channel is not running yet (ready)"
    assert statuses.is_terminal("terminated")
    assert not statuses.is_terminal(None)


@PROPERTY
@given(some_statuses, some_statuses, some_statuses)
def test_merge_is_a_semilattice(a, b, c) -> None:
    merge = statuses.merge
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, a) == a


@PROPERTY
@given(some_statuses, st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_no_merge_with_an_unknown_status_is_running(current, new) -> None:
    if statuses.is_known(new):
        return
    merged = statuses.merge(current, new)
    assert not statuses.is_live(merged)
    assert merged == "terminated" or not statuses.is_known(merged)
