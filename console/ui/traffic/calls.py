"""The calls of the traffic controls, run on TaskRunner workers (never the GUI thread).

EngineBackend finds its engine again after a restart (`_call` re-reads engine.json when a call
failed); these functions go through it so that a change sent after a restart reaches the new
engine. A Kubernetes context goes through backends/kubernetes/traffic.py: the route object is
read fresh and a change is patched with the resourceVersion of the read the person reviewed.
They raise the typed BackendErrors of console/backends/base.py.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.backends.base import Invalid, NotFound, NotSupported
from console.backends.engine import EngineBackend, actor
from console.domain.approvals import ChangeProposal
from console.domain.guards import Verdict
from console.domain.models import AuditEvent, EndpointStatus, Revision


@dataclass(frozen=True)
class Change:
    """One change as confirmed by a person: a shift, a rollback, or a proposal for approval."""

    place_id: str
    endpoint: str
    kind: str  # shift | rollback | propose
    revision: int  # the revision it was made on: sent as If-Match (a cluster: the object's generation)
    before: dict[str, int]
    traffic: dict[str, int]  # the split it asks for (a rollback: the split it restores)
    mirror_before: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    to_revision: int | None = None  # a rollback's target revision (None: the one before the latest)
    verdicts: tuple[Verdict, ...] = ()
    clicked: float = 0.0  # time.perf_counter() of the click on confirm
    precondition: str = ""  # a cluster: the resourceVersion of the read the person reviewed ("" on the engine)
    seen: int | None = None  # a cluster: the newest history revision of that read
    actor: str = ""  # who confirmed it (clusters record it in the route's history)

    @property
    def on_cluster(self) -> bool:
        return bool(self.precondition)

    def made_on(self) -> str:
        if self.on_cluster:
            return f"generation {self.revision}, resourceVersion {self.precondition}"
        return f"revision {self.revision}"

    def describe(self) -> str:
        what = {"shift": "traffic change", "rollback": "rollback", "propose": "proposal"}.get(self.kind, self.kind)
        target = f" to revision {self.to_revision}" if self.kind == "rollback" and self.to_revision else ""
        return f"{what}{target} of {self.endpoint} (made on {self.made_on()})"


@dataclass(frozen=True)
class EndpointRead:
    """An endpoint, its history and any rollout under way, as read at `read_at` (epoch seconds)."""

    status: EndpointStatus
    revisions: tuple[Revision, ...]
    read_at: float
    rollout: dict[str, Any] | None = None  # the active rollout's JSON, None when none is under way
    precondition: str = ""  # a cluster: the object's resourceVersion as read
    head: int | None = None  # a cluster: the newest history revision (None: revisions number status.revision)
    target: str = ""  # a cluster: "HTTPRoute ns/name"
    confirms: str = ""  # a cluster: "gateways" (every parent accepts) or "api-server" (nothing further to see)
    control: str = ""  # a cluster: the rollout controller in charge ("" when none)

    @property
    def on_cluster(self) -> bool:
        return self.head is not None

    @property
    def latest(self) -> int:
        """The newest revision number of `revisions`."""
        return self.status.revision if self.head is None else self.head


@dataclass(frozen=True)
class Sent:
    """A cluster's answer to a change: the endpoint after it, the generation made, what confirms it."""

    status: EndpointStatus
    generation: int
    target: str
    confirms: str
    outcome: str  # accepted | proposed
    text: str


if TYPE_CHECKING:
    from console.backends.kubernetes.traffic import ClusterRead


def _cluster(backend: object) -> Any:
    """backends/kubernetes/traffic.py when `backend` is a Kubernetes context, else None. The Kubernetes client
    loads with the first context connected, not with the console: no context, no client."""
    module = sys.modules.get("console.backends.kubernetes.backend")
    if module is None or not isinstance(backend, module.KubernetesBackend):
        return None
    from console.backends.kubernetes import traffic

    return traffic


def engine_of(backend: object) -> EngineBackend:
    if not isinstance(backend, EngineBackend):
        raise NotSupported("traffic changes from the console work on the local engine and on Kubernetes contexts "
                           "(this place is neither)")
    return backend


def _from_cluster(read: ClusterRead) -> EndpointRead:
    return EndpointRead(read.status, read.revisions, read.read_at, None, read.precondition, read.head, read.target,
                        read.confirms, read.control)


