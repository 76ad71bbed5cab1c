"""Channel statuses: an open set, merged so that arrival order does not matter.

360dialog names ``ready`` and ``running`` and calls the set open (doc); ``pending`` and
``terminated`` are # unverified: (the sandbox uses them). Webhooks arrive duplicated and
out of order and a Partner API read may be older than the last webhook, so a channel's
status is the *most advanced* one ever observed: ``merge`` takes the maximum by rank,
which is commutative, associative and idempotent, so any order of the same observations
converges to the same status and a late ``channel_created``/``channel_ready`` never moves
a channel back.

A status onboard360 does not know (``suspended``, or anything 360dialog adds) is never
taken for running: it ranks above ``running`` and below ``terminated``. The channel is
stored and shown with that status, is not live, gets no key, and stays so whatever
arrives later but ``terminated``: with no order between observations, a ``running`` seen
beside it may be older (running, then suspended) as well as newer, and only the second
would make a key safe. Generating a key for a suspended number is the costly mistake; a
new status that is really a step towards running holds such channels back until it is
added to ``RANKS`` below ``RUNNING`` (the operator sees them, with the status, meanwhile).
"""

from __future__ import annotations

from typing import Final

PENDING: Final = "pending"
READY: Final = "ready"
RUNNING: Final = "running"
TERMINATED: Final = "terminated"

RANKS: Final[dict[str, int]] = {
    PENDING: 10,
    READY: 20,
    RUNNING: 30,
    # Terminal: the highest rank, so it absorbs everything that arrives after it.
    TERMINATED: 90,
}
# Not live, for good (see above): above every step towards running, below terminated.
UNKNOWN_RANK: Final = 50
TERMINAL: Final = frozenset({TERMINATED})


def rank(status: str | None) -> int:
    """How far along ``status`` is; unknown statuses rank between running and terminated,
    None below everything."""
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


def is_unknown(status: str | None) -> bool:
    """A status reported that onboard360 does not know: not live, for good (above)."""
    return status is not None and status not in RANKS


def is_terminal(status: str | None) -> bool:
    return status in TERMINAL


def is_live(status: str | None) -> bool:
    """Whether a channel in ``status`` can message: only ``running`` is."""
    return status == RUNNING


def not_running(status: str | None) -> str:
    """Why a channel in ``status`` (not running) gets no key, in words for people."""
    if status is None:
        return "the channel is not running yet (not reported yet)"
    if is_known(status):
        return f"the channel is not running yet ({status})"
    return (
        f"360dialog reports the channel as {status!r}, a status onboard360 does not know: "
        "it counts as not live and gets no key"
    )
