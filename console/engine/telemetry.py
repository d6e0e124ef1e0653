"""Per-deployment request figures: one sample per second, a recent history, subscribers,
and the Prometheus metrics that a real Prometheus scrapes.

The router reports every request here, so the per-request work is kept to counting in
plain Python objects: the request metrics (duration histogram, requests by code, in
flight) are exposed by a collector that reads those counts when Prometheus scrapes.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ddsketch import DDSketch
from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

HISTORY_SECONDS = 3600
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LABELS = ("endpoint", "deployment", "mirror")
BOUNDS = (*(repr(float(b)) for b in BUCKETS), "+Inf")  # `le` label values, as prometheus_client writes them


@dataclass
class Window:
    """One second of one series. Latencies are counted per whole microsecond as they come (a
    dict increment) and go into the DDSketch once, with their counts as weights, when the
    window closes: far fewer sketch insertions than requests under load, and a microsecond
    is well inside the sketch's 1% relative accuracy for any request latency."""

    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    micros: dict[int, int] = field(default_factory=dict)

    def sketch(self) -> DDSketch:
        sketch = DDSketch(relative_accuracy=0.01)
        for micros, count in self.micros.items():
            sketch.add(micros / 1000.0, count)
        return sketch


def _quantile(sketch: DDSketch, q: float) -> float | None:
    value = sketch.get_quantile_value(q) if sketch.count else None
    return round(float(value), 3) if value is not None else None


Key = tuple[str, str, bool]  # endpoint, deployment, mirror


class Series:
    """The running request figures of one (endpoint, deployment, mirror), and its open window."""

    __slots__ = ("buckets", "codes", "count", "created", "in_flight", "key", "labels", "total_seconds", "window")

    def __init__(self, key: Key) -> None:
        endpoint, deployment, mirror = key
        self.key = key
        self.window: Window | None = None  # the current second's, once it has a request
        self.labels = [endpoint, deployment, str(mirror).lower()]
        self.in_flight = 0
        self.buckets = [0] * (len(BUCKETS) + 1)  # per bucket, not cumulative; the last is +Inf
        self.count = 0
        self.total_seconds = 0.0
        self.codes: dict[int, int] = {}
        self.created = time.time()


class RequestMetrics(Collector):
    """switchboard_request_duration_seconds, switchboard_requests and switchboard_in_flight_requests,
    read from the Series at scrape time."""

    def __init__(self, series: dict[Key, Series]) -> None:
        self._series = series

    def collect(self) -> Iterator[Metric]:
        series = list(self._series.values())
        duration = HistogramMetricFamily(
            "switchboard_request_duration_seconds", "Scoring request duration through the router", labels=LABELS
        )
        requests = CounterMetricFamily(
            "switchboard_requests", "Scoring requests by status code", labels=(*LABELS, "code")
        )
        in_flight = GaugeMetricFamily("switchboard_in_flight_requests", "Requests in flight", labels=LABELS)
        for one in series:
            in_flight.add_metric(one.labels, float(one.in_flight))
            if not one.count:
                continue
            cumulative, running = [], 0
            for bound, count in zip(BOUNDS, one.buckets, strict=True):
                running += count
                cumulative.append((bound, float(running)))
            duration.add_metric(one.labels, cumulative, one.total_seconds)
            labels = dict(zip(LABELS, one.labels, strict=True))
            duration.add_sample("switchboard_request_duration_seconds_created", labels, one.created)
            for code, count in sorted(one.codes.items()):
                requests.add_metric([*one.labels, str(code)], float(count), created=one.created)
        yield duration
        yield requests
        yield in_flight


class Metrics:
    """The engine's Prometheus metrics in their own registry."""

    def __init__(self, series: dict[Key, Series]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(RequestMetrics(series))
        self.ready = Gauge(
            "switchboard_replicas_ready", "Ready replicas", ("endpoint", "deployment"), registry=self.registry
        )
        self.desired = Gauge(
            "switchboard_replicas_desired", "Desired replicas", ("endpoint", "deployment"), registry=self.registry
        )
        self.weight = Gauge(
            "switchboard_traffic_weight", "Live traffic weight (percent)", ("endpoint", "deployment"),
            registry=self.registry,
        )


class Telemetry:
    """Collects request outcomes from the router; `tick` closes each one-second window."""

    def __init__(self, extra: Callable[[str, str], dict[str, Any]] | None = None) -> None:
        self._series: dict[Key, Series] = {}
        self.metrics = Metrics(self._series)
        self._windows: dict[Key, Window] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_SECONDS * 8)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._extra = extra

    def series(self, endpoint: str, deployment: str, mirror: bool) -> Series:
        """The figures that `record` adds to: look them up once per request."""
        key = (endpoint, deployment, mirror)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = Series(key)
        return series

    def started(self, endpoint: str, deployment: str, mirror: bool) -> None:
        self.series(endpoint, deployment, mirror).in_flight += 1

    def finished(self, endpoint: str, deployment: str, mirror: bool, status: int, seconds: float) -> None:
        self.record(self.series(endpoint, deployment, mirror), status, seconds)

    def record(self, series: Series, status: int, seconds: float) -> None:
        """A request counted in flight on `series` (`started`) ended with `status` after `seconds`."""
        if series.in_flight > 0:
            series.in_flight -= 1
        series.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1  # a bucket counts values <= its bound
        series.count += 1
        series.total_seconds += seconds
        codes = series.codes
        codes[status] = codes.get(status, 0) + 1
        window = series.window
        if window is None:
            window = series.window = self._windows[series.key] = Window()
        window.requests += 1
        if status >= 400:
            if status < 500:
                window.errors_4xx += 1
            else:
                window.errors_5xx += 1
        micros = window.micros
        key = int(seconds * 1_000_000)
        micros[key] = micros.get(key, 0) + 1

    def in_flight(self, key: Key) -> int:
        series = self._series.get(key)
        return series.in_flight if series is not None else 0

    def tick(self, deployments: list[tuple[str, str]], now: float | None = None) -> list[dict[str, Any]]:
        """Close the current second: one sample per known deployment (live and mirror figures apart)."""
        stamp = float(int(now if now is not None else time.time()))
        keys = {(e, d, False) for e, d in deployments} | set(self._windows)
        for series in self._series.values():
            series.window = None
        samples = []
        for key in sorted(keys):
            endpoint, deployment, mirror = key
            window = self._windows.pop(key, None) or Window()
            if mirror and window.requests == 0:
                continue
            sketch = window.sketch()
            latency = {name: _quantile(sketch, q) for name, q in QUANTILES.items()}
            sample: dict[str, Any] = {
                "time": stamp, "endpoint": endpoint, "deployment": deployment, "mirror": mirror,
                "requests": window.requests, "errors_4xx": window.errors_4xx, "errors_5xx": window.errors_5xx,
                "latency_ms": latency, "in_flight": self.in_flight(key),
            }
            if self._extra is not None:
                sample.update(self._extra(endpoint, deployment))
            samples.append(sample)
        for sample in samples:
            self.history.append(sample)
            for queue in self._subscribers:
                if queue.qsize() < 10_000:
                    queue.put_nowait(sample)
        return samples

    def recent(self, seconds: float, now: float | None = None) -> list[dict[str, Any]]:
        since = (now if now is not None else time.time()) - seconds
        return [s for s in self.history if s["time"] >= since]

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)
