"""The funnel's time histograms: buckets and the percentiles read from them."""

from __future__ import annotations

import random

import pytest

from onboard360.domain.funnel import bucket_bounds, bucket_of, percentile


def exact(values: list[float], q: float) -> float:
    """percentile_cont's answer: rank q × (n − 1), interpolated between neighbours."""
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def histogram(values: list[float]) -> dict[int, int]:
    counted: dict[int, int] = {}
    for value in values:
        counted[bucket_of(value)] = counted.get(bucket_of(value), 0) + 1
    return counted


@pytest.mark.parametrize("seconds", [0.0, 0.01, 0.5, 0.99, 1.0, 1.5, 2.0, 59.9, 3600.0, 3.2e7])
def test_a_value_lies_in_its_buckets_bounds(seconds: float) -> None:
    low, high = bucket_bounds(bucket_of(seconds))
    assert low <= seconds < high


def test_buckets_are_contiguous_and_grow_by_at_most_4_4_percent_past_a_second() -> None:
    for bucket in range(500):
        low, high = bucket_bounds(bucket)
        assert bucket_bounds(bucket + 1)[0] == pytest.approx(high)
        if low >= 1:
            assert high / low <= 1.0444
        else:
            assert high - low == pytest.approx(1 / 16)


def test_a_negative_time_counts_as_none() -> None:
    assert bucket_of(-3.0) == 0


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("q", [0.5, 0.9])
def test_percentiles_are_within_a_bucket_of_the_exact_ones(seed: int, q: float) -> None:
    rng = random.Random(seed)
    scale = rng.choice([0.5, 30.0, 3600.0, 86400.0])
    values = [rng.lognormvariate(0, 1.5) * scale for _ in range(rng.randint(1, 400))]
    read = percentile(histogram(values), q)
    truth = exact(values, q)
    assert read is not None
    assert abs(read - truth) <= max(1 / 16, 0.0444 * truth), (read, truth, len(values))


def test_one_value_reads_back_within_its_bucket_and_none_is_none() -> None:
    assert percentile({}, 0.5) is None
    read = percentile(histogram([42.0]), 0.9)
    assert read is not None
    assert abs(read - 42.0) <= 0.0444 * 42.0
