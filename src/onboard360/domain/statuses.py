"""Channel statuses: an open set, merged so that arrival order does not matter.

360dialog names ``ready`` and ``running`` and calls the set open (doc); ``pending`` and
``terminated`` are # unverified: (the sandbox uses them). Webhooks arrive duplicated and
out of order and a Partner API read may be older than the last webhook, so a channel's
status is the *most advanced* one ever observed: ``merge`` takes the maximum by rank,
which is commutative, associative and idempotent, so any order of the same observations
converges to the same status and a late ``channel_created``/``channel_ready`` never moves
a channel back.

Unknown statuses are kept, ranked conservatively: below every known one, so an unknown
status never displaces a known status and on its own never allows a key. The hub stays
the final gate: if a channel we believe running cannot get a key, the refusal is an
input to the lifecycle too.
"""

from __future__ import annotations

from typing import Final

PENDING: Final = "pending"
READY: Final = "ready"
RUNNING: Final = "running"
TERMINATED: Final = "terminated"

UNKNOWN_RANK: Final = 0
RANKS: Final[dict[str, int]] = {
    PENDING: 10,
    READY: 20,
    RUNNING: 30,
    # Terminal: the highest rank, so it absorbs everything that arrives after it.
    TERMINATED: 90,
}
TERMINAL: Final = frozenset({TERMINATED})


def rank(status: str | None) -> int:
    """How far along ``status`` is; unknown statuses rank lowest, None below them."""
    if status is None:
        return -1
    return RANKS.get(status, UNKNOWN_RANK)


def merge(current: str | None, observed: str | None) -> str | None:
    """The more advanced of two statuses; ties between unknown ones break by name."""
    if observed is None:
        return current
    if current is None:
        return observed
    return max(current, observed, key=lambda status: (rank(status), status))


def is_known(status: str) -> bool:
    return status in RANKS


def is_terminal(status: str | None) -> bool:
    return status in TERMINAL
