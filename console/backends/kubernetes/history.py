"""The split's revision history and approvals, kept on the route object itself so every console sees them.

- `switchboard.dev/traffic-history`: a JSON list (oldest first, at most HISTORY_LIMIT entries) of
  {revision, time, actor, reason, split}; written in the same patch as the change it records (routes_patch).
- `switchboard.dev/proposal`: one pending change {proposer, kind, before, after, resourceVersion, generation,
  reason, created, expires}; another identity approves it. Who may approve is the cluster's RBAC: patch
  permission on the route, asked with a SelfSubjectAccessReview.
Traffic rollback is a new patch (a new revision) to the last earlier split that differs from the live one.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from console.backends.base import Conflict, Forbidden, Invalid, NotFound
from console.backends.kubernetes.routes_patch import (
    ROUTE_KINDS,
    TIMEOUT_S,
    ActionRecord,
    api_error,
    check_split,
    patch_object,
    read_object,
    shift_traffic,
    split_of,
)

HISTORY_ANNOTATION = "switchboard.dev/traffic-history"
PROPOSAL_ANNOTATION = "switchboard.dev/proposal"
HISTORY_LIMIT = 20
PROPOSAL_TTL_S = 3600.0


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _annotations(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def history_of(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded revisions, oldest first; an unreadable annotation raises Invalid (never silently reset)."""
    raw = _annotations(obj).get(HISTORY_ANNOTATION)
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise Invalid(f"the {HISTORY_ANNOTATION} annotation is not JSON: {exc}") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "split" in e for e in entries):
        raise Invalid(f"the {HISTORY_ANNOTATION} annotation is not a list of revisions")
    return entries


def appended(obj: dict[str, Any], split: dict[str, int], *, actor: str, reason: str, now: float,
             limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """The history with `split` added as the next revision, the oldest dropped past `limit`. A route without
    history first gets its live split recorded (by "cluster"), so the first change can be rolled back."""
    entries = history_of(obj)
    if not entries:
        entries = [{"revision": 1, "time": _iso(now), "actor": "cluster", "reason": "split found on the route",
                    "split": split_of(obj.get("kind", ""), obj)}]
    revision = int(entries[-1].get("revision", len(entries))) + 1
    entries.append({"revision": revision, "time": _iso(now), "actor": actor, "reason": reason, "split": split})
    return entries[-max(2, limit):]


def previous_split(obj: dict[str, Any]) -> dict[str, int]:
    """The last recorded split that differs from the live one: what a traffic rollback returns to."""
    live = split_of(obj.get("kind", ""), obj)
    for entry in reversed(history_of(obj)):
        split = {str(k): int(v) for k, v in entry["split"].items()}
        if split != live and set(split) == set(live):
            return split
    raise NotFound(f"{obj.get('kind')} {obj['metadata'].get('name')} has no earlier split in its history")


def rollback_traffic(api: client.ApiClient, kind: str, namespace: str, name: str, *, actor: str, reason: str,
                     read: dict[str, Any] | None = None, cluster: str = "", now: float | None = None) -> ActionRecord:
    """A new revision equal to the previous split, with the resourceVersion precondition of `read` (or now)."""
    obj = read if read is not None else read_object(api, ROUTE_KINDS[kind], namespace, name)
    return shift_traffic(api, kind, namespace, name, previous_split(obj), actor=actor, reason=reason or "rollback",
                         read=obj, cluster=cluster, action="traffic-rollback", now=now)


# ------------------------------------------------------------------------------------------- permissions


def may(api: client.ApiClient, verb: str, group: str, resource: str, namespace: str, name: str = ""
        ) -> tuple[bool, str]:
    """Ask the cluster (SelfSubjectAccessReview) whether this identity may `verb` the resource; (allowed, why)."""
    attrs = {"verb": verb, "group": group, "resource": resource, "namespace": namespace, **({"name": name}
                                                                                          if name else {})}
    try:
        reviews: Any = client.AuthorizationV1Api(api)
        answer = reviews.create_self_subject_access_review(
            {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
             "spec": {"resourceAttributes": attrs}}, _request_timeout=TIMEOUT_S)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise api_error(exc, "asking the cluster for permissions (SelfSubjectAccessReview)") from exc
    status = answer.status
    return bool(status.allowed), str(status.reason or status.evaluation_error or "")


def missing_permission(verb: str, group: str, resource: str, namespace: str) -> str:
    return f"{verb} {resource}{'.' + group if group else ''} in namespace {namespace}"


# ------------------------------------------------------------------------------------------- approvals


def proposal_of(obj: dict[str, Any]) -> dict[str, Any] | None:
    raw = _annotations(obj).get(PROPOSAL_ANNOTATION)
    if not raw:
        return None
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise Invalid(f"the {PROPOSAL_ANNOTATION} annotation is not JSON: {exc}") from exc
    if not isinstance(found, dict) or "after" not in found:
        raise Invalid(f"the {PROPOSAL_ANNOTATION} annotation is not a proposal")
    return found


def propose(api: client.ApiClient, kind: str, namespace: str, name: str, split: dict[str, Any], *, proposer: str,
            reason: str, read: dict[str, Any] | None = None, ttl_s: float = PROPOSAL_TTL_S, cluster: str = "",
            now: float | None = None) -> ActionRecord:
    """Store a proposed split on the route (annotation only; the spec is unchanged), with the resourceVersion
    precondition of `read`. A pending, unexpired proposal by someone else is a Conflict."""
    rk = ROUTE_KINDS[kind]
    obj = read if read is not None else read_object(api, rk, namespace, name)
    moment = time.time() if now is None else now
    before = split_of(kind, obj)
    after = check_split(split, before)
    if not reason.strip():
        raise Invalid("a proposal needs a reason")
    pending = proposal_of(obj)
    if pending and float(pending.get("expires_at", 0)) > moment and pending.get("proposer") != proposer:
        raise Conflict(f"{kind} {namespace}/{name} already has a pending proposal by {pending.get('proposer')}",
                       current=obj)
    proposal = {"proposer": proposer, "kind": kind, "before": before, "after": after, "reason": reason,
                "resourceVersion": obj["metadata"]["resourceVersion"],
                "generation": int(obj["metadata"].get("generation", 0)),
                "created": _iso(moment), "expires": _iso(moment + ttl_s), "expires_at": moment + ttl_s}
    body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"],
                         "annotations": {PROPOSAL_ANNOTATION: json.dumps(proposal, separators=(",", ":"))}}}
    done = patch_object(api, rk, namespace, name, body)
    return ActionRecord(cluster=cluster, namespace=namespace, kind=kind, name=name, action="traffic-propose",
                        actor=proposer, reason=reason, before=before, after=after,
                        resource_version=done["metadata"]["resourceVersion"],
                        generation=int(done["metadata"].get("generation", 0)), confirmation="proposed",
                        detail={"expires": proposal["expires"]})


