"""The cluster side of the console's traffic flows: read a route endpoint fresh, send a shift, a rollback or a
proposal with THE resourceVersion the person reviewed, and say who changed it when that version was stale.

- `read(backend, endpoint)` reads the object from the API server (not the watch cache), maps it as the inventory
  does, and keeps it (bounded, per backend) under its resourceVersion: `send` patches that very object, never a
  newer one read behind the person's back.
- `send` records every attempt in the console's audit log (accepted, conflict, refused, failed).
- Two annotations a team may set on the route make the console's guards stricter for it:
  `switchboard.dev/production: "true"` (the endpoint's name typed to confirm, a reason) and
  `switchboard.dev/approval-required: "true"` (the review sends a proposal that another identity approves).
- `revisions` maps the `switchboard.dev/traffic-history` annotation (history.py) to domain Revisions: a rollback
  is written with the reason `rollback to revision N: why`, so every console reads it back as one.
Synchronous; for worker threads.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from console.backends.base import BackendError, Conflict, Forbidden, Invalid, NotFound, NotSupported
from console.backends.kubernetes import history, routes_patch
from console.backends.kubernetes.discovery import Kind
from console.backends.kubernetes.endpoints import MAPPERS, EndpointRef
from console.backends.kubernetes.mapping import Index
from console.backends.kubernetes.permissions import Permission, Permissions, review
from console.backends.kubernetes.routes_patch import ROUTE_KINDS, ActionRecord, RouteKind
from console.backends.kubernetes.wording import failure_outcome
from console.domain.endpoint_policy import EndpointPolicy
from console.domain.models import AuditEvent, EndpointStatus, Revision

if TYPE_CHECKING:
    from console.backends.kubernetes.backend import KubernetesBackend

PRODUCTION_ANNOTATION = "switchboard.dev/production"
APPROVAL_ANNOTATION = "switchboard.dev/approval-required"
KEEP_READS = 32  # objects kept per backend for the patches that follow a review
CONTROLLED = {"Rollout": RouteKind("Rollout", "argoproj.io", "v1alpha1", "rollouts"),
              "Canary": RouteKind("Canary", "flagger.app", "v1beta1", "canaries")}
_ROLLBACK = re.compile(r"^rollback(?: to revision (\d+))?(?::|$)")
_reads: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[str, str], dict[str, Any]]] = weakref.WeakKeyDictionary()
_reads_lock = threading.Lock()


@dataclass(frozen=True)
class ClusterRead:
    """A route endpoint as read from the API server at `read_at`."""

    status: EndpointStatus
    revisions: tuple[Revision, ...]
    read_at: float
    precondition: str  # its resourceVersion: what a patch made on this read is conditional on
    head: int  # the newest history revision (0: none recorded yet)
    target: str  # "HTTPRoute default/iris"
    confirms: str  # "gateways": every parent must accept the generation; "api-server": nothing further to see
    control: str  # "Argo Rollout" / "Flagger Canary": not shifted by hand


@dataclass(frozen=True)
class Sent:
    """What the API server answered to a change: the endpoint after it, the generation it made."""

    status: EndpointStatus
    generation: int
    resource_version: str
    target: str
    confirms: str
    outcome: str  # "accepted" | "proposed"
    text: str
    record: ActionRecord


# ------------------------------------------------------------------------------------------- reading


def ref_of(backend: KubernetesBackend, endpoint: str) -> EndpointRef:
    ref = backend.refs.get(endpoint)
    if ref is None:
        raise NotFound(f"{endpoint} is not an endpoint of {backend.place_id} (as of the last inventory)")
    return ref


def no_split(ref: EndpointRef) -> str:
    if ref.kind == "Namespace":  # the Deployments of a namespace that no route sends traffic to
        return f"the Deployments of namespace {ref.namespace} here are behind no route: no traffic split to change"
    return f"{ref.kind} {ref.namespace}/{ref.name} has no traffic split the console can change"


def route_kind(ref: EndpointRef) -> RouteKind:
    found = ROUTE_KINDS.get(ref.kind) or CONTROLLED.get(ref.kind)
    if found is None:
        raise NotSupported(no_split(ref))
    return found


def target_of(ref: EndpointRef) -> str:
    return f"{ref.kind} {ref.namespace}/{ref.name}"


def refused_by_control(ref: EndpointRef) -> str | None:
    """The sentence refusing a hand-made shift of an endpoint under a rollout controller (None: not under one)."""
    if not ref.control:
        return None
    return (f"{target_of(ref)} is under {ref.control} control: its traffic is set by the {ref.control} "
            f"controller, not by hand; use the {ref.control}'s own promote, abort or undo")


def _remember(backend: KubernetesBackend, endpoint: str, obj: dict[str, Any]) -> None:
    rv = str(obj["metadata"].get("resourceVersion", ""))
    with _reads_lock:
        kept = _reads.setdefault(backend, OrderedDict())
        kept[(endpoint, rv)] = obj
        kept.move_to_end((endpoint, rv))
        while len(kept) > KEEP_READS:
            kept.popitem(last=False)


def reviewed(backend: KubernetesBackend, endpoint: str, resource_version: str) -> dict[str, Any]:
    """The object as read at `resource_version` (by `read`), for the patch that the person reviewed."""
    with _reads_lock:
        obj = _reads.get(backend, OrderedDict()).get((endpoint, resource_version))
    if obj is None:
        raise Invalid(f"{endpoint}: the read at resourceVersion {resource_version or '(none)'} that this change was "
                      "reviewed on is no longer kept: review the change again")
    return obj


def _get(backend: KubernetesBackend, rk: RouteKind, ref: EndpointRef) -> dict[str, Any]:
    return routes_patch.read_object(backend.connection().api, rk, ref.namespace, ref.name)


def status_of(backend: KubernetesBackend, endpoint: str, obj: dict[str, Any]) -> EndpointStatus:
    """`obj` mapped as the inventory maps it (its Deployments from the watch cache)."""
    kind = next((key for key in MAPPERS if route_kind_key(obj) == key), None)
    if kind is None:
        raise NotSupported(f"{obj.get('kind')} is not an endpoint kind the console maps")
    built = getattr(backend, "_index", None)
    index = copy.copy(built[1]) if built is not None else Index({}, {}, {})
    index.used = set()  # a copy: the inventory's own bookkeeping stays untouched
    status, _ref = MAPPERS[kind](obj, endpoint, index)
    notes = (obj.get("metadata") or {}).get("annotations") or {}
    production = str(notes.get(PRODUCTION_ANNOTATION, "")).lower() == "true"
    approval = str(notes.get(APPROVAL_ANNOTATION, "")).lower() == "true"
    if production or approval:
        policy = (status.policy or EndpointPolicy()).model_copy(update={"production": production,
                                                                        "approval_required": approval})
        status = status.model_copy(update={"policy": policy, "production": production})
    return status


def route_kind_key(obj: dict[str, Any]) -> str:
    kind = str(obj.get("kind", ""))
    rk = ROUTE_KINDS.get(kind) or CONTROLLED.get(kind)
    return f"{rk.plural}.{rk.group}" if rk else ""


def read(backend: KubernetesBackend, endpoint: str, obj: dict[str, Any] | None = None) -> ClusterRead:
    """The endpoint read fresh from the API server (or `obj`, an object it just answered with), kept for `send`."""
    ref = ref_of(backend, endpoint)
    rk = route_kind(ref)
    if obj is None:
        obj = _get(backend, rk, ref)
    read_at = time.time()
    _remember(backend, endpoint, obj)
    revisions = revisions_of(endpoint, obj)
    return ClusterRead(status_of(backend, endpoint, obj), tuple(revisions), read_at,
                       str(obj["metadata"].get("resourceVersion", "")), max((r.number for r in revisions), default=0),
                       target_of(ref), "gateways" if ref.kind == "HTTPRoute" else "api-server", ref.control)


# ------------------------------------------------------------------------------------------- history


def _when(text: str) -> datetime:
    try:
        return datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def revisions_of(endpoint: str, obj: dict[str, Any]) -> list[Revision]:
    """The history annotation as Revisions (oldest first). The entry a route's first change records for the split
    found on it is kind "create"; `rollback to revision N: …` reasons are rollbacks restoring N."""
    out: list[Revision] = []
    for entry in history.history_of(obj):
        reason = str(entry.get("reason", ""))
        found = _ROLLBACK.match(reason)
        kind = "create" if not out and entry.get("actor") == "cluster" else "rollback" if found else "shift"
        out.append(Revision(endpoint=endpoint, number=int(entry.get("revision", len(out) + 1)),
                            traffic={str(k): int(v) for k, v in (entry.get("split") or {}).items()}, mirror={},
                            time=_when(entry.get("time", "")), actor=str(entry.get("actor", "")), reason=reason,
                            kind=kind, restores=int(found.group(1)) if found and found.group(1) else None))
    return out


def revisions(backend: KubernetesBackend, endpoint: str) -> list[Revision]:
    """SupportsHistory for a cluster endpoint: its history annotation, read fresh (none for an entry with no
    route, such as a namespace's Deployments behind no route)."""
    ref = backend.refs.get(endpoint)
    if ref is not None and ref.kind not in ROUTE_KINDS and ref.kind not in CONTROLLED:
        return []
    return list(read(backend, endpoint).revisions)


def changes_since(read_: ClusterRead, since: int, reviewed_generation: int, place: str) -> list[AuditEvent]:
    """Who changed the endpoint after history revision `since`, as audit events: one per history entry, and one
    for a change made outside any console (the generation moved on with no history entry for it)."""
    newer = [r for r in read_.revisions if r.number > since and r.kind != "create"]
    events = []
    previous = {r.number: r for r in read_.revisions}
    for r in newer:
        before = next((previous[n].traffic for n in range(r.number - 1, 0, -1) if n in previous), None)
        events.append(AuditEvent(seq=r.number, time=r.time, actor=r.actor, action=f"kubernetes.traffic-{r.kind}",
                                 endpoint=read_.status.name, before=before, after=r.traffic, reason=r.reason,
                                 outcome=f"recorded on {read_.target} (history revision {r.number})", prev_hash="",
                                 hash="", place=place, target=read_.target))
    if not newer and read_.status.revision != reviewed_generation:
        events.append(AuditEvent(seq=0, time=datetime.fromtimestamp(read_.read_at, UTC), actor="(not recorded)",
                                 action="kubernetes.change-outside-the-console", endpoint=read_.status.name,
                                 after=read_.status.traffic, outcome=f"generation {reviewed_generation} → "
                                 f"{read_.status.revision}, with no history entry (kubectl or another tool)",
                                 prev_hash="", hash="", place=place, target=read_.target))
    return events


# ------------------------------------------------------------------------------------------- sending


def _record(backend: KubernetesBackend, record: ActionRecord, outcome: str, endpoint: str) -> str:
    """Write the audit event; a log that cannot be written is said, not hidden (the change itself stands)."""
    try:
        backend.record(record, outcome=outcome, endpoint=endpoint)
    except BackendError as exc:
        return f"; NOT written to the console's audit log: {exc}"
    return ""


def _mirror_percent(kind: str, obj: dict[str, Any], before: dict[str, int], after: dict[str, int]) -> float | None:
    live_before, live_after = {k: v for k, v in before.items() if v}, {k: v for k, v in after.items() if v}
    if live_before == live_after:
        return None
    if kind != "VirtualService" or routes_patch.mirror_percent_of(obj) is None:
        raise Invalid("mirror shares can only be changed on a VirtualService route that mirrors")
    if len(live_after) > 1 or (live_after and live_before and set(live_after) != set(live_before)):
        raise Invalid("on a VirtualService the console changes the mirror percentage, not the mirror target")
    return float(sum(live_after.values()))


def send(backend: KubernetesBackend, endpoint: str, kind: str, generation: int, precondition: str,
         traffic: dict[str, int], *, actor: str, reason: str, to_revision: int | None = None,
         mirror_before: dict[str, int] | None = None, mirror: dict[str, int] | None = None) -> Sent:
    """Send a shift, rollback or proposal made on the read at `precondition` (generation `generation`).
    Raises Conflict (with the object now) when the route changed since; Forbidden when refused."""
    ref = ref_of(backend, endpoint)
    target = target_of(ref)
    action = {"shift": "traffic-shift", "rollback": "traffic-rollback", "propose": "traffic-propose"}.get(kind)
    failed = ActionRecord(cluster=backend.place_id, namespace=ref.namespace, kind=ref.kind, name=ref.name,
                          action=action or kind, actor=actor, reason=reason, before=None, after=traffic)
    try:
        if action is None:
            raise Invalid(f"unknown change kind {kind!r}: shift, rollback or propose")
        if backend.read_only:
            raise Forbidden(f"{target} not changed: the context of {backend.place_id} is marked read-only in the "
                            "console")
        refused = refused_by_control(ref)
        if refused:
            raise NotSupported(refused)
        rk = route_kind(ref)
        obj = reviewed(backend, endpoint, precondition)
        failed = ActionRecord(**{**failed.__dict__, "before": routes_patch.split_of(ref.kind, obj)})
        if int(obj["metadata"].get("generation", 0)) != generation:
            raise Conflict(f"{target} changed between the draft (generation {generation}) and the review "
                           f"(generation {obj['metadata'].get('generation')})", current=_get(backend, rk, ref))
        api = backend.connection().api
        known = routes_patch.split_of(ref.kind, obj)
        split = {k: v for k, v in traffic.items() if k in known or v}
        if kind == "propose":
            # the proposer is who the approvals dock approves as (the context's user), so that the same
            # person cannot approve their own change from the same console
            record = history.propose(api, ref.kind, ref.namespace, ref.name, split,
                                     proposer=backend.cluster_identity(), reason=reason, read=obj,
                                     cluster=backend.place_id)
        elif kind == "rollback":
            entries = history.history_of(obj)
            if to_revision is not None:
                entry = next((e for e in entries if int(e.get("revision", 0)) == to_revision), None)
                if entry is None:
                    raise NotFound(f"{target} has no history revision {to_revision} (kept: "
                                   f"{', '.join(str(e.get('revision')) for e in entries) or 'none'})")
                split, restores = {str(k): int(v) for k, v in entry["split"].items()}, to_revision
            else:
                split = history.previous_split(obj)
                restores = next((int(e.get("revision", 0)) for e in reversed(entries) if e["split"] == split), 0)
            why = f"rollback to revision {restores}" + (f": {reason}" if reason else "")
            record = routes_patch.shift_traffic(api, ref.kind, ref.namespace, ref.name, split, actor=actor, reason=why,
                                                read=obj, cluster=backend.place_id, action="traffic-rollback")
        else:
            mirror_percent = _mirror_percent(ref.kind, obj, mirror_before or {}, mirror or {})
            record = routes_patch.shift_traffic(api, ref.kind, ref.namespace, ref.name, split, actor=actor,
                                                reason=reason, read=obj, cluster=backend.place_id,
                                                mirror_percent=mirror_percent)
    except BackendError as exc:
        _record(backend, failed, failure_outcome(exc), endpoint)
        raise
    proposed = kind == "propose"
    note = _record(backend, record, "proposed" if proposed else "accepted", endpoint)
    try:
        now = _get(backend, route_kind(ref), ref)
    except BackendError:
        now = {**obj, "metadata": {**obj["metadata"], "resourceVersion": record.resource_version,
                                   "generation": record.generation}}
    after = read(backend, endpoint, now)
    if proposed:
        text = (f"{endpoint}: proposal stored on {target} ({record.detail.get('expires', '')} expiry); it waits for "
                f"another identity with patch permission to approve it{note}")
    else:
        text = f"{target} generation {record.generation} accepted by the API server{note}"
    return Sent(after.status, record.generation, record.resource_version, target, after.confirms,
                "proposed" if proposed else "accepted", text, record)


def conflict_read(backend: KubernetesBackend, endpoint: str, current: Any = None) -> ClusterRead:
    """The endpoint now: `current` (the object a 409 came with) where there is one, else read fresh."""
    if isinstance(current, dict) and current.get("metadata"):
        return read(backend, endpoint, current)
    return read(backend, endpoint)


# ------------------------------------------------------------------------------------------- permissions


def patch_permission(backend: KubernetesBackend, endpoint: str) -> Permissions:
    """Asked of the cluster now: may this identity patch the endpoint's object in its namespace?"""
    ref = ref_of(backend, endpoint)
    if ref.kind not in ROUTE_KINDS and ref.kind not in CONTROLLED:
        return Permissions(read_only=backend.read_only)  # nothing to patch: blocked() says why
    rk = route_kind(ref)
    return review(backend.connection(), [Permission("patch", rk.group, rk.plural, ref.namespace)], backend.read_only)


def blocked(backend: KubernetesBackend, endpoint: str, permissions: Permissions) -> str | None:
    """Why a person may not change the endpoint's traffic from this console (None: they may). No I/O."""
    ref = backend.refs.get(endpoint)
    if ref is None:
        return None
    refused = refused_by_control(ref)
    if refused:
        return refused
    rk = ROUTE_KINDS.get(ref.kind)
    if rk is None:
        return no_split(ref)
    kind = Kind(rk.group, rk.version, rk.plural, rk.kind, patchable=True)
    return permissions.missing_for("patch", kind, ref.namespace)
