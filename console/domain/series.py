"""TelemetryStore: bounded, time-indexed ring buffers of every deployment's figures, for the charts.

Each series — one (place, endpoint, deployment, mirror) — keeps three tiers of buckets:

| tier | bucket | buckets kept | serves windows |
|---|---|---|---|
| 0 | 1 s  | 300 (+4) | 1 m, 5 m |
| 1 | 3 s  | 300 (+4) | 15 m |
| 2 | 12 s | 300 (+4) | 1 h |

so a 1 h chart draws as many points (300) as a 5 m one, and memory per series is fixed
(about 140 kB with two GPUs) however long the console runs. A bucket lives in slot
`bucket % capacity` with the bucket's number stamped beside it: a slot whose stamp is not the
bucket asked for is a bucket with no data, read as NaN, so missing seconds break the curve by
themselves. Spans a source reports as missing (`TelemetryBatch.gap_from/gap_to`) are kept per
place and read as NaN in every bucket they touch, on every tier.

How samples merge into a bucket (a coarse bucket holds several seconds; a 15 s scrape is
spread over the fine buckets it covers):
- counts (requests, 4xx, 5xx, and the seconds they cover) are summed, so a rate is
  count / seconds covered, exact on every tier;
- latency percentiles take the MAX of the samples in the bucket: conservative, so a spike that
  breached the SLO at 1 s resolution still shows at its height on the 1 h chart;
- gauges (CPU, RSS, GPU, KV cache, queue depth, in flight) take the mean, and so does the mean
  latency of sources that have only a sum and a count (`latency_mean`);
- the observed traffic share is computed when read, from the summed live request counts of all
  the endpoint's deployments in the same bucket (mirror traffic excluded).

Pure: no Qt, no I/O, no clock reads — callers pass `now` (epoch seconds).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from console.domain.telemetry import Sample, TelemetryBatch

FloatArray = npt.NDArray[np.float64]

TIERS: tuple[float, ...] = (1.0, 3.0, 12.0)  # bucket seconds per tier
BUCKETS = 300  # buckets a tier's longest window draws
CAPACITY = BUCKETS + 4
WINDOWS: tuple[int, ...] = (60, 300, 900, 3600)
LONGEST_S = int(TIERS[-1] * BUCKETS)

# raw columns and how each merges: S = summed count, X = max, M = mean
_RAW = (("span", "S"), ("requests", "S"), ("errors_4xx", "S"), ("errors_5xx", "S"),
        ("p50", "X"), ("p90", "X"), ("p95", "X"), ("p99", "X"),
        ("in_flight", "M"), ("cpu_percent", "M"), ("rss_bytes", "M"), ("kv_cache_percent", "M"),
        ("requests_running", "M"), ("requests_waiting", "M"), ("replicas_ready", "M"), ("latency_mean", "M"))
_COL = {name: i for i, (name, _) in enumerate(_RAW)}
_BASE = len(_RAW)
_GPU_FIELDS = 2  # utilisation %, memory bytes
_MAX = slice(_COL["p50"], _COL["p99"] + 1)  # the percentile columns, side by side
PERCENTILE_FIGURES = ("p50", "p90", "p95", "p99")
GAUGE_FIGURES = ("in_flight", "cpu_percent", "rss_bytes", "kv_cache_percent", "requests_running",
                 "requests_waiting", "replicas_ready", "latency_mean")
RATE_FIGURES = {"rate": "requests", "rate_4xx": "errors_4xx", "rate_5xx": "errors_5xx"}
FIGURES = (*PERCENTILE_FIGURES, *RATE_FIGURES, "error_percent", "share", *GAUGE_FIGURES)
MAX_GPUS = 16


class SeriesKey(NamedTuple):
    place_id: str
    endpoint: str
    deployment: str
    mirror: bool = False


def tier_for(window_s: float) -> int:
    """The finest tier whose buckets cover `window_s`."""
    for index, res in enumerate(TIERS):
        if res * BUCKETS >= window_s:
            return index
    raise ValueError(f"window {window_s:g} s is longer than the longest kept ({LONGEST_S} s)")


def gpu_figure(index: int, field: str) -> str:
    """The figure name of one GPU's `util` or `memory`."""
    if field not in ("util", "memory"):
        raise ValueError(f"unknown GPU figure {field!r}: use 'util' or 'memory'")
    return f"gpu_{field}:{index}"


def _kinds(ncols: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], FloatArray]:
    kinds = [k for _, k in _RAW] + ["M"] * (ncols - _BASE)
    is_sum = np.array([k == "S" for k in kinds])
    is_max = np.array([k == "X" for k in kinds])
    init = np.where(is_max, np.nan, 0.0)
    return is_sum, is_max, init


