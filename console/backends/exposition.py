"""A Prometheus text exposition, parsed (prometheus_client's parser) into a `Scrape` that
the server recognisers (console/backends/recognisers.py) read, and the helpers they share:
values summed by a label, counter increases and histogram bucket increases between two
scrapes (console/domain/histogram.py does the arithmetic)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from console.domain import histogram

MAX_EXPOSITION_BYTES = 20 * 1024 * 1024
Labels = tuple[tuple[str, str], ...]
Where = Callable[[Mapping[str, str]], bool]


class ExpositionError(ValueError):
    """The exposition is not valid Prometheus text; names the line when it can."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Scrape:
    """One read of /metrics at `time` (epoch seconds): every sample by its name."""

    time: float
    types: dict[str, str] = field(default_factory=dict)  # family name → counter, gauge, histogram, ...
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.samples or f"{name}_total" in self.samples or f"{name}_bucket" in self.samples

    def series(self, name: str) -> list[tuple[dict[str, str], float]]:
        """The samples of a gauge or counter (a counter's `_total` name is tried first)."""
        return self.samples.get(f"{name}_total") or self.samples.get(name) or []

    def histogram_families(self) -> list[str]:
        """Every histogram this exposition holds (typed, or recognised by its `_bucket` samples)."""
        typed = {name for name, kind in self.types.items() if kind == "histogram"}
        untyped = {name[:-7] for name in self.samples if name.endswith("_bucket")}
        return sorted(name for name in typed | untyped if f"{name}_bucket" in self.samples)


def parse(text: str, time: float) -> Scrape:
    """Parse a text exposition. A malformed one raises ExpositionError naming its line."""
    types: dict[str, str] = {}
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    try:
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, float(sample.value)))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise _locate(text, exc) from exc
    return Scrape(time, types, samples)


def _locate(text: str, exc: Exception) -> ExpositionError:
    """Which line of `text` the parser refused: each sample line alone, then TYPE lines."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not stripped.startswith(("# TYPE", "# HELP"))):
            continue
        try:
            for _family in text_string_to_metric_families(stripped + "\n"):
                pass
        except (ValueError, TypeError, IndexError, KeyError) as line_exc:
            why = str(line_exc) or "not valid Prometheus text"
            shown = stripped if len(stripped) <= 120 else stripped[:117] + "..."
            return ExpositionError(f"malformed exposition at line {number}: {why}: {shown}", line=number)
    return ExpositionError(f"malformed exposition: {exc or exc.__class__.__name__}")


def _key(labels: Mapping[str, str], drop: str = "") -> Labels:
    return tuple(sorted((k, v) for k, v in labels.items() if k != drop))


def _group(labels: Mapping[str, str], by: str | None) -> str:
    return labels.get(by, "") if by else ""


def gauge_by(scrape: Scrape, name: str, by: str | None, where: Where | None = None,
             mean: bool = False) -> dict[str, float | None]:
    """A gauge summed (or averaged) per value of label `by` (None: one group, key "").
    A NaN or infinite value makes its group None."""
    sums: dict[str, list[float]] = {}
    for labels, value in scrape.series(name):
        if where is None or where(labels):
            sums.setdefault(_group(labels, by), []).append(value)
    found: dict[str, float | None] = {}
    for group, values in sums.items():
        total = sum(values) / len(values) if mean else sum(values)
        found[group] = total if math.isfinite(total) else None
    return found


def increase_by(previous: Scrape, current: Scrape, name: str, by: str | None,
                where: Where | None = None) -> dict[str, float | None]:
    """A counter's increase between two scrapes per value of label `by`: each series'
    increase (resets handled; a series new in `current` started at zero), then summed."""
    before = {_key(labels): value for labels, value in previous.series(name)}
    found: dict[str, float | None] = {}
    for labels, value in current.series(name):
        if where is not None and not where(labels):
            continue
        group = _group(labels, by)
        grown = histogram.counter_increase(before.get(_key(labels)), value)
        if group in found and found[group] is None:
            continue
        found[group] = None if grown is None else (found.get(group) or 0.0) + grown
    return found


def buckets_by(scrape: Scrape, family: str, by: str | None = None,
               where: Where | None = None) -> dict[str, dict[Labels, dict[float, float]]]:
    """A histogram's cumulative buckets: group → series (labels without `le`) → le → count."""
    found: dict[str, dict[Labels, dict[float, float]]] = {}
    for labels, value in scrape.samples.get(f"{family}_bucket", []):
        if "le" not in labels or (where is not None and not where(labels)):
            continue
        try:
            le = float(labels["le"])
        except ValueError:
            continue
        series = found.setdefault(_group(labels, by), {}).setdefault(_key(labels, drop="le"), {})
        series[le] = value
    return found


def histogram_increase_by(previous: Scrape, current: Scrape, family: str, by: str | None,
                          where: Where | None = None) -> dict[str, dict[float, float] | None]:
    """Per group: the histogram's bucket increase over the interval, summed over the group's
    series (`sum by (le)` of the increases). None for a group with NaN or infinite counts."""
    before = {key: series for group in buckets_by(previous, family, by, where).values()
              for key, series in group.items()}
    found: dict[str, dict[float, float] | None] = {}
    for group, series in buckets_by(current, family, by, where).items():
        increases = [histogram.bucket_increase(before.get(key), buckets) for key, buckets in series.items()]
        found[group] = None if any(i is None for i in increases) else histogram.merge(
            i for i in increases if i is not None)
    return found


def mean_ms(previous: Scrape, current: Scrape, total: str, count: str, by: str | None, scale: float,
            where: Where | None = None) -> dict[str, float | None]:
    """Per group: Δtotal / Δcount * scale (a summary's or a cumulative duration's mean over
    the interval, in ms). None where nothing was counted."""
    sums = increase_by(previous, current, total, by, where)
    counts = increase_by(previous, current, count, by, where)
    found: dict[str, float | None] = {}
    for group, n in counts.items():
        spent = sums.get(group)
        found[group] = spent / n * scale if n and spent is not None else None
    return found


def unit_scale(family: str) -> float:
    """Milliseconds per unit of a latency histogram, from its name: Prometheus names carry
    their unit (`_seconds`, `_ms`, `_us`); a name without one is taken as seconds."""
    name = family.lower()
    if name.endswith(("_ms", "_milliseconds")):
        return 1.0
    if name.endswith(("_us", "_microseconds")):
        return 0.001
    return 1000.0
