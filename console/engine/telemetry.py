"""Per-deployment request figures: one sample per second, a recent history, subscribers,
and the Prometheus metrics that a real Prometheus scrapes."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ddsketch import DDSketch
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

HISTORY_SECONDS = 3600
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Window:
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    sketch: DDSketch = field(default_factory=lambda: DDSketch(relative_accuracy=0.01))


def _quantile(window: Window, q: float) -> float | None:
    value = window.sketch.get_quantile_value(q) if window.requests else None
    return round(float(value), 3) if value is not None else None


class Metrics:
    """The engine's Prometheus metrics in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("endpoint", "deployment", "mirror")
        self.duration = Histogram(
            "switchboard_request_duration_seconds", "Scoring request duration through the router",
            labels, registry=self.registry, buckets=BUCKETS,
        )
        self.requests = Counter(
            "switchboard_requests", "Scoring requests by status code", (*labels, "code"), registry=self.registry
        )
        self.in_flight = Gauge("switchboard_in_flight_requests", "Requests in flight", labels, registry=self.registry)
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


Key = tuple[str, str, bool]  # endpoint, deployment, mirror


class Telemetry:
    """Collects request outcomes from the router; `tick` closes each one-second window."""

    def __init__(self, extra: Callable[[str, str], dict[str, Any]] | None = None) -> None:
        self.metrics = Metrics()
        self._windows: dict[Key, Window] = {}
        self._in_flight: dict[Key, int] = {}
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY_SECONDS * 8)
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._extra = extra

    def started(self, endpoint: str, deployment: str, mirror: bool) -> None:
        key = (endpoint, deployment, mirror)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        self.metrics.in_flight.labels(endpoint, deployment, str(mirror).lower()).inc()

    def finished(self, endpoint: str, deployment: str, mirror: bool, status: int, seconds: float) -> None:
        key = (endpoint, deployment, mirror)
        self._in_flight[key] = max(0, self._in_flight.get(key, 0) - 1)
        window = self._windows.setdefault(key, Window())
        window.requests += 1
        if 400 <= status < 500:
            window.errors_4xx += 1
        elif status >= 500:
            window.errors_5xx += 1
        window.sketch.add(seconds * 1000.0)
        label = str(mirror).lower()
        self.metrics.in_flight.labels(endpoint, deployment, label).dec()
        self.metrics.duration.labels(endpoint, deployment, label).observe(seconds)
        self.metrics.requests.labels(endpoint, deployment, label, str(status)).inc()

    def tick(self, deployments: list[tuple[str, str]], now: float | None = None) -> list[dict[str, Any]]:
        """Close the current second: one sample per known deployment (live and mirror figures apart)."""
        stamp = float(int(now if now is not None else time.time()))
        keys = {(e, d, False) for e, d in deployments} | set(self._windows)
        samples = []
        for key in sorted(keys):
            endpoint, deployment, mirror = key
            window = self._windows.pop(key, None) or Window()
            if mirror and window.requests == 0:
                continue
            latency = {name: _quantile(window, q) for name, q in QUANTILES.items()}
            sample: dict[str, Any] = {
                "time": stamp, "endpoint": endpoint, "deployment": deployment, "mirror": mirror,
                "requests": window.requests, "errors_4xx": window.errors_4xx, "errors_5xx": window.errors_5xx,
                "latency_ms": latency, "in_flight": self._in_flight.get(key, 0),
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