class _Ring:
    """One series' three tiers: accumulators, contribution counts and bucket stamps."""

    __slots__ = ("acc", "gpu_count", "gpus_reported", "init", "is_max", "is_sum", "last_time", "n", "per_host",
                 "stamp")

    def __init__(self, gpus: int = 0) -> None:
        ncols = _BASE + _GPU_FIELDS * gpus
        self.acc: FloatArray = np.zeros((len(TIERS), CAPACITY, ncols))
        self.n = np.zeros((len(TIERS), CAPACITY, ncols), dtype=np.uint16)
        self.stamp = np.full((len(TIERS), CAPACITY), -1, dtype=np.int64)
        self.is_sum, self.is_max, self.init = _kinds(ncols)
        self.gpu_count = gpus
        self.gpus_reported = False
        self.last_time = -math.inf
        self.per_host: frozenset[str] = frozenset()

    def grow(self, gpus: int) -> None:
        extra = _GPU_FIELDS * (gpus - self.gpu_count)
        self.acc = np.concatenate([self.acc, np.zeros((*self.acc.shape[:2], extra))], axis=2)
        self.n = np.concatenate([self.n, np.zeros((*self.n.shape[:2], extra), dtype=np.uint16)], axis=2)
        self.is_sum, self.is_max, self.init = _kinds(self.acc.shape[2])
        self.gpu_count = gpus

    def write(self, time: float, interval: float, values: FloatArray) -> None:
        valid = ~np.isnan(values)
        counted = valid.astype(np.uint16)
        clean = np.where(valid, values, 0.0)
        gauges = np.where(self.is_sum | self.is_max, 0.0, clean)
        summed = np.where(self.is_sum, clean, 0.0)
        top = values[_MAX]
        adds: dict[float, FloatArray] = {}
        for tier, bucket, weight in _placement(time, interval):
            slot = bucket % CAPACITY
            stamp = self.stamp[tier, slot]
            if bucket < stamp:
                continue  # older than the bucket the slot holds: out of this tier's window
            row = self.acc[tier, slot]
            if bucket > stamp:
                row[:] = self.init
                self.n[tier, slot] = 0
                self.stamp[tier, slot] = bucket
            add = adds.get(weight)
            if add is None:
                add = adds[weight] = gauges + summed * weight
            row += add
            np.fmax(row[_MAX], top, out=row[_MAX])
            self.n[tier, slot] += counted


_PLACEMENTS: dict[float, tuple[tuple[int, float, int, float], ...]] = {}


def _placement(time: float, interval: float) -> list[tuple[int, int, float]]:
    """(tier, bucket, weight) for a sample covering (time - interval, time]: one bucket per tier
    when the interval fits, else the interval is split evenly over the buckets it covers."""
    parts = _PLACEMENTS.get(interval)
    if parts is None:
        rows: list[tuple[int, float, int, float]] = []
        for index, res in enumerate(TIERS):
            count = min(max(1, round(interval / res)), CAPACITY)
            step = interval / count
            rows.extend((index, (part + 0.5) * step - interval, count, res) for part in range(count))
        parts = _PLACEMENTS[interval] = tuple(rows)
        if len(_PLACEMENTS) > 64:
            _PLACEMENTS.clear()
    return [(tier, math.floor((time + offset) / res), 1.0 / count) for tier, offset, count, res in parts]


def _values(sample: Sample, gpus: int) -> FloatArray:
    values = np.full(_BASE + _GPU_FIELDS * gpus, np.nan)

    def put(name: str, value: float | None) -> None:
        if value is not None:
            values[_COL[name]] = value

    if sample.requests is not None:
        put("span", sample.interval_s)
        put("requests", sample.requests)
    put("errors_4xx", sample.errors_4xx)
    put("errors_5xx", sample.errors_5xx)
    for name in PERCENTILE_FIGURES:
        put(name, sample.latency_ms.get(name))
    for name in GAUGE_FIGURES[:-1]:
        put(name, getattr(sample, name))
    put("latency_mean", sample.latency_mean_ms)
    for position, gpu in enumerate(sample.gpus or ()):
        if position >= gpus:
            break
        memory = gpu.deployment_memory_bytes if gpu.deployment_memory_bytes is not None else gpu.memory_used_bytes
        if gpu.utilization_percent is not None:
            values[_BASE + _GPU_FIELDS * position] = gpu.utilization_percent
        if memory is not None:
            values[_BASE + _GPU_FIELDS * position + 1] = memory
    return values


