"""TelemetryStore: bounded ring buffers, coarse buckets, gaps and shares."""

from __future__ import annotations

import numpy as np
import pytest

from console.domain.series import (
    CAPACITY,
    TIERS,
    SeriesKey,
    TelemetryStore,
    gpu_figure,
    revision_steps,
    tier_for,
)
from console.domain.telemetry import GpuFigure, Sample, TelemetryBatch

T0 = 1_700_000_000.0


def sample(t: float, deployment: str = "v1", requests: float = 10, **kw) -> Sample:
    fields = {"latency_ms": {"p50": 5.0, "p95": 9.0, "p99": 12.0}, "errors_4xx": 1, "errors_5xx": 0} | kw
    return Sample(time=t, endpoint="ep", deployment=deployment, requests=requests, **fields)


def feed(store: TelemetryStore, seconds: range, **kw) -> None:
    for s in seconds:
        store.add_batch(TelemetryBatch(place_id="p", read_at=T0 + s, samples=(sample(T0 + s, **kw),)))


KEY = SeriesKey("p", "ep", "v1")


def test_fine_window_reads_each_second():
    store = TelemetryStore()
    feed(store, range(1, 61))
    window = store.window(60, T0 + 60)
    values = store.read(KEY, ("p95", "rate", "rate_4xx", "rate_5xx"), window)
    assert window.tier == 0
    assert window.x[-1] == T0 + 60
    assert np.all(values["p95"][-60:] == 9.0)
    assert np.all(values["rate"][-60:] == 10.0)
    assert np.all(values["rate_4xx"][-60:] == 1.0)
    assert np.all(values["rate_5xx"][-60:] == 0.0)


def test_hour_window_has_as_many_points_as_five_minutes_and_sums_counts():
    store = TelemetryStore()
    feed(store, range(1, 3601))
    hour, five = store.window(3600, T0 + 3600), store.window(300, T0 + 3600)
    assert abs(len(hour.x) - len(five.x)) <= 1
    rate = store.read(KEY, ("rate",), hour)["rate"]
    assert np.nanmin(rate) == pytest.approx(10.0) and np.nanmax(rate) == pytest.approx(10.0)
    requests = store.read(KEY, ("requests",), hour)["requests"]
    assert np.nanmax(requests) == pytest.approx(10.0 * TIERS[2])  # a 12 s bucket sums 12 samples


def test_percentiles_take_the_max_of_a_coarse_bucket():
    store = TelemetryStore()
    feed(store, range(1, 120))
    store.add_sample("p", sample(T0 + 120, latency_ms={"p95": 500.0}))
    hour = store.read(KEY, ("p95",), store.window(3600, T0 + 120))["p95"]
    assert np.nanmax(hour) == 500.0


def test_memory_is_bounded_whatever_the_uptime():
    store = TelemetryStore()
    feed(store, range(1, 10))
    ring = store._rings[KEY]
    size = ring.acc.nbytes + ring.n.nbytes
    feed(store, range(10, 7300, 7))
    assert ring.acc.nbytes + ring.n.nbytes == size
    assert ring.acc.shape[1] == CAPACITY


def test_old_series_are_pruned_and_the_series_count_is_capped():
    store = TelemetryStore(max_series=3)
    for name in ("a", "b", "c", "d"):
        store.add_sample("p", sample(T0, deployment=name))
    assert len(store) == 3
    assert [k.deployment for k in store.keys("p", "ep")] == ["b", "c", "d"]
    store.prune(T0 + 7200)
    assert len(store) == 0 and store.keys("p", "ep") == []


def test_missing_seconds_and_declared_gaps_are_nan():
    store = TelemetryStore()
    feed(store, range(1, 21))
    feed(store, range(31, 61))
    rate = store.read(KEY, ("rate",), store.window(60, T0 + 60))["rate"]
    x = store.window(60, T0 + 60).x
    assert np.all(np.isnan(rate[(x > T0 + 20) & (x <= T0 + 30)]))
    assert not np.isnan(rate[x == T0 + 20]).any()
    # a declared gap breaks the coarse tier too, though its buckets hold data on both sides
    store.add_batch(TelemetryBatch(place_id="p", read_at=T0 + 61, gap_from=T0 + 40, gap_to=T0 + 42))
    hour = store.read(KEY, ("rate",), store.window(3600, T0 + 60))["rate"]
    hx = store.window(3600, T0 + 60).x
    assert np.isnan(hour[(hx - 12 < T0 + 42) & (hx > T0 + 40)]).all()
    with pytest.raises(ValueError, match="must end after it starts"):
        store.add_gap("p", 5.0, 1.0)


