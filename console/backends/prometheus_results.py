"""Prometheus query results → domain snapshots: the inventory (EndpointStatus,
DeploymentStatus) and telemetry Samples. Pure functions of the decoded JSON."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from console.backends.promql import MIRROR_LABEL, QUANTILES, PromMapping
from console.domain.models import (
    DeploymentSpec,
    DeploymentState,
    DeploymentStatus,
    EndpointStatus,
    ModelRef,
    Runtime,
)
from console.domain.telemetry import Sample

UNKNOWN_CREATED = datetime.fromtimestamp(0, UTC)  # Prometheus does not know when a deployment was made
Pair = tuple[str, str]  # endpoint ("" when the series has no endpoint label), deployment


def number(text: Any) -> float | None:
    """A sample value ("1.5", "NaN", "+Inf") as a finite float, else None."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _pair(mapping: PromMapping, labels: dict[str, str]) -> Pair | None:
    deployment = labels.get(mapping.deployment_label, "")
    endpoint = labels.get(mapping.endpoint_label, "")
    namespace = labels.get(mapping.namespace_label, "") if mapping.namespace_label else ""
    if namespace and endpoint:
        endpoint = f"{namespace}/{endpoint}"  # named as the cluster's inventory names it
    return (endpoint, deployment) if deployment else None


def _by_pair(mapping: PromMapping, series: list[dict[str, Any]]) -> dict[Pair, float]:
    found: dict[Pair, float] = {}
    for one in series:
        pair = _pair(mapping, one["metric"])
        value = number((one.get("value") or [None, None])[1])
        if pair is not None and value is not None:
            found[pair] = value
    return found


# ---------------------------------------------------------------- inventory


def _deployment(pair: Pair, url: str, rate: float | None, ready: float | None,
                desired: float | None) -> DeploymentStatus:
    endpoint, name = pair
    replicas_ready, replicas_desired = int(ready or 0), int(desired or 0)
    if ready is None and desired is None:
        state, why = DeploymentState.READY, "readiness not reported to Prometheus"
    elif replicas_desired > 0 and replicas_ready == 0:
        state, why = DeploymentState.FAILED, "no ready replica"
    elif replicas_ready < replicas_desired:
        state, why = DeploymentState.DEGRADED, f"{replicas_ready} of {replicas_desired} replicas ready"
    else:
        state, why = DeploymentState.READY, ""
    traffic = "no requests in 5 m" if not rate else f"{rate:.3g} req/s over 5 m"
    model = ModelRef(name=name[:200], version="unknown")
    # Not a spec the console could apply: what Prometheus tells of the deployment. Label values
    # need not be DNS labels, so it is built without the spec's validation.
    spec = DeploymentSpec.model_construct(endpoint=endpoint, name=name, model=model, runtime=Runtime.UPSTREAM,
                                          replicas=replicas_desired, upstream=url)
    return DeploymentStatus(
        name=name, endpoint=endpoint, model=model, runtime=Runtime.UPSTREAM, state=state,
        reason=" · ".join(part for part in (f"seen by Prometheus: {traffic}", why) if part),
        replicas_ready=replicas_ready, replicas_desired=replicas_desired, spec=spec, created=UNKNOWN_CREATED)


def inventory_from(mapping: PromMapping, url: str, found: list[dict[str, Any]],
                   figures: dict[str, list[dict[str, Any]]]) -> tuple[tuple[EndpointStatus, ...],
                                                                       tuple[DeploymentStatus, ...]]:
    """Endpoints (with their deployments) and orphans (series without the endpoint label).

    An endpoint's `traffic` is the deployments' `switchboard_traffic_weight` where every one
    of them reports it, else empty (unknown): Prometheus sees requests, not the split."""
    pairs = sorted({p for p in (_pair(mapping, s["metric"]) for s in found) if p is not None})
    rate, ready, desired, weight = (_by_pair(mapping, figures.get(name, []))
                                    for name in ("rate", "ready", "desired", "weight"))
    deployments = [_deployment(p, url, rate.get(p), ready.get(p), desired.get(p)) for p in pairs]
    orphans = tuple(d for d in deployments if not d.endpoint)
    endpoints = []
    for name in sorted({d.endpoint for d in deployments if d.endpoint}):
        members = [d for d in deployments if d.endpoint == name]
        weights = {d.name: weight.get((name, d.name)) for d in members}
        traffic = {d: round(w) for d, w in weights.items() if w is not None} if None not in weights.values() else {}
        endpoints.append(EndpointStatus(
            name=name, traffic=traffic, mirror={}, revision=0, applied_revision=0, scoring_uri="",
            deployments=members, created=UNKNOWN_CREATED,
            description=f"from Prometheus ({mapping.endpoint_label}/{mapping.deployment_label} labels)"))
    return tuple(endpoints), orphans


# ---------------------------------------------------------------- telemetry

_RATES = ("requests", "errors_4xx", "errors_5xx")  # per second in PromQL; counts per step in a Sample
_LIVE_ONLY = ("replicas_ready", "replicas_desired")  # series without the mirror label


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else round(value * factor, 6)


def samples_from(mapping: PromMapping, results: dict[str, list[dict[str, Any]]], step: float) -> tuple[Sample, ...]:
    """One Sample per (endpoint, deployment, mirror, time) found in the range results of
    PromMapping.telemetry_queries."""
    rows: dict[tuple[str, str, bool, float], dict[str, float | None]] = {}
    for field, series in results.items():
        for one in series:
            labels = one["metric"]
            pair = _pair(mapping, labels)
            if pair is None:
                continue
            mirror = labels.get(MIRROR_LABEL) == "true" and field not in _LIVE_ONLY
            for point in one.get("values") or []:
                rows.setdefault((*pair, mirror, float(point[0])), {})[field] = number(point[1])
    samples = []
    for (endpoint, deployment, mirror, at), row in sorted(rows.items(), key=lambda item: (item[0][3], item[0][:3])):
        requests = row.get("requests")
        counts = {f: _scaled(row.get(f), step) for f in _RATES}
        if requests is not None:  # a known request count with no error series: no errors
            counts = {f: 0.0 if v is None else v for f, v in counts.items()}
        latency = {p: _scaled(row.get(p), 1000.0) for p in QUANTILES if p in row}
        ready, desired = row.get("replicas_ready"), row.get("replicas_desired")
        samples.append(Sample(
            time=at, interval_s=step, endpoint=endpoint, deployment=deployment, mirror=mirror,
            requests=counts["requests"], errors_4xx=counts["errors_4xx"], errors_5xx=counts["errors_5xx"],
            latency_ms=latency, in_flight=row.get("in_flight"),
            replicas_ready=None if ready is None else int(ready),
            replicas_desired=None if desired is None else int(desired)))
    return tuple(samples)
