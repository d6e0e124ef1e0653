"""The guards' Context for one endpoint, from what the console read: the endpoint as the
engine answered it (with its policy and SLO), its revision history, the endpoint's recent
telemetry and any change already under way. Also the Proposal a draft split makes, and the
equivalent `switchboard` command.

Pure: no Qt and no I/O; the caller passes the time.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from console.domain.endpoint_policy import EndpointPolicy
from console.domain.guards import Context, DeploymentContext, Figures, Proposal, Saturation, summarize
from console.domain.models import DeploymentStatus, EndpointStatus, Revision
from console.domain.telemetry import Sample

LOAD_WINDOW_S = 10.0  # the "current load": live requests/s over the last seconds
DEFAULT_FIGURES_WINDOW_S = 60.0  # the health window when the endpoint has no SLO
M = TypeVar("M", Proposal, Context)


def named(model: type[M], endpoint: str, **fields: Any) -> M:
    """`model` for `endpoint` (an engine's DNS label, or a cluster's namespace/name), validated as usual."""
    return model(endpoint=endpoint, **fields)


def share_held_s(revisions: Sequence[Revision], name: str, now: float) -> float | None:
    """How long `name` has had its current live share (None without history)."""
    ordered = sorted(revisions, key=lambda r: r.number)
    if not ordered:
        return None
    share = ordered[-1].traffic.get(name, 0)
    since = ordered[-1]
    for rev in reversed(ordered):
        if rev.traffic.get(name, 0) != share:
            break
        since = rev
    return max(0.0, now - since.time.timestamp())


def _recent(samples: Iterable[Sample], name: str, now: float, window_s: float) -> list[Sample]:
    return [s for s in samples if s.deployment == name and now - window_s < s.time <= now]


def saturation(samples: Iterable[Sample], dep: DeploymentStatus, now: float,
               window_s: float = LOAD_WINDOW_S) -> Saturation | None:
    """How busy `dep` was over the last `window_s`, where its samples say so."""
    recent = [s for s in _recent(samples, dep.name, now, window_s) if not s.mirror]
    if not recent:
        return None
    span = sum(s.interval_s for s in recent)
    rps = sum(s.requests or 0.0 for s in recent) / span if span else None
    cpus = [s.cpu_percent for s in recent if s.cpu_percent is not None and "cpu_percent" not in s.per_host]
    gpus = [g.utilization_percent for s in recent for g in (s.gpus or ()) if g.utilization_percent is not None]
    capacity = dep.replicas_desired * dep.spec.resources.cpus * 100 if dep.replicas_desired else None
    return Saturation(rps=rps, cpu_percent=sum(cpus) / len(cpus) if cpus else None,
                      cpu_capacity_percent=capacity if cpus else None,
                      gpu_percent=min(100.0, max(gpus)) if gpus else None)


def load_rps(samples: Iterable[Sample], now: float, window_s: float = LOAD_WINDOW_S) -> float | None:
    """The endpoint's live requests/s over the last `window_s` (None without telemetry)."""
    recent = [s for s in samples if not s.mirror and s.requests is not None and now - window_s < s.time <= now]
    if not recent:
        return None
    seconds = {round(s.time) for s in recent}
    return sum(s.requests or 0.0 for s in recent) / max(len(seconds), 1)


def build_context(status: EndpointStatus, revisions: Sequence[Revision], samples: Sequence[Sample],
                  read_at: float, now: float, in_flight: str | None = None) -> Context:
    """The endpoint as read at `read_at`, judged at `now`."""
    window = float(status.slo.window_s) if status.slo else DEFAULT_FIGURES_WINDOW_S
    mine = [s for s in samples if s.endpoint == status.name]
    deployments: dict[str, DeploymentContext] = {}
    for dep in status.deployments:
        own = [s for s in mine if s.deployment == dep.name]
        figures: Figures | None = summarize(own, now, window)
        deployments[dep.name] = DeploymentContext(
            state=dep.state, replicas_ready=dep.replicas_ready, replicas_desired=dep.replicas_desired,
            share_held_s=share_held_s(revisions, dep.name, now), figures=figures,
            saturation=saturation(own, dep, now))
    return named(Context, status.name, policy=status.policy or EndpointPolicy(), slo=status.slo,
                   read_at=read_at, now=now, revision=status.revision, deployments=deployments,
                   endpoint_rps=load_rps(mine, now), in_flight=in_flight, production=status.production)


def proposal(status: EndpointStatus, after: Mapping[str, int], mirror_after: Mapping[str, int], actor: str,
             reason: str = "", confirmation: str = "", kind: str = "shift") -> Proposal:
    """The change from the endpoint as read to the draft split, on the revision it was read at."""
    names = {d.name for d in status.deployments} | set(status.traffic) | set(after)
    before = {n: status.traffic.get(n, 0) for n in sorted(names)}
    return named(Proposal, status.name, kind="rollback" if kind == "rollback" else "shift", before=before,
                    after={n: after.get(n, 0) for n in sorted(names)},
                    mirror_before={n: w for n, w in status.mirror.items() if w},
                    mirror_after={n: w for n, w in mirror_after.items() if w},
                    revision=status.revision, actor=actor, reason=reason, confirmation=confirmation)


def cli_command(p: Proposal, propose: bool = False) -> str:
    """The `switchboard` command that makes the same change (for the record, or a terminal)."""
    words = ["switchboard", "propose" if propose else "traffic", *([] if propose else ["set"]), p.endpoint]
    words += [f"{n}={w}" for n, w in sorted(p.after.items())]
    for name, weight in sorted(p.mirror_after.items()):
        words += ["--mirror", f"{name}={weight}"]
    words += ["--if-match", str(p.revision)]
    if p.reason:
        words += ["--reason", p.reason]
    return shlex.join(words)


def rollback_command(endpoint: str, revision: int | None, reason: str) -> str:
    words = ["switchboard", "rollback", endpoint]
    if revision is not None:
        words += ["--to-revision", str(revision)]
    if reason:
        words += ["--reason", reason]
    return shlex.join(words)


def rolled_back_from(revisions: Sequence[Revision]) -> dict[str, Revision]:
    """Deployments the latest rollback took live traffic away from (they stay running), with
    that rollback — only while it is still the latest revision."""
    ordered = sorted(revisions, key=lambda r: r.number)
    if len(ordered) < 2 or ordered[-1].kind != "rollback":
        return {}
    latest, before = ordered[-1], ordered[-2]
    return {n: latest for n, w in before.traffic.items() if w > latest.traffic.get(n, 0)}
