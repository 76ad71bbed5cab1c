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

import math
from collections.abc import Mapping
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


# ---- times between steps, kept as histograms ---------------------------------------------
#
# A day's journeys are counted once and kept (db/queries/funnel.py), so the time from one
# step to the next is kept as a histogram that days can add up, and the median and p90 are
# read from the sum. Bucket b holds seconds s with: b = floor(s × 16) below one second
# (1/16 s wide), else b = 16 + floor(log2(s) × 16) (each 2^(1/16) ≈ 4.4% wider than the
# last). A percentile read from it, interpolated inside its bucket, is within 1/16 s or
# 4.4% of the exact one.
SUB_SECOND_BUCKETS: Final = 16
BUCKETS_PER_DOUBLING: Final = 16


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """The seconds bucket ``bucket`` holds: [low, high)."""
    if bucket < SUB_SECOND_BUCKETS:
        return bucket / SUB_SECOND_BUCKETS, (bucket + 1) / SUB_SECOND_BUCKETS
    octave = bucket - SUB_SECOND_BUCKETS
    return 2 ** (octave / BUCKETS_PER_DOUBLING), 2 ** ((octave + 1) / BUCKETS_PER_DOUBLING)


def bucket_of(seconds: float) -> int:
    """The bucket of ``seconds`` (negative counts as 0); db/queries/funnel.py's SQL says
    the same, and a test holds them to each other."""
    if seconds < 1:
        return max(0, math.floor(seconds * SUB_SECOND_BUCKETS))
    doublings = math.log(seconds) / math.log(2)  # as the SQL computes it: ln(s) / ln(2)
    return SUB_SECOND_BUCKETS + math.floor(doublings * BUCKETS_PER_DOUBLING)


def _order_statistic(histogram: Mapping[int, int], k: int) -> float:
    """The ``k``-th smallest value (from 0), placed inside its bucket by its rank there
    (linearly below a second, geometrically above)."""
    seen = 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if k < seen + count:
            low, high = bucket_bounds(bucket)
            share = (k - seen + 0.5) / count
            if bucket < SUB_SECOND_BUCKETS:
                return low + (high - low) * share
            return float(low * (high / low) ** share)
        seen += count
    raise IndexError(k)


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0–1) of the seconds counted in ``histogram`` (bucket: count),
    as ``percentile_cont`` computes it: between the values at ranks ⌊q × (n − 1)⌋ and the
    next, each placed inside its bucket; so within 1/16 s or 4.4% of the exact answer.
    None when the histogram is empty."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = q * (total - 1)
    below = math.floor(rank)
    low = _order_statistic(histogram, below)
    if below + 1 >= total:
        return low
    high = _order_statistic(histogram, below + 1)
    return low + (high - low) * (rank - below)
