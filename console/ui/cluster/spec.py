"""What each cluster action is, what it needs of the cluster's RBAC, and where it applies.

Pure (no Qt, no I/O, no `kubernetes` import at module load): the menu, the palette and the
flows share these definitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.backends.kubernetes.permissions import Permissions

ARGO, FLAGGER = "Argo Rollout", "Flagger Canary"
READ_ONLY = "this context is marked read-only in the console"


@dataclass(frozen=True)
class Need:
    """One RBAC permission: `verb` on `resource` (plural, or plural/subresource) of `group`."""

    verb: str
    group: str
    resource: str


@dataclass(frozen=True)
class ActionSpec:
    id: str
    title: str  # menu text
    detail: str  # palette detail and status tip (fixed words only: the palette groups search them)
    confirm: str  # the confirm button
    applies_to: str  # "deployment", ARGO or FLAGGER
    needs: tuple[Need, ...]


DEPLOY_GET, DEPLOY_PATCH = Need("get", "apps", "deployments"), Need("patch", "apps", "deployments")
RS_LIST = Need("list", "apps", "replicasets")
RO_GET, RO_PATCH = Need("get", "argoproj.io", "rollouts"), Need("patch", "argoproj.io", "rollouts")
RO_STATUS = Need("patch", "argoproj.io", "rollouts/status")
CANARY_GET = Need("get", "flagger.app", "canaries")
PROXY_CREATE = Need("create", "", "services/proxy")  # asked in the gate's namespace, at preview

ACTIONS: dict[str, ActionSpec] = {s.id: s for s in (
    ActionSpec("deployment-rollback", "Roll back Deployment…",
               "kubectl rollout undo: the previous revision's pod template (previews first)", "Roll &back now",
               "deployment", (DEPLOY_PATCH, DEPLOY_GET, RS_LIST)),
    ActionSpec("argo-abort", "Abort rollout…",
               "kubectl argo rollouts abort: all traffic back to stable (previews first)", "&Abort rollout",
               ARGO, (RO_STATUS, RO_GET)),
    ActionSpec("argo-promote", "Promote rollout…",
               "kubectl argo rollouts promote: next step (previews first)", "&Promote", ARGO,
               (RO_STATUS, RO_PATCH, RO_GET)),
    ActionSpec("argo-promote-full", "Promote rollout fully…",
               "kubectl argo rollouts promote --full: skip remaining steps (previews first)", "Promote &fully",
               ARGO, (RO_STATUS, RO_PATCH, RO_GET)),
    ActionSpec("argo-undo", "Undo rollout…",
               "kubectl argo rollouts undo: the previous revision's pod template (previews first)", "&Undo rollout",
               ARGO, (RO_PATCH, RO_GET, RS_LIST)),
    ActionSpec("flagger-rollback", "Roll back canary…",
               "Flagger rollback gate: mark the canary failed, traffic back to primary (previews first)",
               "Roll &back canary", FLAGGER, (CANARY_GET,)),
)}
#: every fixed word of the palette entries (titles and details), for the palette groups' search texts
PALETTE_WORDS = " ".join(f"{s.title} {s.detail}" for s in ACTIONS.values()).lower()
ASKED: tuple[Need, ...] = tuple(dict.fromkeys(n for s in ACTIONS.values() for n in s.needs))


@dataclass(frozen=True)
class Target:
    """The object an action changes, and the console row it was started from."""

    place_id: str
    endpoint: str
    deployment: str | None  # the traffic key of the deployment row, when one was selected
    kind: str  # Deployment, Rollout, Canary
    namespace: str
    name: str

    @property
    def what(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def targets(place_id: str, refs: dict[str, Any], endpoint: str, deployment: str | None
            ) -> list[tuple[ActionSpec, Target]]:
    """The actions offered for an inventory row of a Kubernetes place (`refs`: the backend's
    endpoint name → EndpointRef). A Deployment under a rollout controller is rolled back through
    its controller, not behind its back, so only the controller's actions are offered there."""
    ref = refs.get(endpoint)
    if ref is None:
        return []
    if ref.control == ARGO:
        target = Target(place_id, endpoint, deployment, "Rollout", ref.namespace, ref.name)
        return [(s, target) for s in ACTIONS.values() if s.applies_to == ARGO]
    if ref.control == FLAGGER:
        return [(ACTIONS["flagger-rollback"], Target(place_id, endpoint, deployment, "Canary", ref.namespace,
                                                     ref.name))]
    keys = [deployment] if deployment is not None else sorted(ref.workloads)
    out = []
    for key in keys:
        workload = ref.workloads.get(key)
        if workload is not None:
            out.append((ACTIONS["deployment-rollback"],
                        Target(place_id, endpoint, key, "Deployment", workload.namespace, workload.name)))
    return out


def why_not(perms: Permissions | None, spec: ActionSpec, namespace: str, read_only: bool) -> str | None:
    """None when allowed; else the sentence a disabled action shows (the first permission missing)."""
    if read_only:
        return READ_ONLY
    if perms is None:
        return "checking the permissions of this context…"
    from console.backends.kubernetes.discovery import Kind  # loaded with the cluster's first connection

    for need in spec.needs:
        missing = perms.missing_for(need.verb, Kind(need.group, "", need.resource, ""), namespace)
        if missing:
            return missing
    return None