def read_endpoint(backend: object, endpoint: str, with_rollout: bool = True) -> EndpointRead:
    if (cluster := _cluster(backend)) is not None:
        return _from_cluster(cluster.read(backend, endpoint))
    engine = engine_of(backend)
    status: EndpointStatus = engine._call("endpoint", endpoint)
    read_at = time.time()
    revisions = tuple(engine.revisions(endpoint))
    rollout: dict[str, Any] | None = None
    if with_rollout:
        try:
            found = engine._call("rollout", endpoint)
            rollout = found if isinstance(found, dict) and found.get("active") else None
        except NotFound:
            rollout = None
    return EndpointRead(status, revisions, read_at, rollout)


def send(backend: object, change: Change) -> EndpointStatus | ChangeProposal | Sent:
    """Send `change` with If-Match on its revision (a cluster: the resourceVersion reviewed); the endpoint as it
    now stands (or the proposal; a cluster: what the API server answered)."""
    if (cluster := _cluster(backend)) is not None:
        sent = cluster.send(backend, change.endpoint, change.kind, change.revision, change.precondition,
                            change.traffic, actor=change.actor or actor(), reason=change.reason,
                            to_revision=change.to_revision, mirror_before=change.mirror_before, mirror=change.mirror)
        return Sent(sent.status, sent.generation, sent.target, sent.confirms, sent.outcome, sent.text)
    engine = engine_of(backend)
    if change.kind == "propose":
        return engine.propose(change.endpoint, change.traffic, change.mirror, revision=change.revision,
                              reason=change.reason, verdicts=change.verdicts)
    if change.kind == "rollback":
        raw = engine._call("rollback", change.endpoint, if_match=change.revision, to_revision=change.to_revision,
                           reason=change.reason)
        try:
            return EndpointStatus.model_validate(raw)
        except ValueError as exc:
            raise Invalid(f"the engine's answer to the rollback of {change.endpoint} is not an endpoint: {exc}") \
                from exc
    result: EndpointStatus = engine._call("set_traffic", change.endpoint, change.traffic, change.mirror,
                                          if_match=change.revision, reason=change.reason)
    return result


def conflict_details(backend: object, endpoint: str, since_revision: int, change: Change | None = None,
                     current: Any = None) -> tuple[EndpointRead, list[AuditEvent]]:
    """The endpoint now, and the audit events of the changes made to it after `since_revision` (a cluster: after
    the history revision the change was reviewed on; `current` is the object the 409 came with)."""
    if (cluster := _cluster(backend)) is not None:
        now = cluster.conflict_read(backend, endpoint, current)
        seen = change.seen if change is not None and change.seen is not None else 0
        return _from_cluster(now), cluster.changes_since(now, seen, since_revision, getattr(backend, "place_id", ""))
    read = read_endpoint(backend, endpoint, with_rollout=True)
    newer = [r for r in read.revisions if r.number > since_revision]
    events: list[AuditEvent] = []
    if newer:
        first = min(r.time for r in newer)
        events = [e for e in engine_of(backend).audit(0) if e.endpoint == endpoint and e.time >= first
                  and e.action.startswith(("traffic.", "rollout.", "proposal."))]
    return read, events


def cluster_permission(backend: object, endpoint: str) -> tuple[tuple[str, str], Any]:
    """A cluster endpoint: whether this identity may patch its object, asked of the cluster (a worker call);
    ((kind, namespace), Permissions) for the caller's cache."""
    if (cluster := _cluster(backend)) is None:
        raise NotSupported("permissions are asked of Kubernetes contexts only")
    ref = cluster.ref_of(backend, endpoint)
    return (ref.kind, ref.namespace), cluster.patch_permission(backend, endpoint)


def cluster_key(backend: object, endpoint: str) -> tuple[str, str] | None:
    """The permission cache key of a cluster endpoint (None: not a cluster endpoint, or not listed). No I/O."""
    if _cluster(backend) is None:
        return None
    ref = getattr(backend, "refs", {}).get(endpoint)
    return (ref.kind, ref.namespace) if ref else None


def cluster_blocked(backend: object, endpoint: str, permissions: Any) -> str | None:
    """Why this person may not change the endpoint's traffic (None: they may). No I/O."""
    if (cluster := _cluster(backend)) is None:
        return None
    result: str | None = cluster.blocked(backend, endpoint, permissions)
    return result


def rollout_abort(backend: object, endpoint: str, reason: str) -> dict[str, Any]:
    result: dict[str, Any] = engine_of(backend)._call("rollout_action", endpoint, "abort", reason)
    return result
