"""The funnel: the steps of a journey onboard360 sees itself, and what is said of them.

A **journey** is one try of a product's user to go live: its first attempt and every
attempt that resumed it (``journey_id``). It reached a step if any of its attempts did,
at the earliest time; and it reached a step if it reached a later one, even when the
step itself left no stamp (a partner that builds the popup link itself never uses the
hosted page, yet its redirects come back), so each step's count is at most the one
before it.

Steps, in order (db/stages.py and the connect page stamp them on the attempt):

| step | the attempt's stamp | when |
| --- | --- | --- |
| ``started`` | ``created_at`` | the product asked for an onboarding |
| ``popup_opened`` | ``popup_opened_at`` | the hosted page or the signing call was used |
| ``redirected`` | ``redirected_at`` | the redirect came back |
| ``first_channel`` | ``first_channel_at`` | one of its own numbers exists |
| ``running`` | ``running_at`` | one of its own numbers is running |
| ``key_stored`` | ``key_stored_at`` | one of its own numbers has its key stored |
| ``activated`` | ``activated_at`` | the product accepted ``channel.activated`` for one |

A journey's **outcome**: ``live`` once it reached ``key_stored`` (a number can message);
else ``abandoned`` when its latest attempt was abandoned; else ``in_progress``. Its time
to live is ``started`` → ``key_stored``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

StepName = Literal[
    "started",
    "popup_opened",
    "redirected",
    "first_channel",
    "running",
    "key_stored",
    "activated",
]
STEPS: Final[tuple[StepName, ...]] = get_args(StepName)
OUTCOMES: Final = ("live", "abandoned", "in_progress")
Outcome = Literal["live", "abandoned", "in_progress"]
Billing = Literal["partner", "direct"]
ClientKind = Literal["new", "returning"]

# The time-to-live histogram's bucket edges in seconds: bucket i holds the journeys with
# edges[i-1] <= time < edges[i] (the first from 0, the last without an upper edge).
TTL_EDGES: Final = (60, 300, 900, 3600, 21600, 86400, 604800)
TTL_LABELS: Final = (
    "< 1 min",
    "1–5 min",
    "5–15 min",
    "15–60 min",
    "1–6 h",
    "6–24 h",
    "1–7 d",
    "≥ 7 d",
)
# The longest range one question may cover (a year, leap day included).
MAX_DAYS: Final = 366


@dataclass(frozen=True)
class Step:
    """One step of the funnel: how many journeys reached it, the share of those that
    reached the step before (None for the first, or when none did), and the median and
    90th percentile of the time from the step before (seconds; None when no journey has
    both stamps)."""

    step: str
    reached: int
    conversion: float | None
    median_seconds: float | None
    p90_seconds: float | None


def conversion(reached: int, before: int) -> float | None:
    """The share of ``before`` that went on, rounded to 4 places (0.1234 = 12.34%)."""
    return round(reached / before, 4) if before else None
