"""Judging one deployment's telemetry against its endpoint's SLO: breach or not, over the window.

Pure: samples and the time to judge at (`now`, the newest sample's time) in, a new state and
the transitions out. No clock is read here.

How the window's figures are made from per-second samples (`window_figures`):

- Requests and errors: sums over the samples whose `time` lies in (now - window_s, now].
  The error rate is Σ 5xx / Σ requests. 4xx answers are the client's fault and do not count.
- Latency: a percentile cannot be averaged. The window's figure is the request-weighted
  percentile of the per-second percentiles: each second's p95 (say) weighs as many requests
  as that second had, and the window's p95 is the smallest per-second p95 below which 95% of
  the window's requests lie. When latency is steady this equals the per-second figure (a
  little above it, from the per-second noise); when a burst of slow seconds carries more
  than 5% of the window's requests, the burst shows through, as it would in the true window
  percentile. It never hides slow seconds that the true percentile would show, and may show
  a few that it would not: it errs towards raising an alert.
- Mirror (shadow) samples are left out: their answers never reach a client.
- A figure is judged only when the window holds at least `min_requests` requests (default
  DEFAULT_MIN_REQUESTS = 20), so one failed request out of two, or one slow request at
  night, is not an incident. Below that the figure is "unknown".

Hysteresis: a breach starts at the first judgement over the threshold and clears only after
the figure has been within its threshold (or unknown, for want of traffic) at every
judgement for a whole window since it was last over. A figure that hovers around its
threshold therefore raises one alert, not one a second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from console.domain.models import Slo
from console.domain.telemetry import Sample

DEFAULT_MIN_REQUESTS = 20
ERRORS = "errors"  # the error-rate figure's name; the latency figure is named by its percentile
QUANTILE = {"p95": 0.95, "p99": 0.99}
Status = Literal["over", "within", "unknown"]


@dataclass(frozen=True)
class Breach:
    """One figure of one deployment over its SLO (or, in a `cleared` signal, back within it)."""

    place_id: str
    endpoint: str
    deployment: str
    figure: str  # "p95", "p99" or "errors"
    value: float  # ms for latency, percent for errors
    threshold: float
    window_s: int
    text: str  # "fraud / fraud-v3: p95 412 ms over 60 s > SLO 250 ms"
    time: float = 0.0  # the sample time it was judged at


@dataclass(frozen=True)
class Figures:
    """What the window holds."""

    requests: float
    errors_5xx: float | None  # None: the source reports no error counts
    latency_ms: float | None  # the SLO's percentile over the window; None without latency figures

    @property
    def error_rate_percent(self) -> float | None:
        if self.errors_5xx is None or self.requests <= 0:
            return None
        return 100.0 * self.errors_5xx / self.requests


@dataclass(frozen=True)
class Judgement:
    figure: str
    status: Status
    value: float | None
    threshold: float
    requests: float


@dataclass(frozen=True)
class FigureState:
    """One figure's alert state: the breach in progress, and since when it has been back within."""

    active: Breach | None = None
    within_since: float | None = None


@dataclass(frozen=True)
class DeploymentSlo:
    """The alert state of one deployment: figure name → its state. Immutable; `step` makes new ones."""

    figures: Mapping[str, FigureState] = field(default_factory=dict)

    def active(self) -> list[Breach]:
        return [s.active for s in self.figures.values() if s.active is not None]


def weighted_percentile(pairs: Iterable[tuple[float, float]], q: float) -> float | None:
    """The smallest value below which (inclusive) a fraction `q` of the total weight lies.
    `pairs` are (value, weight); non-positive weights are ignored."""
    items = sorted((v, w) for v, w in pairs if w > 0)
    total = sum(w for _, w in items)
    if not items:
        return None
    goal = q * total
    running = 0.0
    for value, weight in items:
        running += weight
        if running >= goal - 1e-9 * total:
            return value
    return items[-1][0]


def in_window(samples: Iterable[Sample], now: float, window_s: float) -> list[Sample]:
    """The live (not mirror) samples with time in (now - window_s, now]."""
    start = now - window_s
    return [s for s in samples if start < s.time <= now and not s.mirror]


def window_figures(slo: Slo, samples: Iterable[Sample], now: float) -> Figures:
    chosen = in_window(samples, now, slo.window_s)
    requests = sum(s.requests for s in chosen if s.requests)
    counted = [s for s in chosen if s.requests is not None and s.errors_5xx is not None]
    errors = sum(s.errors_5xx or 0.0 for s in counted) if counted else None
    pairs = []
    for s in chosen:
        value = s.latency_ms.get(slo.percentile)
        if value is not None and s.requests:
            pairs.append((value, s.requests))
    return Figures(requests, errors, weighted_percentile(pairs, QUANTILE[slo.percentile]))


