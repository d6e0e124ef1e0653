"""What the guards read: an endpoint's policy, a proposed change, and a snapshot of the
endpoint's state at the time the change was reviewed.

All times are epoch seconds passed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from console.domain.endpoint_policy import DEFAULT_STEPS as DEFAULT_STEPS
from console.domain.endpoint_policy import EndpointPolicy as EndpointPolicy
from console.domain.models import DeploymentState, PlacedName, Slo
from console.domain.slo import weighted_percentile
from console.domain.split import split_problems
from console.domain.telemetry import Sample


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Proposal(Frozen):
    """A change to an endpoint's split, as reviewed by a person."""

    endpoint: PlacedName
    kind: Literal["shift", "rollback"] = "shift"
    before: dict[str, int]
    after: dict[str, int]
    mirror_before: dict[str, int] = Field(default_factory=dict)
    mirror_after: dict[str, int] = Field(default_factory=dict)
    revision: int = Field(ge=0, description="the endpoint revision the change was made on")
    actor: str = Field(min_length=1)
    reason: str = ""
    confirmation: str = Field(default="", description="what the person typed to confirm")

    @model_validator(mode="after")
    def _splits_valid(self) -> Proposal:
        known = set(self.before) | set(self.after) | set(self.mirror_before) | set(self.mirror_after)
        for label, traffic, mirror in (("before", self.before, self.mirror_before),
                                       ("after", self.after, self.mirror_after)):
            problems = split_problems(traffic, mirror, known)
            if problems:
                raise ValueError(f"{label}: " + "; ".join(problems))
        return self

    def share(self, name: str) -> tuple[int, int]:
        """(before, after) live share of `name`."""
        return self.before.get(name, 0), self.after.get(name, 0)

    def gaining(self) -> list[str]:
        """Deployments whose live share rises, by name."""
        return sorted(n for n in self.after if self.after[n] > self.before.get(n, 0))

    def live_after(self) -> list[str]:
        return sorted(n for n, w in self.after.items() if w > 0)


class Figures(Frozen):
    """One deployment's telemetry summed over the SLO window."""

    window_s: float = Field(gt=0)
    requests: float = Field(ge=0, description="all requests, live and mirrored")
    live_requests: float | None = Field(default=None, ge=0, description="live only; None: all are live")
    errors_5xx: float | None = Field(default=None, ge=0)
    latency_ms: dict[str, float] = Field(
        default_factory=dict, description="p50..p99 over the window (request-weighted percentile of intervals)")

    @property
    def rps(self) -> float:
        return self.requests / self.window_s

    @property
    def live_rps(self) -> float:
        return (self.requests if self.live_requests is None else self.live_requests) / self.window_s

    def error_rate_percent(self) -> float | None:
        if not self.requests or self.errors_5xx is None:
            return None
        return 100 * self.errors_5xx / self.requests


def summarize(samples: Iterable[Sample], now: float, window_s: float) -> Figures | None:
    """Sum one deployment's samples that end within `window_s` before `now`; None when
    none does (no telemetry). Mirror samples count: shadow traffic is evidence too.

    Percentiles of intervals cannot be merged exactly; the window's figure is the
    request-weighted percentile of the intervals' figures, as the SLO alerts judge it
    (console/domain/slo.py), so a guard and an alert agree on what "within SLO" means.
    """
    inside = [s for s in samples if now - window_s < s.time <= now and s.requests is not None]
    if not inside:
        return None
    requests = sum(s.requests or 0.0 for s in inside)
    known_5xx = [s.errors_5xx for s in inside if s.errors_5xx is not None]
    latency: dict[str, float] = {}
    for p in ("p50", "p90", "p95", "p99"):
        pairs = [(float(v), s.requests or 0.0) for s in inside if (v := s.latency_ms.get(p)) is not None]
        value = weighted_percentile(pairs, int(p[1:]) / 100)
        if value is not None:
            latency[p] = value
    live = sum(s.requests or 0.0 for s in inside if not s.mirror)
    return Figures(window_s=window_s, requests=requests, live_requests=live,
                   errors_5xx=sum(known_5xx) if known_5xx else None, latency_ms=latency)


class Saturation(Frozen):
    """How busy a deployment's replicas were while serving `rps`, where known."""

    rps: float | None = Field(default=None, ge=0, description="requests per second when measured")
    cpu_percent: float | None = Field(default=None, ge=0, description="all replicas; 100 = one core")
    cpu_capacity_percent: float | None = Field(default=None, gt=0, description="replicas x CPUs x 100")
    gpu_percent: float | None = Field(default=None, ge=0, le=100, description="busiest GPU it uses")


class DeploymentContext(Frozen):
    state: DeploymentState
    replicas_ready: int = Field(ge=0)
    replicas_desired: int = Field(ge=0)
    share_held_s: float | None = Field(default=None, ge=0, description="time at its current live share")
    figures: Figures | None = Field(default=None, description="None: no telemetry")
    saturation: Saturation | None = None


class Context(Frozen):
    """The endpoint as it stood when the proposal was reviewed."""

    endpoint: PlacedName
    policy: EndpointPolicy = EndpointPolicy()
    slo: Slo | None = None
    read_at: float = Field(description="when the data was read (epoch seconds)")
    now: float = Field(description="the time of review (epoch seconds)")
    revision: int | None = Field(default=None, description="the endpoint's current revision, where known")
    deployments: dict[str, DeploymentContext] = Field(default_factory=dict)
    endpoint_rps: float | None = Field(default=None, ge=0, description="live requests/s; None: sum the figures")
    in_flight: str | None = Field(default=None, description="another change or rollout under way, in words")
    production: bool = False
    approval_required: bool = False

    @property
    def is_production(self) -> bool:
        return self.production or self.policy.production

    @property
    def needs_approval(self) -> bool:
        return self.approval_required or self.policy.approval_required

    def load_rps(self) -> float | None:
        """The endpoint's current live load: given, or summed from the figures."""
        if self.endpoint_rps is not None:
            return self.endpoint_rps
        rates = [d.figures.live_rps for d in self.deployments.values() if d.figures is not None]
        return sum(rates) if rates else None
