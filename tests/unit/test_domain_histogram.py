"""Quantiles from cumulative histogram bucket differences (Prometheus's histogram_quantile)."""

from __future__ import annotations

import math

import pytest

from console.domain.histogram import (
    bucket_increase,
    counter_increase,
    merge,
    observations,
    percentiles,
    quantile,
)

INF = math.inf
#: 100 observations: 50 in (0.5, 0.8], 40 in (0.8, 1.0], 10 in (1.0, 1.5]
HUNDRED = {0.5: 0.0, 0.8: 50.0, 1.0: 90.0, 1.5: 100.0, INF: 100.0}


@pytest.mark.parametrize(("q", "expected"), [
    (0.5, 0.8),           # rank 50 ends the (0.5, 0.8] bucket
    (0.9, 1.0),           # rank 90 ends the (0.8, 1.0] bucket
    (0.95, 1.25),         # rank 95: halfway through (1.0, 1.5]
    (0.99, 1.45),         # rank 99: 9/10 through (1.0, 1.5]
    (0.25, 0.65),         # rank 25: halfway through (0.5, 0.8]
])
def test_quantile_interpolates_linearly_inside_the_bucket(q: float, expected: float) -> None:
    assert quantile(q, HUNDRED) == pytest.approx(expected)


def test_the_first_bucket_interpolates_from_zero_and_the_inf_bucket_gives_the_highest_bound() -> None:
    assert quantile(0.5, {0.1: 10.0, INF: 10.0}) == pytest.approx(0.05)
    assert quantile(0.99, {0.1: 1.0, 0.2: 2.0, INF: 10.0}) == 0.2  # above every finite bound
    assert quantile(0.5, {-1.0: 5.0, 0.0: 5.0, INF: 5.0}) == -1.0  # a first bound ≤ 0 is returned as it is


def test_no_quantile_without_observations_or_without_an_inf_bucket() -> None:
    assert quantile(0.5, {0.1: 0.0, INF: 0.0}) is None
    assert quantile(0.5, {0.1: 3.0, 0.2: 5.0}) is None  # no +Inf bucket
    assert quantile(0.5, {INF: 3.0}) is None  # a single bucket
    assert quantile(0.5, {0.1: math.nan, INF: 3.0}) is None
    assert percentiles({0.1: 0.0, INF: 0.0}) == {}
    with pytest.raises(ValueError, match="between 0 and 1"):
        quantile(1.5, HUNDRED)


def test_non_monotonic_buckets_are_made_monotonic_as_prometheus_does() -> None:
    # A scrape taken while buckets were being updated: 0.2 briefly below 0.1.
    assert quantile(0.5, {0.1: 6.0, 0.2: 5.0, INF: 10.0}) == pytest.approx(0.1 * 5 / 6)


def test_percentiles_of_the_increase_between_two_scrapes_in_milliseconds() -> None:
    before = {0.5: 40.0, 0.8: 120.0, 1.0: 170.0, 1.5: 190.0, INF: 200.0}
    after = {le: before[le] + HUNDRED[le] for le in before}
    grown = bucket_increase(before, after)
    assert grown == HUNDRED
    assert observations(grown) == 100
    assert percentiles(grown, scale=1000.0) == pytest.approx({"p50": 800.0, "p90": 1000.0, "p95": 1250.0,
                                                              "p99": 1450.0})


def test_a_reset_histogram_counts_from_zero() -> None:
    before = {0.5: 40.0, 1.0: 170.0, INF: 200.0}
    restarted = {0.5: 2.0, 1.0: 4.0, INF: 4.0}  # the server restarted: lower than before
    assert bucket_increase(before, restarted) == restarted
    assert bucket_increase({0.5: 1.0, INF: 1.0}, {0.25: 1.0, 0.5: 1.0, INF: 1.0}) == {0.25: 1.0, 0.5: 1.0,
                                                                                      INF: 1.0}  # new layout
    assert bucket_increase(None, restarted) == restarted  # a series new since the previous scrape
    assert bucket_increase(before, {0.5: math.inf, 1.0: 4.0, INF: 4.0}) is None


def test_counter_increase_handles_resets_new_series_and_non_finite_values() -> None:
    assert counter_increase(10.0, 25.0) == 15.0
    assert counter_increase(10.0, 3.0) == 3.0  # reset: the new value is the increase
    assert counter_increase(None, 7.0) == 7.0  # a series new since the previous scrape started at zero
    assert counter_increase(10.0, math.nan) is None
    assert counter_increase(math.inf, 12.0) is None


def test_merge_sums_by_upper_bound() -> None:
    assert merge([{0.1: 1.0, INF: 2.0}, {0.1: 3.0, INF: 5.0}]) == {0.1: 4.0, INF: 7.0}