def test_share_excludes_mirror_and_is_percent_of_live_requests():
    store = TelemetryStore()
    for s in range(1, 11):
        store.add_sample("p", sample(T0 + s, deployment="v1", requests=90))
        store.add_sample("p", sample(T0 + s, deployment="v2", requests=10))
        store.add_sample("p", sample(T0 + s, deployment="v2", requests=50, mirror=True))
    share = store.share("p", "ep", store.window(60, T0 + 10))
    assert np.nanmax(share["v1"]) == pytest.approx(90.0)
    assert np.nanmax(share["v2"]) == pytest.approx(10.0)


def test_a_long_scrape_interval_fills_the_fine_buckets_it_covers():
    store = TelemetryStore()
    store.add_sample("p", sample(T0 + 15, requests=150, interval_s=15))
    rate = store.read(KEY, ("rate",), store.window(60, T0 + 15))["rate"]
    assert np.count_nonzero(~np.isnan(rate)) == 15
    assert np.nanmax(rate) == pytest.approx(10.0)


def test_duplicates_from_a_history_replay_are_ignored():
    store = TelemetryStore()
    feed(store, range(1, 11))
    feed(store, range(5, 11))
    requests = store.read(KEY, ("requests",), store.window(60, T0 + 10))["requests"]
    assert np.nanmax(requests) == 10.0


def test_gpus_and_gauges():
    store = TelemetryStore()
    gpus = (GpuFigure(index=0, utilization_percent=40, memory_used_bytes=2e9),
            GpuFigure(index=1, utilization_percent=80, memory_used_bytes=3e9, deployment_memory_bytes=1e9))
    for s in range(1, 4):
        store.add_sample("p", sample(T0 + s, gpus=gpus, cpu_percent=50.0 + s, kv_cache_percent=20.0))
    store.add_sample("p", sample(T0 + 1, deployment="cpu-only", gpus=None))
    assert store.has_gpus("p", "ep") and store.gpu_count(KEY) == 2
    window = store.window(60, T0 + 3)
    got = store.read(KEY, (gpu_figure(0, "util"), gpu_figure(1, "memory"), "cpu_percent", gpu_figure(5, "util")),
                     window)
    assert got["gpu_util:0"][-1] == 40 and got["gpu_memory:1"][-1] == 1e9
    assert got["cpu_percent"][-1] == 53.0 and np.isnan(got["gpu_util:5"]).all()
    assert store.has_figure(KEY, "kv_cache_percent") and not store.has_figure(KEY, "requests_waiting")
    hour = store.read(KEY, ("cpu_percent",), store.window(3600, T0 + 3))["cpu_percent"]
    assert np.nanmax(hour) == pytest.approx(52.0)  # gauges average in a coarse bucket
    cpu_only = TelemetryStore()
    cpu_only.add_sample("p", sample(T0, gpus=None))
    cpu_only.add_sample("p", sample(T0, deployment="v2", gpus=()))
    assert not cpu_only.has_gpus("p", "ep")


def test_error_percent_and_unknown_figure():
    store = TelemetryStore()
    store.add_sample("p", sample(T0 + 1, requests=200, errors_5xx=10))
    window = store.window(60, T0 + 1)
    assert store.read(KEY, ("error_percent",), window)["error_percent"][-1] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="unknown figure 'nope'"):
        store.read(KEY, ("nope",), window)
    with pytest.raises(ValueError, match="longer than the longest"):
        tier_for(7200)
    with pytest.raises(ValueError, match="unknown GPU figure"):
        gpu_figure(0, "temp")


def test_revision_steps():
    xs, ys = revision_steps([(T0 + 10, {"v1": 50, "v2": 50}), (T0, {"v1": 100})], "v2", until=T0 + 20)
    assert list(xs - T0) == [0, 10, 10, 20]
    assert list(ys) == [0, 0, 50, 50]


def test_a_mean_latency_is_kept_for_sources_without_percentiles():
    store = TelemetryStore()
    store.add_sample("p", Sample(time=T0 + 1, endpoint="ep", deployment="v1", requests=4, latency_mean_ms=8.0))
    store.add_sample("p", Sample(time=T0 + 2, endpoint="ep", deployment="v1", requests=4, latency_mean_ms=12.0))
    assert store.has_figure(KEY, "latency_mean") and not store.has_figure(KEY, "p95")
    hour = store.read(KEY, ("latency_mean",), store.window(3600, T0 + 2))["latency_mean"]
    assert np.nanmax(hour) == pytest.approx(10.0)
