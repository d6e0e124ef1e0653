"""A progressive rollout plan (YAML) and the analysis it runs: pure, no clock read.

    kind: Rollout                  # optional
    endpoint: fraud
    candidate: fraud-v3
    baseline: fraud-v1             # optional: the deployment with the largest share at start
    steps: [10, 25, {weight: 50, gate: true}, 100]
    bake_s: 60                     # per step, unless a step names its own
    gates: [50]                    # another way to mark gates: the weights to wait at
    analysis:
      percentile: p95
      latency_ms: 200              # candidate p95 ≤ 200 ms
      latency_ratio: 1.2           # candidate p95 ≤ 1.2 x baseline p95
      error_rate_percent: 1        # candidate 5xx ≤ 1% of its requests
      error_rate_over_baseline: 0.5  # candidate 5xx ≤ baseline's rate + 0.5 points
      min_requests: 20             # fewer in the window: that analysis is inconclusive
      window_s: 30                 # each analysis reads this many seconds of telemetry
      interval_s: 5                # seconds between analyses
      rollback_after: 2            # consecutive failed analyses that roll back

A plan with no thresholds takes the endpoint's SLO (percentile, latency, error rate) when it
starts (`resolve`).
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from console.domain.models import Name, Slo
from console.domain.slo import value_text, window_figures
from console.domain.specs import _line_of, _plain  # the spec parser's line bookkeeping
from console.domain.telemetry import Sample

MAX_PLAN_BYTES = 64 * 1024
Verdict = Literal["pass", "fail", "inconclusive"]
CheckStatus = Literal["pass", "fail", "unknown", "skipped"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlanError(ValueError):
    """One or more problems in a plan; `problems` are complete sentences."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Step(Frozen):
    weight: int = Field(ge=1, le=100, description="the candidate's live share at this step, percent")
    bake_s: float | None = Field(default=None, ge=0, le=7 * 86400, description="None: the plan's bake_s")
    gate: bool = Field(default=False, description="after baking, wait here until approved")


class Analysis(Frozen):
    percentile: Literal["p95", "p99"] | None = Field(default=None, description="None: the SLO's, else p95")
    latency_ms: float | None = Field(default=None, gt=0, le=600_000)
    latency_ratio: float | None = Field(default=None, gt=0, le=1000,
                                        description="candidate latency ≤ ratio x the baseline's")
    error_rate_percent: float | None = Field(default=None, ge=0, le=100)
    error_rate_over_baseline: float | None = Field(default=None, ge=0, le=100,
                                                   description="percentage points over the baseline's rate")
    min_requests: int = Field(default=20, ge=1, le=1_000_000)
    window_s: int = Field(default=30, ge=10, le=3600)
    interval_s: float = Field(default=5, ge=0.5, le=600)
    rollback_after: int = Field(default=2, ge=1, le=100, description="consecutive failed analyses")

    def has_thresholds(self) -> bool:
        return any(v is not None for v in (self.latency_ms, self.latency_ratio, self.error_rate_percent,
                                             self.error_rate_over_baseline))

    @property
    def quantile(self) -> Literal["p95", "p99"]:
        return self.percentile or "p95"


