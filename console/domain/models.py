"""Domain types shared by the engine, the backends and the console.

Frozen pydantic models: snapshots that cross threads and processes unchanged.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from console.domain.endpoint_policy import EndpointPolicy
from console.domain.split import split_problems

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lower-case DNS label")]
#: an endpoint as its place names it: the engine's DNS label, or a cluster's namespace/name (a DNS subdomain)
PLACED_NAME_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"
PlacedName = Annotated[str, Field(pattern=PLACED_NAME_PATTERN,
                                  description="a DNS label, or namespace/name for a Kubernetes object")]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeploymentState(StrEnum):
    CREATING = "Creating"
    READY = "Ready"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    DELETING = "Deleting"


class Runtime(StrEnum):
    ONNX = "onnx"
    PYTHON = "python"
    UPSTREAM = "upstream"


class ModelRef(Frozen):
    name: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=100)
    path: str | None = Field(default=None, description="model file or scoring script")

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # `version: 2` in YAML is a number; a version is text.
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class Resources(Frozen):
    cpus: float = Field(default=1.0, gt=0, le=256)
    gpus: int = Field(default=0, ge=0, le=16)


class Readiness(Frozen):
    path: str = Field(default="/ready", pattern=r"^/")
    period: float = Field(default=1.0, gt=0, le=300, description="seconds between probes")
    failure_threshold: int = Field(default=3, ge=1, le=100)


class DeploymentSpec(Frozen):
    endpoint: Name
    name: Name
    model: ModelRef
    runtime: Runtime
    replicas: int = Field(default=1, ge=0, le=64)
    resources: Resources = Resources()
    readiness: Readiness = Readiness()
    env: dict[str, str] = Field(default_factory=dict)
    upstream: str | None = Field(default=None, description="base URL, for runtime upstream")

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"env name {key!r} is not a valid variable name")
        return value

    @field_validator("upstream")
    @classmethod
    def _upstream_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("upstream must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _runtime_needs(self) -> DeploymentSpec:
        if self.runtime == Runtime.UPSTREAM and not self.upstream:
            raise ValueError("runtime 'upstream' needs an 'upstream' URL")
        if self.runtime != Runtime.UPSTREAM and not self.model.path:
            raise ValueError(f"runtime {self.runtime.value!r} needs model.path (the model file or scoring script)")
        return self


class Slo(Frozen):
    """An endpoint's service-level objective: a latency percentile and an error rate, each
    judged over `window_s`. A threshold left None is not checked."""

    percentile: Literal["p95", "p99"] = "p95"
    latency_ms: float | None = Field(default=None, gt=0, le=600_000)
    error_rate_percent: float | None = Field(default=None, ge=0, le=100,
                                             description="5xx responses as a percent of requests")
    window_s: int = Field(default=60, ge=10, le=3600)


class EndpointSpec(Frozen):
    name: Name
    description: str = Field(default="", max_length=2000)
    production: bool = False
    slo: Slo | None = None
    policy: EndpointPolicy | None = Field(default=None, description="steps, bake time, approval; None: defaults")
    traffic: dict[str, int] = Field(
        default_factory=dict, description="initial split, used when the endpoint is created"
    )
    mirror: dict[str, int] = Field(default_factory=dict)

    # Names are checked against the deployments by the engine; the numbers are checked here,
    # so that an error names this document, the field and its line.
    @field_validator("traffic")
    @classmethod
    def _traffic_weights(cls, value: dict[str, int]) -> dict[str, int]:
        if value:
            problems = split_problems(value, {}, set(value))
            if problems:
                raise ValueError("; ".join(problems))
        return value

    @field_validator("mirror")
    @classmethod
    def _mirror_shares(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        traffic = info.data.get("traffic") or {d: 0 for d in value}
        problems = [p for p in split_problems(traffic, value, set(traffic) | set(value)) if "mirror" in p]
        if problems:
            raise ValueError("; ".join(problems))
        return value


class Split(Frozen):
    traffic: dict[str, int]
    mirror: dict[str, int] = Field(default_factory=dict)


class Revision(Frozen):
    endpoint: str
    number: int
    traffic: dict[str, int]
    mirror: dict[str, int]
    time: datetime
    actor: str
    reason: str
    kind: str = Field(description="create, shift or rollback")
    restores: int | None = Field(default=None, description="for a rollback: the revision restored")


class AuditEvent(Frozen):
    seq: int
    time: datetime
    actor: str
    action: str
    endpoint: str | None = None
    deployment: str | None = None
    before: Any = None
    after: Any = None
    reason: str = ""
    outcome: str
    prev_hash: str
    hash: str
    identity: str | None = Field(default=None, description="the console or CLI that sent it (X-Switchboard-Identity)")
    place: str | None = Field(default=None, description="console audit log: the place (cluster context) acted on")
    target: str | None = Field(default=None, description="console audit log: the object, e.g. 'HTTPRoute ns/name'")


class ReplicaStatus(Frozen):
    id: str
    pid: int | None
    port: int | None
    state: str = Field(description="starting, ready, not-ready, draining, crashed, stopped")
    restarts: int = 0
    last_exit_code: int | None = None
    outstanding: int = 0
    node: str | None = Field(default=None, description="a Kubernetes pod's node")
    phase: str | None = Field(default=None, description="a Kubernetes pod's phase (Pending, Running, ...)")


class DeploymentStatus(Frozen):
    name: str
    endpoint: str
    model: ModelRef
    runtime: Runtime
    state: DeploymentState
    reason: str = ""
    replicas_ready: int
    replicas_desired: int
    replicas: list[ReplicaStatus] = Field(default_factory=list)
    spec: DeploymentSpec
    created: datetime
    detail: dict[str, str] = Field(
        default_factory=dict, description="what the place says about it, shown as is (Kubernetes: the Deployment, "
                                          "image, revision, conditions)")


class EndpointStatus(Frozen):
    name: str
    description: str = ""
    production: bool = False
    slo: Slo | None = None
    policy: EndpointPolicy | None = None
    traffic: dict[str, int]
    mirror: dict[str, int]
    revision: int
    applied_revision: int
    revision_name: str = Field(default="revision", description="what the place calls the number in `revision` "
                                                               "(a Kubernetes route: its generation)")
    routed: dict[str, int] = Field(
        default_factory=dict,
        description="live requests the router has sent to each deployment by the applied revision, since it applied it")
    scoring_uri: str
    deployments: list[DeploymentStatus] = Field(default_factory=list)
    created: datetime