class Window(NamedTuple):
    """The buckets a chart of `window_s` ending at `now` draws: x is each bucket's end."""

    tier: int
    buckets: npt.NDArray[np.int64]
    x: FloatArray


class TelemetryStore:
    """Every place's telemetry, bounded: `max_series` series at most (the least recently
    updated go first) and series silent for longer than the longest window are dropped."""

    def __init__(self, max_series: int = 4096, max_gaps: int = 256) -> None:
        if max_series < 1:
            raise ValueError("max_series must be at least 1")
        self.max_series = max_series
        self._rings: dict[SeriesKey, _Ring] = {}
        self._by_endpoint: dict[tuple[str, str], set[SeriesKey]] = {}
        self._gaps: dict[str, deque[tuple[float, float]]] = {}
        self._max_gaps = max_gaps
        self._pruned_at = -math.inf

    # ---------------------------------------------------------------- writing
    def add_batch(self, batch: TelemetryBatch) -> None:
        if batch.gap_from is not None and batch.gap_to is not None:
            self.add_gap(batch.place_id, batch.gap_from, batch.gap_to)
        for sample in batch.samples:
            self.add_sample(batch.place_id, sample)
        if batch.read_at - self._pruned_at >= 60:
            self.prune(batch.read_at)

    def add_sample(self, place_id: str, sample: Sample) -> None:
        key = SeriesKey(place_id, sample.endpoint, sample.deployment, sample.mirror)
        ring = self._rings.get(key)
        if ring is None:
            ring = self._add_series(key)
        elif sample.time <= ring.last_time:
            return  # already stored (a history replay after a reconnect)
        ring.last_time = sample.time
        if sample.gpus is not None:
            ring.gpus_reported = True
            if len(sample.gpus) > ring.gpu_count:
                ring.grow(min(len(sample.gpus), MAX_GPUS))
        if sample.per_host:
            ring.per_host = ring.per_host | frozenset(sample.per_host)
        ring.write(sample.time, sample.interval_s, _values(sample, ring.gpu_count))

    def add_gap(self, place_id: str, start: float, end: float) -> None:
        if end < start:
            raise ValueError(f"a gap must end after it starts ({start:g} > {end:g})")
        self._gaps.setdefault(place_id, deque(maxlen=self._max_gaps)).append((start, end))

    def _add_series(self, key: SeriesKey) -> _Ring:
        if len(self._rings) >= self.max_series:
            oldest = min(self._rings, key=lambda k: self._rings[k].last_time)
            self._drop(oldest)
        ring = self._rings[key] = _Ring()
        self._by_endpoint.setdefault((key.place_id, key.endpoint), set()).add(key)
        return ring

    def _drop(self, key: SeriesKey) -> None:
        del self._rings[key]
        members = self._by_endpoint.get((key.place_id, key.endpoint))
        if members is not None:
            members.discard(key)
            if not members:
                del self._by_endpoint[(key.place_id, key.endpoint)]

    def prune(self, now: float) -> None:
        """Forget series and gaps older than the longest window."""
        self._pruned_at = now
        for key in [k for k, ring in self._rings.items() if ring.last_time < now - LONGEST_S]:
            self._drop(key)
        for place_id, gaps in list(self._gaps.items()):
            while gaps and gaps[0][1] < now - LONGEST_S:
                gaps.popleft()
            if not gaps:
                del self._gaps[place_id]

    def forget_place(self, place_id: str) -> None:
        for key in [k for k in self._rings if k.place_id == place_id]:
            self._drop(key)
        self._gaps.pop(place_id, None)

    # ---------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._rings)

    def keys(self, place_id: str, endpoint: str) -> list[SeriesKey]:
        return sorted(self._by_endpoint.get((place_id, endpoint), ()))

    def gpu_count(self, key: SeriesKey) -> int:
        ring = self._rings.get(key)
        return ring.gpu_count if ring else 0

    def per_host(self, key: SeriesKey) -> frozenset[str]:
        ring = self._rings.get(key)
        return ring.per_host if ring else frozenset()

    def has_gpus(self, place_id: str, endpoint: str) -> bool:
        """Whether any sample of the endpoint named a GPU."""
        return any(self._rings[k].gpu_count for k in self._by_endpoint.get((place_id, endpoint), ()))

    def has_figure(self, key: SeriesKey, figure: str) -> bool:
        """Whether the series holds any value of a gauge or percentile figure (on the 1 h tier)."""
        ring = self._rings.get(key)
        column = _COL.get(figure)
        if ring is None or column is None:
            return False
        return bool(ring.n[-1, :, column].any())

    @staticmethod
    def window(window_s: float, now: float) -> Window:
        tier = tier_for(window_s)
        res = TIERS[tier]
        last = math.ceil(now / res) - 1  # the bucket that ends at or just after now
        buckets = np.arange(last - math.ceil(window_s / res), last + 1, dtype=np.int64)
        return Window(tier, buckets, (buckets + 1).astype(np.float64) * res)

    def read(self, key: SeriesKey, figures: Sequence[str], window: Window) -> dict[str, FloatArray]:
        """Each figure's values in the window's buckets (NaN where there is none)."""
        ring = self._rings.get(key)
        out: dict[str, FloatArray] = {}
        if ring is None:
            return {f: np.full(len(window.x), np.nan) for f in figures}
        slots = window.buckets % CAPACITY
        present = ring.stamp[window.tier, slots] == window.buckets
        acc = ring.acc[window.tier, slots]
        counts = ring.n[window.tier, slots]
        gaps = self._gap_mask(key.place_id, window)
        for figure in figures:
            out[figure] = self._figure(figure, acc, counts, present, ring.gpu_count)
            if gaps is not None:
                out[figure][gaps] = np.nan
        return out

    def share(self, place_id: str, endpoint: str, window: Window) -> dict[str, FloatArray]:
        """Each deployment's percent of the endpoint's live requests per bucket (mirror excluded)."""
        live = [k for k in self.keys(place_id, endpoint) if not k.mirror]
        counts = {k.deployment: self.read(k, ("requests",), window)["requests"] for k in live}
        if not counts:
            return {}
        total = np.nansum(np.vstack(list(counts.values())), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return {name: np.where(total > 0, np.nan_to_num(c) / total * 100.0, np.nan) for name, c in counts.items()}

    def _figure(self, figure: str, acc: FloatArray, counts: npt.NDArray[np.uint16], present: npt.NDArray[np.bool_],
                gpus: int) -> FloatArray:
        def column(name: str) -> FloatArray:
            index = _COL[name]
            value = acc[:, index].copy()
            value[~present | (counts[:, index] == 0)] = np.nan
            return value

        def mean(index: int) -> FloatArray:
            n = counts[:, index].astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                value: FloatArray = np.where(present & (n > 0), acc[:, index] / n, np.nan)
            return value

        if figure in PERCENTILE_FIGURES or figure in ("span", "requests", "errors_4xx", "errors_5xx"):
            return column(figure)
        if figure in GAUGE_FIGURES:
            return mean(_COL[figure])
        with np.errstate(invalid="ignore", divide="ignore"):
            if figure in RATE_FIGURES:
                span = column("span")
                return np.where(span > 0, column(RATE_FIGURES[figure]) / span, np.nan)
            if figure == "error_percent":
                requests = column("requests")
                return np.where(requests > 0, column("errors_5xx") / requests * 100.0, np.nan)
        if figure.startswith(("gpu_util:", "gpu_memory:")):
            name, _, index_text = figure.partition(":")
            index = int(index_text)
            if index >= gpus:
                return np.full(len(present), np.nan)
            return mean(_BASE + _GPU_FIELDS * index + (0 if name == "gpu_util" else 1))
        raise ValueError(f"unknown figure {figure!r}; known: {', '.join(FIGURES)}, gpu_util:N, gpu_memory:N")

    def _gap_mask(self, place_id: str, window: Window) -> npt.NDArray[np.bool_] | None:
        gaps = self._gaps.get(place_id)
        if not gaps:
            return None
        res = TIERS[window.tier]
        ends = window.x
        starts = ends - res
        mask = np.zeros(len(ends), dtype=bool)
        for start, end in gaps:
            if end > starts[0] and start < ends[-1]:
                mask |= (starts < end) & (ends > start)
        return mask if mask.any() else None


def revision_steps(changes: Iterable[tuple[float, dict[str, int]]], deployment: str,
                   until: float) -> tuple[FloatArray, FloatArray]:
    """A step line of `deployment`'s target weight from (time, traffic) changes, held until `until`."""
    xs: list[float] = []
    ys: list[float] = []
    for time, traffic in sorted(changes, key=lambda c: c[0]):
        weight = float(traffic.get(deployment, 0))
        if ys:
            xs.append(time)
            ys.append(ys[-1])
        xs.append(time)
        ys.append(weight)
    if ys and until > xs[-1]:
        xs.append(until)
        ys.append(ys[-1])
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)