def judge(slo: Slo, samples: Iterable[Sample], now: float,
          min_requests: int = DEFAULT_MIN_REQUESTS) -> list[Judgement]:
    """Each threshold the SLO sets, judged over its window."""
    figures = window_figures(slo, samples, now)
    enough = figures.requests >= min_requests
    out = []
    checks = ((slo.percentile, slo.latency_ms, figures.latency_ms),
              (ERRORS, slo.error_rate_percent, figures.error_rate_percent))
    for name, threshold, value in checks:
        if threshold is None:
            continue
        status: Status = "unknown"
        if enough and value is not None:
            status = "over" if value > threshold else "within"
        out.append(Judgement(name, status, value, threshold, figures.requests))
    return out


def _num(value: float) -> str:
    """412, 3.2, 0.25: whole above 100, one decimal above 1, two significant digits below."""
    if value >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def label(figure: str) -> str:
    return "5xx errors" if figure == ERRORS else figure


def value_text(figure: str, value: float) -> str:
    """'412 ms' or '3.2%'."""
    return f"{_num(value)}%" if figure == ERRORS else f"{_num(value)} ms"


def figure_text(figure: str, value: float) -> str:
    """'p95 412 ms' or '5xx errors 3.2%'."""
    return f"{label(figure)} {value_text(figure, value)}"


def slo_text(slo: Slo | None) -> str:
    """The SLO as a person reads it: 'p95 ≤ 250 ms, 5xx errors ≤ 1% over 60 s'."""
    if slo is None:
        return "no SLO"
    parts = []
    if slo.latency_ms is not None:
        parts.append(f"{slo.percentile} ≤ {_num(slo.latency_ms)} ms")
    if slo.error_rate_percent is not None:
        parts.append(f"5xx errors ≤ {_num(slo.error_rate_percent)}%")
    return f"{', '.join(parts) or 'no thresholds'} over {slo.window_s} s"


def step(state: DeploymentSlo, slo: Slo | None, samples: Iterable[Sample], now: float, *, place_id: str,
         endpoint: str, deployment: str,
         min_requests: int = DEFAULT_MIN_REQUESTS) -> tuple[DeploymentSlo, list[tuple[str, Breach]]]:
    """Judge at `now` and move the alert state on. Returns the new state and the transitions:
    ("started", breach) or ("cleared", breach), each once per change."""
    judgements = {j.figure: j for j in judge(slo, samples, now, min_requests)} if slo is not None else {}
    who = f"{endpoint} / {deployment}"
    new: dict[str, FigureState] = {}
    events: list[tuple[str, Breach]] = []

    def breach(figure: str, value: float, threshold: float, window_s: int, text: str) -> Breach:
        return Breach(place_id, endpoint, deployment, figure, value, threshold, window_s, text, now)

    for name, old in state.figures.items():  # figures the SLO no longer sets
        if name not in judgements and old.active is not None:
            was = old.active
            events.append(("cleared", breach(
                name, was.value, was.threshold, was.window_s,
                f"{who}: {label(name)} SLO removed (was {value_text(name, was.value)} > "
                f"SLO {value_text(name, was.threshold)})")))
    window_s = slo.window_s if slo is not None else 0
    for name, j in judgements.items():
        old = state.figures.get(name, FigureState())
        if j.status == "over":
            assert j.value is not None
            if old.active is None:
                text = (f"{who}: {figure_text(name, j.value)} over {window_s} s > "
                        f"SLO {value_text(name, j.threshold)}")
                started = breach(name, j.value, j.threshold, window_s, text)
                events.append(("started", started))
                new[name] = FigureState(started, None)
            else:
                new[name] = FigureState(old.active, None)
            continue
        if old.active is None:
            new[name] = FigureState()
            continue
        since = old.within_since if old.within_since is not None else now
        if now - since < window_s:
            new[name] = FigureState(old.active, since)
            continue
        was = old.active
        if j.status == "within" and j.value is not None:
            text = (f"{who}: {label(name)} back within SLO {value_text(name, j.threshold)} "
                    f"({value_text(name, j.value)} over {window_s} s)")
            value = j.value
        else:
            text = (f"{who}: {label(name)} no longer judged: {_num(j.requests)} requests over {window_s} s, "
                    f"fewer than {min_requests} (was {value_text(name, was.value)} > "
                    f"SLO {value_text(name, j.threshold)})")
            value = was.value
        events.append(("cleared", breach(name, value, j.threshold, window_s, text)))
        new[name] = FigureState()
    return DeploymentSlo(new), events
