"""Quantiles of cumulative histograms (Prometheus `_bucket{le=...}` series) over one
interval: the bucket counts' increase between two scrapes, then Prometheus's
`histogram_quantile` linear interpolation. Pure: no I/O, no clock.

A histogram here is a mapping upper bound (`le`, +Inf included) → cumulative count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

Buckets = Mapping[float, float]

#: the percentiles a Sample carries, as (key, quantile)
PERCENTILE_QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))


def counter_increase(previous: float | None, current: float) -> float | None:
    """How much a counter grew between two scrapes. A value lower than before means the
    counter was reset (the process restarted): the increase is then the new value, as in
    Prometheus's `increase()`. A counter absent before started at zero. NaN or infinite
    values give None."""
    if not math.isfinite(current) or (previous is not None and not math.isfinite(previous)):
        return None
    if previous is None or current < previous:
        return current
    return current - previous


def bucket_increase(previous: Buckets | None, current: Buckets) -> dict[float, float] | None:
    """Per-bucket increase of one histogram series between two scrapes. If any bucket (or
    the +Inf bucket, the count) went down, or the bounds changed, the series was reset and
    the current counts are the increase. None when a count is NaN or infinite."""
    if any(not math.isfinite(v) for v in current.values()):
        return None
    if previous is None:
        return dict(current)
    if any(not math.isfinite(v) for v in previous.values()):
        return None
    if set(previous) != set(current) or any(current[le] < previous[le] for le in current):
        return dict(current)  # reset, or new bucket bounds (the server restarted with others)
    return {le: current[le] - previous[le] for le in current}


def merge(histograms: Iterable[Buckets]) -> dict[float, float]:
    """The sum of several histograms by upper bound (PromQL `sum by (le)`)."""
    total: dict[float, float] = {}
    for buckets in histograms:
        for le, count in buckets.items():
            total[le] = total.get(le, 0.0) + count
    return total


def observations(buckets: Buckets) -> float:
    """How many observations the histogram holds (its +Inf bucket)."""
    return buckets.get(math.inf, 0.0)


def quantile(q: float, buckets: Buckets) -> float | None:
    """The q-quantile (0 ≤ q ≤ 1) of a cumulative histogram, as Prometheus's
    `histogram_quantile` computes it: find the bucket holding rank q·count and interpolate
    linearly inside it (from 0 for the first bucket). A rank in the +Inf bucket gives the
    highest finite bound. None without observations, without a +Inf bucket or with fewer
    than two buckets."""
    if not 0.0 <= q <= 1.0 or math.isnan(q):
        raise ValueError(f"quantile must be between 0 and 1, not {q}")
    ordered = sorted(buckets.items())
    if len(ordered) < 2 or ordered[-1][0] != math.inf:
        return None
    if any(not math.isfinite(count) for _le, count in ordered):
        return None
    bounds = [le for le, _count in ordered]
    counts: list[float] = []
    for _le, count in ordered:  # cumulative counts never go down (Prometheus's ensureMonotonic)
        counts.append(max(count, counts[-1]) if counts else count)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    b = next(i for i, count in enumerate(counts) if count >= rank)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, in_bucket = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        in_bucket -= counts[b - 1]
        rank -= counts[b - 1]
    if in_bucket <= 0:
        return end
    return start + (end - start) * (rank / in_bucket)


def percentiles(buckets: Buckets, scale: float = 1.0) -> dict[str, float | None]:
    """p50/p90/p95/p99 of a histogram, each multiplied by `scale` (1000: seconds → ms).
    Empty when it holds no observations."""
    if observations(buckets) <= 0:
        return {}
    found: dict[str, float | None] = {}
    for key, q in PERCENTILE_QUANTILES:
        value = quantile(q, buckets)
        found[key] = None if value is None else value * scale
    return found
