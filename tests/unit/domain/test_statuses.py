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
        ("running", "suspended", "running"),
        ("suspended", "pending", "pending"),
        ("running", None, "running"),
    ],
)
def test_merge_keeps_the_most_advanced_status(current, observed, expected) -> None:
    assert statuses.merge(current, observed) == expected


def test_unknown_statuses_rank_below_known_ones() -> None:
    assert statuses.rank("suspended") < statuses.rank("pending")
    assert not statuses.is_known("suspended")
    assert statuses.is_terminal("terminated")
    assert not statuses.is_terminal(None)


@PROPERTY
@given(some_statuses, some_statuses, some_statuses)
def test_merge_is_a_semilattice(a, b, c) -> None:
    merge = statuses.merge
    assert merge(a, b) == merge(b, a)
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, a) == a
