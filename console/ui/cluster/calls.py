"""The cluster actions' work, run on TaskRunner workers (no Qt): ask the permissions, preview an
action from the objects as they are now, send it as actions.py does and write the audit event.

Imported when a Kubernetes action is first used (it loads the `kubernetes` client)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from console.backends.base import BackendError, NotSupported
from console.backends.engine import actor as local_actor
from console.backends.kubernetes import actions as ka
from console.backends.kubernetes.backend import KubernetesBackend
from console.backends.kubernetes.permissions import Permission, Permissions, review
from console.backends.kubernetes.routes_patch import ActionRecord, read_object
from console.backends.kubernetes.wording import failure_outcome
from console.ui.cluster.spec import ASKED, PROXY_CREATE, ActionSpec, Target

AUDIT_ACTION = {"deployment-rollback": "rollout-undo", "argo-abort": "rollout-abort",
                "argo-promote": "rollout-promote", "argo-promote-full": "rollout-promote-full",
                "argo-undo": "rollout-undo", "flagger-rollback": "canary-rollback"}
FLAGGER_PHASES = ("Progressing", "Waiting", "WaitingPromotion")


@dataclass(frozen=True)
class Plan:
    """What the confirmation dialog shows, and what the send needs."""

    spec: ActionSpec
    target: Target
    context: str
    heading: str
    rows: tuple[tuple[str, str, str], ...]  # (field, now, after)
    sends: str  # the exact request, as the tool sends it
    command: str  # the same change from a terminal
    reason: str  # prefilled
    problem: str = ""  # why it cannot be done now (the confirm button stays disabled)
    payload: Any = None  # RollbackPreview, or the object as read
    before: Any = None  # for a failure's audit event
    after: Any = None


@dataclass(frozen=True)
class Sent:
    record: ActionRecord
    audit_seq: int | None
    audit_error: str = ""


def _backend(backend: Any) -> KubernetesBackend:
    if not isinstance(backend, KubernetesBackend):
        raise NotSupported("cluster actions need a Kubernetes place")
    return backend


def ask_permissions(backend: Any, namespaces: tuple[str, ...]) -> Permissions:
    """SelfSubjectAccessReviews for every permission the actions use, in each namespace."""
    kb = _backend(backend)
    asked = [Permission(n.verb, n.group, n.resource, ns) for ns in namespaces for n in ASKED]
    return review(kb.connection(), asked, kb.read_only)


# ------------------------------------------------------------------------------------------- previews


def preview(backend: Any, spec: ActionSpec, target: Target) -> Plan:
    kb = _backend(backend)
    conn = kb.connection()
    if spec.id == "deployment-rollback":
        return _deployment_plan(conn.api, conn.context, spec, target)
    if spec.id == "flagger-rollback":
        return _canary_plan(kb, conn.context, spec, target)
    return _rollout_plan(conn.api, conn.context, spec, target)


def _lines(values: tuple[str, ...] | list[str]) -> str:
    return "\n".join(values) or "—"


def _kubectl(context: str, namespace: str, *words: str) -> str:
    return shlex.join(["kubectl", "--context", context, "-n", namespace, *words])


def _deployment_plan(api: Any, context: str, spec: ActionSpec, target: Target) -> Plan:
    p = ka.preview_deployment_rollback(api, target.namespace, target.name)
    b, a = p.before, p.after
    rows = (("Revision", str(b.revision), f"{a.revision}'s pod template, as revision {b.revision + 1}"),
            ("Images", _lines(b.images), _lines(a.images)),
            ("Model version", b.model_version or "—", a.model_version or "—"),
            ("resourceVersion", p.resource_version, "sent as the precondition (409 if it changed)"))
    sends = (f"JSON patch on deployments.apps {target.namespace}/{target.name}: replace /metadata/resourceVersion "
             f"with {p.resource_version!r} and /spec/template with revision {a.revision}'s pod template "
             "(without pod-template-hash)")
    return Plan(spec, target, context,
                f"Roll <b>{target.what}</b> back from revision {b.revision} to revision {a.revision}'s pod "
                "template, as <code>kubectl rollout undo</code> does. The Deployment controller then rolls the pods.",
                rows, sends, _kubectl(context, target.namespace, "rollout", "undo", f"deployment/{target.name}",
                                      f"--to-revision={a.revision}"),
                f"roll back {target.name} from revision {b.revision} ({b.model_version or _lines(b.images)})",
                payload=p, before=_summary(b), after=_summary(a))


def _summary(s: ka.TemplateSummary) -> dict[str, Any]:
    return {"revision": s.revision, "images": list(s.images), "model_version": s.model_version}


def rollout_state(ro: dict[str, Any]) -> dict[str, str]:
    """Phase, step, canary weight and pause state of an Argo Rollout, as shown."""
    spec, status = ro.get("spec") or {}, ro.get("status") or {}
    steps = ((spec.get("strategy") or {}).get("canary") or {}).get("steps") or []
    index = status.get("currentStepIndex")
    weight = (((status.get("canary") or {}).get("weights") or {}).get("canary") or {}).get("weight")
    pauses = [str(c.get("reason", "")) for c in status.get("pauseConditions") or []]
    return {"Phase": str(status.get("phase") or "—") + (f" ({status['message']})" if status.get("message") else ""),
            "Step": f"{index}/{len(steps)}" if index is not None else "—",
            "Canary weight": f"{weight}%" if weight is not None else "—",
            "spec.paused": str(bool(spec.get("paused"))).lower(),
            "Pause conditions": ", ".join(pauses) or "none",
            "status.abort": str(bool(status.get("abort"))).lower(),
            "status.promoteFull": str(bool(status.get("promoteFull"))).lower()}


def _rollout_plan(api: Any, context: str, spec: ActionSpec, target: Target) -> Plan:
    ro = read_object(api, ka.ROLLOUT, target.namespace, target.name)
    now = rollout_state(ro)
    after = dict(now)
    status = ro.get("status") or {}
    paused = bool(ro["spec"].get("paused"))
    problem = ""
    verb = {"argo-abort": "abort", "argo-promote": "promote", "argo-promote-full": "promote",
            "argo-undo": "undo"}[spec.id]
    words = ["rollouts", verb, target.name]
    obj = f"rollouts.argoproj.io {target.namespace}/{target.name}"
    if spec.id == "argo-abort":
        after.update({"status.abort": "true", "Canary weight": "0% (the controller shifts traffic to stable)"})
        sends = f"merge patch on the status subresource of {obj}: {{\"status\": {{\"abort\": true}}}}"
        heading = "Abort the rollout: the controller scales the canary down and sends all traffic to stable."
    elif spec.id == "argo-promote-full":
        words.append("--full")
        patches = []
        if not status.get("promoteFull"):
            after["status.promoteFull"] = "true"
            patches.append(f"status subresource: {json.dumps({'status': {'promoteFull': True}})}")
        if paused:
            after["spec.paused"] = "false"
            patches.append(f"spec: {json.dumps({'spec': {'paused': False}})}")
        sends = f"merge patches on {obj}: " + (" then ".join(patches) or "none (already promoted fully)")
        heading = "Promote fully: skip the remaining steps and analysis; the canary becomes stable."
        problem = "" if patches else "the rollout is already being promoted fully"
    elif spec.id == "argo-promote":
        steps = ((ro["spec"].get("strategy") or {}).get("canary") or {}).get("steps") or []
        index = status.get("currentStepIndex")
        patches = []
        if status.get("pauseConditions"):
            after["Pause conditions"] = "none"
            patches.append(f"status subresource: {json.dumps({'status': {'pauseConditions': None}})}")
        elif index is not None and int(index) < len(steps):
            after["Step"] = f"{int(index) + 1}/{len(steps)}"
            patches.append(f"status subresource: {json.dumps({'status': {'currentStepIndex': int(index) + 1}})}")
        if paused:
            after["spec.paused"] = "false"
            patches.append(f"spec: {json.dumps({'spec': {'paused': False}})}")
        sends = f"merge patches on {obj}: " + (" then ".join(patches) or "none")
        heading = "Promote: go on to the next step of the rollout (a pause is ended)."
        problem = "" if patches else "the rollout is not paused and has no further step: nothing to promote"
    else:
        undo = _undo_target(api, ro, target)
        after.update({"Revision": undo[1]["revision"], "Images": undo[1]["images"]})
        now.update({"Revision": undo[0]["revision"], "Images": undo[0]["images"]})
        sends = (f"merge patch on {obj}: metadata.resourceVersion {ro['metadata']['resourceVersion']!r} "
                 f"(precondition) and spec.template = revision {undo[1]['revision']}'s pod template "
                 "(without rollouts-pod-template-hash)")
        heading = "Undo: the previous revision's pod template goes back into the Rollout; it rolls out as a new one."
    rows = tuple((key, now.get(key, "—"), after.get(key, "—")) for key in dict.fromkeys([*now, *after]))
    command = shlex.join(["kubectl", "argo", *words, "-n", target.namespace, "--context", context])
    return Plan(spec, target, context, f"<b>{target.what}</b>: {heading}", rows, sends, command,
                f"{verb} {target.name} at step {now['Step']}", problem, payload=ro,
                before={k: now[k] for k in now}, after={k: after[k] for k in after})


def _undo_target(api: Any, ro: dict[str, Any], target: Target) -> tuple[dict[str, str], dict[str, str]]:
    """(now, after) revision and images of `kubectl argo rollouts undo`, as actions.argo_undo picks them."""
    owned = ka._owned_replicasets(api, target.namespace, ro["metadata"]["uid"])
    pod_hash = (ro.get("status") or {}).get("currentPodHash")
    revisions = [(ka._revision(rs, ka.ROLLOUT_REVISION), rs) for rs in owned]
    current = max((r for r, rs in revisions if (rs["metadata"].get("labels") or {})
                   .get("rollouts-pod-template-hash") == pod_hash), default=0) or max((r for r, _ in revisions),
                                                                                     default=0)
    previous = ka._previous(owned, ka.ROLLOUT_REVISION, current, None, target.what)
    before = ka.summarise(ro["spec"]["template"], current)
    after = ka.summarise(previous["spec"]["template"], ka._revision(previous, ka.ROLLOUT_REVISION))
    return ({"revision": str(before.revision), "images": _lines(before.images)},
            {"revision": str(after.revision), "images": _lines(after.images)})


def _canary_plan(kb: KubernetesBackend, context: str, spec: ActionSpec, target: Target) -> Plan:
    conn = kb.connection()
    canary = read_object(conn.api, ka.CANARY, target.namespace, target.name)
    status = canary.get("status") or {}
    phase = str(status.get("phase") or "—")
    rows = (("Phase", phase, "Failed (at Flagger's next check)"),
            ("Canary weight", f"{status.get('canaryWeight', 0)}%", "0% (all traffic to the primary)"),
            ("Failed checks", str(status.get("failedChecks", 0)), ""),
            ("Iterations", str(status.get("iterations", 0)), ""))
    problem = sends = ""
    try:
        gate_ns, service, port, path = ka.flagger_rollback_gate(canary)
        sends = (f"POST {json.dumps({'name': target.name, 'namespace': target.namespace})} to "
                 f"/api/v1/namespaces/{gate_ns}/services/{service}:{port}/proxy{path} (the loadtester's rollback "
                 "gate, through the API server's service proxy)")
        if not kb.read_only:
            allowed = review(conn, [Permission(PROXY_CREATE.verb, "", PROXY_CREATE.resource, gate_ns)])
            problem = allowed.missing_for(PROXY_CREATE.verb, _kind(PROXY_CREATE.resource), gate_ns) or ""
    except NotSupported as exc:
        problem = str(exc)
    if phase not in FLAGGER_PHASES and not problem:
        problem = (f"{target.what} is {phase}; Flagger only rolls back a canary that is Progressing or Waiting "
                   "(its rollback hooks run only then)")
    return Plan(spec, target, context,
                f"Roll back <b>{target.what}</b>: open its <code>rollback</code> webhook gate; Flagger stops the "
                "analysis, marks the canary failed and routes all traffic back to the primary.",
                rows, sends or "nothing: no rollback gate to open", "", f"roll back canary {target.name} ({phase})",
                problem, payload=canary, before={"phase": phase}, after={"rollback_gate": "open"})


def _kind(resource: str) -> Any:
    from console.backends.kubernetes.discovery import Kind

    return Kind("", "", resource, "")


# ------------------------------------------------------------------------------------------- send


def send(backend: Any, plan: Plan, reason: str) -> Sent:
    """Make the change as the tool does, then write the audit event. A failure is recorded too, then
    raised (a Conflict carries the object as it is now)."""
    kb = _backend(backend)
    api, t, actor = kb.connection().api, plan.target, local_actor()
    # the place id, as the console's other cluster actions record it (its history view reads by place)
    common: dict[str, Any] = {"actor": actor, "reason": reason, "cluster": kb.place_id}
    try:
        if plan.spec.id == "deployment-rollback":
            record = ka.rollback_deployment(api, t.namespace, t.name, preview=plan.payload, **common)
        elif plan.spec.id == "argo-abort":
            record = ka.argo_abort(api, t.namespace, t.name, **common)
        elif plan.spec.id in ("argo-promote", "argo-promote-full"):
            record = ka.argo_promote(api, t.namespace, t.name, full=plan.spec.id == "argo-promote-full",
                                     read=plan.payload, **common)
        elif plan.spec.id == "argo-undo":
            record = ka.argo_undo(api, t.namespace, t.name, read=plan.payload, **common)
        else:
            record = ka.flagger_rollback(api, t.namespace, t.name, **common)
    except BackendError as exc:
        failed = ActionRecord(cluster=kb.place_id, namespace=t.namespace, kind=t.kind, name=t.name,
                              action=AUDIT_ACTION[plan.spec.id], actor=actor, reason=reason, before=plan.before,
                              after=plan.after, confirmation=failure_outcome(exc))
        _audit(kb, failed, t)
        raise
    seq, error = _audit(kb, record, t)
    return Sent(record, seq, error)


def _audit(kb: KubernetesBackend, record: ActionRecord, t: Target) -> tuple[int | None, str]:
    try:
        event = kb.record(record, endpoint=t.endpoint, deployment=t.deployment, identity=kb.context_user() or None)
    except Exception as exc:  # the change is made: say the audit failed, never hide the change
        return None, f"the audit event was not written: {exc}"
    return (event.seq if event is not None else None), ""