def approve(api: client.ApiClient, kind: str, namespace: str, name: str, *, approver: str, reason: str = "",
            read: dict[str, Any] | None = None, cluster: str = "", now: float | None = None) -> ActionRecord:
    """Apply the pending proposal as `approver` (another identity): refused when expired, when the approver
    proposed it, when this identity may not patch the route (RBAC, asked of the cluster), or when the route's
    spec changed since the proposal (Conflict with the current object). The proposal annotation is removed in
    the same patch, which carries the resourceVersion read here."""
    rk = ROUTE_KINDS[kind]
    obj = read if read is not None else read_object(api, rk, namespace, name)
    moment = time.time() if now is None else now
    proposal = proposal_of(obj)
    if proposal is None:
        raise NotFound(f"{kind} {namespace}/{name} has no pending proposal")
    if float(proposal.get("expires_at", 0)) <= moment:
        raise Invalid(f"the proposal by {proposal.get('proposer')} expired at {proposal.get('expires')}")
    if proposal.get("proposer") == approver:
        raise Forbidden(f"{approver} proposed this change; another identity must approve it")
    allowed, _why = may(api, "patch", rk.group, rk.plural, namespace, name)
    if not allowed:
        raise Forbidden(f"{approver} may not approve: the cluster does not allow "
                        f"{missing_permission('patch', rk.group, rk.plural, namespace)}")
    if int(obj["metadata"].get("generation", 0)) != int(proposal.get("generation", -1)) or \
            split_of(kind, obj) != proposal.get("before"):
        raise Conflict(f"{kind} {namespace}/{name} changed since the proposal by {proposal.get('proposer')}; "
                       "the proposal must be made again", current=obj)
    why = f"approved proposal by {proposal.get('proposer')}: {proposal.get('reason', '')}" + (
        f"; {reason}" if reason else "")
    record = shift_traffic(api, kind, namespace, name, proposal["after"], actor=approver, reason=why, read=obj,
                           cluster=cluster, action="traffic-approve", extra_annotations={PROPOSAL_ANNOTATION: None},
                           now=moment)
    return ActionRecord(**{**record.__dict__, "detail": {**record.detail, "proposer": proposal.get("proposer")}})


def withdraw(api: client.ApiClient, kind: str, namespace: str, name: str, *, actor: str, reason: str = "",
             cluster: str = "") -> ActionRecord:
    """Remove the pending proposal (resourceVersion precondition of a fresh read)."""
    rk = ROUTE_KINDS[kind]
    obj = read_object(api, rk, namespace, name)
    proposal = proposal_of(obj)
    if proposal is None:
        raise NotFound(f"{kind} {namespace}/{name} has no pending proposal")
    done = patch_object(api, rk, namespace, name, {"metadata": {
        "resourceVersion": obj["metadata"]["resourceVersion"], "annotations": {PROPOSAL_ANNOTATION: None}}})
    return ActionRecord(cluster=cluster, namespace=namespace, kind=kind, name=name, action="traffic-withdraw",
                        actor=actor, reason=reason, before=proposal, after=None,
                        resource_version=done["metadata"]["resourceVersion"], confirmation="withdrawn")