class RolloutPlan(Frozen):
    endpoint: Name
    candidate: Name
    baseline: Name | None = None
    steps: tuple[Step, ...] = Field(min_length=1, max_length=100)
    bake_s: float = Field(default=60, ge=0, le=7 * 86400)
    gates: tuple[int, ...] = Field(default=(), description="weights of the steps that wait for approval")
    analysis: Analysis = Analysis()

    @field_validator("steps", mode="before")
    @classmethod
    def _numbers_are_steps(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"weight": v} if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("baseline")
    @classmethod
    def _not_the_candidate(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value == info.data.get("candidate"):
            raise ValueError(f"the baseline and the candidate are both {value!r}")
        return value

    @field_validator("steps")
    @classmethod
    def _steps_rise_to_100(cls, value: tuple[Step, ...]) -> tuple[Step, ...]:
        weights = [s.weight for s in value]
        if weights != sorted(set(weights)):
            raise ValueError(f"steps must rise strictly, got {weights}")
        if weights[-1] != 100:
            raise ValueError(f"the last step must be 100 (the candidate takes all the traffic), got {weights[-1]}")
        return value

    @field_validator("gates")
    @classmethod
    def _gates_on_steps(cls, value: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        steps = info.data.get("steps")
        weights = [s.weight for s in steps] if steps else []
        stray = sorted(set(value) - set(weights))
        if steps and stray:
            raise ValueError(f"gates {stray} are not weights of any step ({weights})")
        return value

    def bake(self, index: int) -> float:
        own = self.steps[index].bake_s
        return self.bake_s if own is None else own

    def gated(self, index: int) -> bool:
        return self.steps[index].gate or self.steps[index].weight in self.gates


def resolve(plan: RolloutPlan, slo: Slo | None, traffic: dict[str, int]) -> RolloutPlan:
    """The plan as it will run: its baseline named and its thresholds set (from the SLO when it
    gives none). Raises PlanError when neither gives a threshold or no baseline can be chosen."""
    problems = []
    analysis = plan.analysis
    if not analysis.has_thresholds():
        if slo is None or (slo.latency_ms is None and slo.error_rate_percent is None):
            problems.append(f"analysis: the plan sets no thresholds and endpoint {plan.endpoint!r} has no SLO: "
                            "give analysis.latency_ms, latency_ratio, error_rate_percent or error_rate_over_baseline")
        else:
            analysis = analysis.model_copy(update={
                "percentile": analysis.percentile or slo.percentile, "latency_ms": slo.latency_ms,
                "error_rate_percent": slo.error_rate_percent})
    elif analysis.percentile is None:
        analysis = analysis.model_copy(update={"percentile": slo.percentile if slo else "p95"})
    baseline = plan.baseline
    if baseline is None:
        live = sorted((-w, n) for n, w in traffic.items() if w > 0)
        if not live or live[0][1] == plan.candidate:
            problems.append(f"baseline: the candidate {plan.candidate!r} already has the largest share of "
                            f"{plan.endpoint!r}; name the baseline to roll back to")
        else:
            baseline = live[0][1]
    if problems:
        raise PlanError(problems)
    return plan.model_copy(update={"baseline": baseline, "analysis": analysis})


def plan_from_data(data: Any, source: str = "plan", lines: dict[tuple[Any, ...], int] | None = None) -> RolloutPlan:
    where = f"{source} (line {lines[()]})" if lines else source
    if not isinstance(data, dict):
        raise PlanError([f"{where}: expected a mapping with endpoint, candidate and steps, got {type(data).__name__}"])
    data = dict(data)
    kind = data.pop("kind", "Rollout")
    data.pop("apiVersion", None)
    if kind != "Rollout":
        raise PlanError([f"{source}: field 'kind': must be 'Rollout', got {kind!r}"])
    try:
        return RolloutPlan.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(part) for part in loc) or "(plan)"
            at = f" (line {_line_of(lines, loc)})" if lines else ""
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{source}: field '{field}'{at}: {message}")
        raise PlanError(problems) from None


def parse_plan(text: str, source: str = "plan") -> RolloutPlan:
    """One YAML document; raises PlanError naming the field and the line of every problem."""
    if len(text.encode()) > MAX_PLAN_BYTES:
        raise PlanError([f"{source}: a plan is at most {MAX_PLAN_BYTES} bytes"])
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "unknown line"
        raise PlanError([f"{source}: {where}: malformed YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    if len(nodes) != 1:
        raise PlanError([f"{source}: expected one plan document, found {len(nodes)}"])
    lines: dict[tuple[Any, ...], int] = {}
    try:
        data = _plain(nodes[0], lines, ())
    except ValueError as exc:  # SpecError: a duplicate key or an unsafe tag, with its line
        raise PlanError([f"{source}: {p}" for p in str(exc).splitlines()]) from None
    return plan_from_data(data, source, lines)


# ---------------------------------------------------------------- analysis

class Measured(Frozen):
    """One deployment's figures over the analysis window."""

    requests: float = 0
    latency_ms: float | None = None
    error_rate_percent: float | None = None


class Check(Frozen):
    name: str  # "p95", "p95 vs baseline", "errors", "errors vs baseline"
    status: CheckStatus
    value: float | None
    threshold: float | None
    text: str


def measure(analysis: Analysis, samples: list[Sample], now: float) -> Measured:
    """A deployment's live samples over (now - window_s, now], as the SLO alerts sum them."""
    slo = Slo(percentile=analysis.quantile, window_s=analysis.window_s)
    figures = window_figures(slo, samples, now)
    return Measured(requests=figures.requests, latency_ms=figures.latency_ms,
                    error_rate_percent=figures.error_rate_percent)


def _check(name: str, figure: str, value: float | None, threshold: float | None, why: str = "") -> Check:
    if value is None or threshold is None:
        return Check(name=name, status="unknown", value=value, threshold=threshold, text=f"{name}: {why}")
    ok = value <= threshold
    text = f"{name}: {value_text(figure, value)} {'≤' if ok else '>'} {value_text(figure, threshold)}{why}"
    return Check(name=name, status="pass" if ok else "fail", value=value, threshold=threshold, text=text)


def judge(analysis: Analysis, weight: int, candidate: Measured, baseline: Measured | None
          ) -> tuple[Verdict, tuple[Check, ...]]:
    """Every threshold the analysis sets. Fail if any fails; pass if none is unknown."""
    p = analysis.quantile
    few = f"{candidate.requests:.0f} requests in {analysis.window_s} s, fewer than {analysis.min_requests}"
    enough = candidate.requests >= analysis.min_requests
    base_ok = baseline is not None and baseline.requests >= analysis.min_requests
    base_why = "no baseline traffic to compare with" if weight >= 100 else (
        f"the baseline had fewer than {analysis.min_requests} requests in {analysis.window_s} s")
    checks: list[Check] = []

    def relative(name: str, figure: str, value: float | None, threshold: float | None, why: str) -> None:
        if weight >= 100:
            checks.append(Check(name=name, status="skipped", value=value, threshold=None,
                                text=f"{name}: skipped at 100% ({base_why})"))
        elif not enough:
            checks.append(_check(name, figure, None, None, few))
        elif not base_ok or threshold is None:
            checks.append(_check(name, figure, None, None, base_why))
        else:
            checks.append(_check(name, figure, value, threshold, why))

    if analysis.latency_ms is not None:
        checks.append(_check(p, p, candidate.latency_ms if enough else None, analysis.latency_ms,
                             "" if enough else few))
    if analysis.latency_ratio is not None:
        base = baseline.latency_ms if baseline is not None else None
        limit = analysis.latency_ratio * base if base is not None else None
        why = f" ({analysis.latency_ratio:g} x baseline {value_text(p, base)})" if base is not None else ""
        relative(f"{p} vs baseline", p, candidate.latency_ms, limit, why)
    if analysis.error_rate_percent is not None:
        value = candidate.error_rate_percent if enough else None
        checks.append(_check("errors", "errors", value, analysis.error_rate_percent, "" if enough else few))
    if analysis.error_rate_over_baseline is not None:
        base_rate = baseline.error_rate_percent if baseline is not None else None
        limit = base_rate + analysis.error_rate_over_baseline if base_rate is not None else None
        why = (f" (baseline {value_text('errors', base_rate)} + {analysis.error_rate_over_baseline:g} points)"
               if base_rate is not None else "")
        relative("errors vs baseline", "errors", candidate.error_rate_percent, limit, why)
    statuses = {c.status for c in checks}
    verdict: Verdict = "fail" if "fail" in statuses else (
        "inconclusive" if "unknown" in statuses or "pass" not in statuses else "pass")
    return verdict, tuple(checks)
