"""Domain snapshots built in tests: no engine needed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from console.backends.base import InventorySnapshot
from console.domain.models import (
    AuditEvent,
    DeploymentSpec,
    DeploymentState,
    DeploymentStatus,
    EndpointStatus,
    ModelRef,
    ReplicaStatus,
    Revision,
    Runtime,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def deployment(name: str, endpoint: str = "fraud", version: str = "1", state: DeploymentState = DeploymentState.READY,
               ready: int = 2, desired: int = 2, runtime: Runtime = Runtime.ONNX) -> DeploymentStatus:
    model = ModelRef(name=endpoint, version=version, path=f"models/{name}.onnx")
    spec = DeploymentSpec(endpoint=endpoint, name=name, model=model, runtime=runtime, replicas=desired)
    replicas = [ReplicaStatus(id=f"{name}-{i}", pid=1000 + i, port=20000 + i, state="ready") for i in range(ready)]
    return DeploymentStatus(name=name, endpoint=endpoint, model=model, runtime=runtime, state=state,
                            replicas_ready=ready, replicas_desired=desired, replicas=replicas, spec=spec,
                            created=T0 - timedelta(hours=1))


def endpoint(name: str = "fraud", traffic: dict[str, int] | None = None, mirror: dict[str, int] | None = None,
             deployments: list[DeploymentStatus] | None = None, revision: int = 1) -> EndpointStatus:
    if deployments is None:
        deployments = [deployment(f"{name}-v{i}", name, str(i)) for i in (1, 2, 3)]
    if traffic is None:
        traffic = {deployments[0].name: 90, deployments[1].name: 10} if len(deployments) > 1 else {}
    return EndpointStatus(name=name, traffic=traffic, mirror=mirror or {}, revision=revision,
                          applied_revision=revision, scoring_uri=f"http://127.0.0.1:8100/endpoints/{name}/score",
                          deployments=deployments, created=T0 - timedelta(days=1))


def demo_snapshot(place_id: str = "local", read_at: float | None = None) -> InventorySnapshot:
    fraud = endpoint("fraud", mirror={"fraud-v3": 5})
    return InventorySnapshot(place_id, time.time() if read_at is None else read_at, (fraud,))


def big_snapshot(place_id: str, endpoints: int = 1000, per_endpoint: int = 10, changed: frozenset[int] = frozenset(),
                 read_at: float | None = None) -> InventorySnapshot:
    """`endpoints * per_endpoint` deployments; deployments numbered in `changed` are Degraded."""
    eps = []
    n = 0
    for e in range(endpoints):
        name = f"ep-{e:04d}"
        deps = []
        for d in range(per_endpoint):
            state = DeploymentState.DEGRADED if n in changed else DeploymentState.READY
            deps.append(deployment(f"{name}-d{d}", name, str(d), state=state, ready=1 if n in changed else 2))
            n += 1
        eps.append(endpoint(name, traffic={deps[0].name: 100}, deployments=deps))
    return InventorySnapshot(place_id, time.time() if read_at is None else read_at, tuple(eps))


def revisions(endpoint_name: str = "fraud", count: int = 3) -> list[Revision]:
    return [Revision(endpoint=endpoint_name, number=i,
                     traffic={"fraud-v1": 100 - 10 * (i - 1), "fraud-v2": 10 * (i - 1)},
                     mirror={}, time=T0 + timedelta(minutes=i), actor="ana@host", reason=f"step {i}",
                     kind="create" if i == 1 else "shift") for i in range(1, count + 1)]


def audit_events(endpoint_name: str = "fraud", count: int = 3) -> list[AuditEvent]:
    return [AuditEvent(seq=i, time=T0 + timedelta(minutes=i), actor="ana@host", action="traffic.set",
                       endpoint=endpoint_name, before={"fraud-v1": 100}, after={"fraud-v1": 90, "fraud-v2": 10},
                       reason=f"step {i}", outcome="ok", prev_hash="0" * 64, hash=f"{i:064d}")
            for i in range(1, count + 1)]
