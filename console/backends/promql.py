"""A Prometheus place's label mapping and the PromQL built from it. Pure: no I/O.

The mapping says which labels name the endpoint and the deployment, which series belong
to the place (a label selector), and the metric names of the request-duration histogram and
the requests counter. The defaults match the local engine's `/metrics`
(console/engine/telemetry.py), so a Prometheus that scrapes the engine needs no mapping.
"""

from __future__ import annotations

import math
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")  # Prometheus data model: label names
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")  # ... and metric names
# One matcher: label, operator, a double- or single-quoted string with backslash escapes.
_MATCHER = re.compile(r"""\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*""")
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
MIRROR_LABEL = "mirror"  # the engine's live/shadow label; absent elsewhere (then every series is live)
IN_FLIGHT_METRIC = "switchboard_in_flight_requests"
READY_METRIC = "switchboard_replicas_ready"
DESIRED_METRIC = "switchboard_replicas_desired"
WEIGHT_METRIC = "switchboard_traffic_weight"
MAX_POINTS = 900  # per series and range query: the step grows to keep under it
HISTORY_POINTS = 600  # what a history read aims for


def selector_problems(selector: str) -> list[str]:
    """What is wrong with a label selector such as `{job="switchboard", env!="dev"}`, checked
    minimally here (the server has the last word): matchers `label op "value"`, separated by commas."""
    body = selector.strip()
    if not body:
        return []
    if body.startswith("{") != body.endswith("}"):
        return [f"selector {selector!r}: unbalanced braces"]
    body = body.removeprefix("{").removesuffix("}").strip()
    pos, problems = 0, []
    while pos < len(body):
        match = _MATCHER.match(body, pos)
        if match is None:
            problems.append(f"selector {selector!r}: expected label=\"value\" (or !=, =~, !~) at "
                            f"{body[pos:pos + 20]!r}")
            break
        pos = match.end()
        if pos < len(body):
            if body[pos] != ",":
                problems.append(f"selector {selector!r}: expected a comma at {body[pos:pos + 20]!r}")
                break
            pos += 1
    return problems


class PromMapping(BaseModel):
    """Which series are a place's endpoints and deployments, and what they are called."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # a newer version's field does not drop the place

    endpoint_label: str = Field(default="endpoint", description="the label whose value is the endpoint")
    deployment_label: str = Field(default="deployment", description="the label whose value is the deployment")
    selector: str = Field(default="", max_length=2000, description='extra matchers, e.g. {job="switchboard"}')
    duration_metric: str = Field(default="switchboard_request_duration_seconds",
                                 description="request-duration histogram, without _bucket; in seconds")
    requests_metric: str = Field(default="switchboard_requests_total",
                                 description="requests counter, as stored (with _total)")
    code_label: str = Field(default="code", description="the counter's HTTP status label")
    rate_window_s: int = Field(default=60, ge=2, le=3600, description="the range of rate(); at least one step")
    namespace_label: str = Field(default="", description="a label whose value is the Kubernetes namespace: endpoints "
                                                         "are then named namespace/endpoint, as a cluster's are")
    cluster: str = Field(default="", max_length=253,
                         description="the kubeconfig context whose endpoints these series describe: its charts "
                                     "and traffic confirmation come from this Prometheus")

    @field_validator("endpoint_label", "deployment_label", "code_label", "namespace_label")
    @classmethod
    def _label_name(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "namespace_label" and value == "":
            return value
        if not LABEL_NAME.fullmatch(value) or value.startswith("__"):
            raise ValueError(f"{value!r} is not a label name: letters, digits and _, not starting with a "
                             f"digit or __")
        return value

    @field_validator("duration_metric", "requests_metric")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not METRIC_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a metric name: letters, digits, _ and :, not starting with a digit")
        return value

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        problems = selector_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value.strip()

    # ---- PromQL
    def matchers(self, *extra: str) -> str:
        """`{selector matchers, extra}`: the braces of every series selector."""
        inner = self.selector.removeprefix("{").removesuffix("}").strip()
        return "{" + ", ".join(part for part in (inner, *extra) if part) + "}"

    def by(self, *extra: str, mirror: bool = True) -> str:
        labels = [*extra, *([self.namespace_label] if self.namespace_label else []), self.endpoint_label,
                  self.deployment_label, *([MIRROR_LABEL] if mirror else [])]
        return ", ".join(dict.fromkeys(labels))

    def window(self, step: float) -> str:
        return f"{max(self.rate_window_s, math.ceil(step))}s"

    def telemetry_queries(self, step: float) -> dict[str, str]:
        """Sample field → PromQL whose result is that field per (endpoint, deployment, mirror):
        rates per second (requests and errors), quantiles in seconds, gauges as they are."""
        w, by, sel = self.window(step), self.by(), self.matchers()
        requests = self.requests_metric
        sel_4xx = self.matchers(self.code_label + '=~"4.."')
        sel_5xx = self.matchers(self.code_label + '=~"5.."')
        queries = {
            "requests": f"sum by ({by}) (rate({requests}{sel}[{w}]))",
            "errors_4xx": f"sum by ({by}) (rate({requests}{sel_4xx}[{w}]))",
            "errors_5xx": f"sum by ({by}) (rate({requests}{sel_5xx}[{w}]))",
            "in_flight": f"sum by ({by}) ({IN_FLIGHT_METRIC}{sel})",
            "replicas_ready": f"max by ({self.by(mirror=False)}) ({READY_METRIC}{sel})",
            "replicas_desired": f"max by ({self.by(mirror=False)}) ({DESIRED_METRIC}{sel})",
        }
        for name, q in QUANTILES.items():
            queries[name] = (f"histogram_quantile({q}, sum by ({self.by('le')}) "
                             f"(rate({self.duration_metric}_bucket{sel}[{w}])))")
        return queries

    def discovery_query(self) -> str:
        """Every (endpoint, deployment) with a series of the place's metrics in the lookback."""
        names = "|".join((f"{self.duration_metric}_bucket", self.requests_metric, DESIRED_METRIC, WEIGHT_METRIC))
        sel = self.matchers('__name__=~"' + names + '"')
        return f"count by ({self.by(mirror=False)}) ({sel})"

    def inventory_queries(self) -> dict[str, str]:
        by, sel = self.by(mirror=False), self.matchers()
        return {
            "rate": f"sum by ({by}) (rate({self.requests_metric}{sel}[5m]))",
            "ready": f"max by ({by}) ({READY_METRIC}{sel})",
            "desired": f"max by ({by}) ({DESIRED_METRIC}{sel})",
            "weight": f"max by ({by}) ({WEIGHT_METRIC}{sel})",
        }

    def check_query(self) -> str:
        """Asks the server to parse the selector, and counts the mapped metrics' series."""
        names = "|".join((f"{self.duration_metric}_bucket", self.requests_metric))
        sel = self.matchers('__name__=~"' + names + '"')
        return f"count by (__name__) ({sel})"


def choose_step(span_s: float, period_s: float) -> float:
    """The step of a range query over `span_s`: the live period, or coarser so that a long
    span is about HISTORY_POINTS points (and never more than MAX_POINTS)."""
    step = max(period_s, math.ceil(span_s / HISTORY_POINTS))
    return float(max(step, math.ceil(span_s / MAX_POINTS)))
