"""Rollbacks and rollout controls, each done the way the owning tool does it.

- Deployment: `kubectl rollout undo` semantics: the Deployment's own ReplicaSets (ownerReferences), the previous
  one by `deployment.kubernetes.io/revision`, its pod template without `pod-template-hash` copied into the
  Deployment (JSON patch carrying the resourceVersion read: 409 → Conflict). Refused while `spec.paused`.
- Argo Rollouts (what `kubectl argo rollouts` sends): abort = `status.abort: true` on the status subresource;
  promote = `spec.paused: false` and `status.pauseConditions: null` (full: `status.promoteFull: true`);
  undo = the previous ReplicaSet's template by `rollout.argoproj.io/revision`, minus `rollouts-pod-template-hash`.
- Flagger: the documented manual rollback is a `rollback` webhook gate (https://docs.flagger.app/usage/webhooks:
  "rollback hooks are executed while a canary deployment is in either Progressing or Waiting status... If a
  rollback hook returns a successful HTTP status code, Flagger will stop the analysis and mark the canary release
  as failed"); with the flagger-loadtester gate (`.../rollback/check`) the console opens it by POSTing
  {"name","namespace"} to `/rollback/open` through the API server's service proxy.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from console.backends.base import Conflict, Invalid, NotFound, NotSupported
from console.backends.kubernetes.routes_patch import (
    TIMEOUT_S,
    ActionRecord,
    RouteKind,
    api_error,
    patch_object,
    read_object,
)

DEPLOY_REVISION = "deployment.kubernetes.io/revision"
ROLLOUT_REVISION = "rollout.argoproj.io/revision"
ROLLOUT = RouteKind("Rollout", "argoproj.io", "v1alpha1", "rollouts")
CANARY = RouteKind("Canary", "flagger.app", "v1beta1", "canaries")
MODEL_VERSION_ENV = ("MODEL_VERSION", "MODEL_REVISION")
MODEL_VERSION_LABELS = ("switchboard.dev/model-version", "app.kubernetes.io/version", "model-version", "version")
_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


@dataclass(frozen=True)
class TemplateSummary:
    revision: int
    images: tuple[str, ...]
    model_version: str


@dataclass(frozen=True)
class RollbackPreview:
    kind: str
    namespace: str
    name: str
    resource_version: str
    before: TemplateSummary
    after: TemplateSummary
    template: dict[str, Any]  # what will be written


def summarise(template: dict[str, Any], revision: int) -> TemplateSummary:
    """Images and model version of a pod template: a MODEL_VERSION env, a version label, or the image tag."""
    containers = (template.get("spec") or {}).get("containers") or []
    images = tuple(str(c.get("image", "")) for c in containers)
    version = ""
    for container in containers:
        for env in container.get("env") or []:
            if env.get("name") in MODEL_VERSION_ENV and env.get("value"):
                version = str(env["value"])
    labels = (template.get("metadata") or {}).get("labels") or {}
    version = version or next((str(labels[k]) for k in MODEL_VERSION_LABELS if labels.get(k)), "")
    if not version and images:
        tail = images[0].rsplit("/", 1)[-1]
        version = tail.split("@", 1)[0].rsplit(":", 1)[1] if ":" in tail.split("@", 1)[0] else ""
    return TemplateSummary(revision, images, version)


def _revision(obj: Any, key: str) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(key, "0"))
    except ValueError:
        return 0


def _owned_replicasets(api: client.ApiClient, namespace: str, owner_uid: str) -> list[dict[str, Any]]:
    try:
        apps: Any = client.AppsV1Api(api)
        listed = apps.list_namespaced_replica_set(namespace, _request_timeout=TIMEOUT_S)
    except _ERRORS as exc:
        raise api_error(exc, f"listing ReplicaSets in {namespace}") from exc
    out = []
    for rs in listed.items:
        if any(ref.uid == owner_uid for ref in rs.metadata.owner_references or []):
            out.append(_plain(api, rs))
    return out


def _previous(owned: list[dict[str, Any]], key: str, current: int, to_revision: int | None,
              what: str) -> dict[str, Any]:
    by_revision = {_revision(rs, key): rs for rs in owned}
    if to_revision:
        if to_revision not in by_revision:
            raise NotFound(f"{what} has no revision {to_revision} (known: {sorted(by_revision)})")
        return by_revision[to_revision]
    earlier = [r for r in by_revision if r < current]
    if not earlier:
        raise NotFound(f"{what} has no previous revision to roll back to (only revision {current})")
    return by_revision[max(earlier)]


def _template_of(rs: dict[str, Any], hash_label: str) -> dict[str, Any]:
    template: dict[str, Any] = copy.deepcopy(rs["spec"]["template"])
    (template.setdefault("metadata", {}).get("labels") or {}).pop(hash_label, None)
    return template


def _plain(api: client.ApiClient, model: Any) -> dict[str, Any]:
    loose: Any = api
    out: dict[str, Any] = loose.sanitize_for_serialization(model)
    return out


def _read_deployment(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    try:
        apps: Any = client.AppsV1Api(api)
        dep = apps.read_namespaced_deployment(name, namespace, _request_timeout=TIMEOUT_S)
    except _ERRORS as exc:
        raise api_error(exc, f"reading Deployment {namespace}/{name}") from exc
    return _plain(api, dep)


def preview_deployment_rollback(api: client.ApiClient, namespace: str, name: str,
                                to_revision: int | None = None) -> RollbackPreview:
    """What `rollout undo` would do: images and model version now and after (raises when it cannot)."""
    dep = _read_deployment(api, namespace, name)
    what = f"Deployment {namespace}/{name}"
    if dep["spec"].get("paused"):
        raise Invalid(f"{what} is paused; resume it before rolling back (kubectl rollout resume), as "
                      "`kubectl rollout undo` refuses a paused Deployment")
    current = _revision(dep, DEPLOY_REVISION)
    target = _previous(_owned_replicasets(api, namespace, dep["metadata"]["uid"]), DEPLOY_REVISION, current,
                       to_revision, what)
    template = _template_of(target, "pod-template-hash")
    return RollbackPreview("Deployment", namespace, name, dep["metadata"]["resourceVersion"],
                           summarise(dep["spec"]["template"], current),
                           summarise(template, _revision(target, DEPLOY_REVISION)), template)


def rollback_deployment(api: client.ApiClient, namespace: str, name: str, *, actor: str, reason: str,
                        preview: RollbackPreview | None = None, to_revision: int | None = None,
                        cluster: str = "") -> ActionRecord:
    """Write the previous ReplicaSet's template into the Deployment, with the resourceVersion the preview read
    (409 → Conflict with the Deployment now); the controller then rolls to that ReplicaSet."""
    plan = preview or preview_deployment_rollback(api, namespace, name, to_revision)
    ops = [{"op": "replace", "path": "/metadata/resourceVersion", "value": plan.resource_version},
           {"op": "replace", "path": "/spec/template", "value": plan.template}]
    try:
        apps: Any = client.AppsV1Api(api)
        done = apps.patch_namespaced_deployment(name, namespace, ops, _request_timeout=TIMEOUT_S)
    except _ERRORS as exc:
        raise api_error(exc, f"rolling back Deployment {namespace}/{name}",
                        lambda: _read_deployment(api, namespace, name)) from exc
    return ActionRecord(cluster=cluster, namespace=namespace, kind="Deployment", name=name, action="rollout-undo",
                        actor=actor, reason=reason, before=_summary_dict(plan.before),
                        after=_summary_dict(plan.after), resource_version=done.metadata.resource_version,
                        generation=int(done.metadata.generation or 0),
                        confirmation="accepted by the API server; the Deployment controller rolls the pods")


def _summary_dict(summary: TemplateSummary) -> dict[str, Any]:
    return {"revision": summary.revision, "images": list(summary.images), "model_version": summary.model_version}


# ------------------------------------------------------------------------------------------- Argo Rollouts


def _rollout_state(ro: dict[str, Any]) -> dict[str, Any]:
    status = ro.get("status") or {}
    return {"phase": status.get("phase"), "step": status.get("currentStepIndex"), "abort": bool(status.get("abort")),
            "paused": bool(ro["spec"].get("paused")), "pauseConditions": len(status.get("pauseConditions") or []),
            "promoteFull": bool(status.get("promoteFull"))}


def _record(ro: dict[str, Any], done: dict[str, Any], action: str, actor: str, reason: str, cluster: str,
            note: str) -> ActionRecord:
    meta = done["metadata"]
    return ActionRecord(cluster=cluster, namespace=meta["namespace"], kind=done.get("kind", "Rollout"),
                        name=meta["name"], action=action, actor=actor, reason=reason, before=_rollout_state(ro),
                        after=_rollout_state(done), resource_version=meta["resourceVersion"],
                        generation=int(meta.get("generation", 0)), confirmation=note)


def argo_abort(api: client.ApiClient, namespace: str, name: str, *, actor: str, reason: str,
               cluster: str = "") -> ActionRecord:
    """`kubectl argo rollouts abort`: `status.abort: true` through the status subresource (no precondition, as
    the plugin: the controller writes status continuously)."""
    ro = read_object(api, ROLLOUT, namespace, name)
    done = patch_object(api, ROLLOUT, namespace, name, {"status": {"abort": True}}, status=True)
    return _record(ro, done, "rollout-abort", actor, reason, cluster,
                   "accepted by the API server; the Argo Rollouts controller shifts traffic back to stable")


def argo_promote(api: client.ApiClient, namespace: str, name: str, *, actor: str, reason: str, full: bool = False,
                 cluster: str = "", read: dict[str, Any] | None = None) -> ActionRecord:
    """`kubectl argo rollouts promote [--full]`: unpause the spec, clear pause conditions (or, with no pause
    condition on a canary, go to the next step); `--full` sets `status.promoteFull: true`. `read`: the Rollout as
    the person previewed it; if its phase, step or weight moved on since, Conflict (nothing is sent)."""
    ro = read_object(api, ROLLOUT, namespace, name)
    if read is not None and _rollout_state(read) != _rollout_state(ro):
        raise Conflict(f"Rollout {namespace}/{name} moved on since the preview: it is now {_rollout_state(ro)}",
                       current=ro)
    status = ro.get("status") or {}
    status_patch: dict[str, Any] = {}
    if full:
        if not status.get("promoteFull"):
            status_patch["promoteFull"] = True
    elif status.get("pauseConditions"):
        status_patch["pauseConditions"] = None
    else:
        steps = ((ro["spec"].get("strategy") or {}).get("canary") or {}).get("steps") or []
        index = status.get("currentStepIndex")
        if index is not None and int(index) < len(steps):
            status_patch["currentStepIndex"] = int(index) + 1
    done = ro
    if status_patch:
        done = patch_object(api, ROLLOUT, namespace, name, {"status": status_patch}, status=True)
    if ro["spec"].get("paused"):
        done = patch_object(api, ROLLOUT, namespace, name, {"spec": {"paused": False}})
    return _record(ro, done, "rollout-promote-full" if full else "rollout-promote", actor, reason, cluster,
                   "accepted by the API server; the Argo Rollouts controller continues the rollout")


def argo_undo(api: client.ApiClient, namespace: str, name: str, *, actor: str, reason: str,
              to_revision: int | None = None, cluster: str = "", read: dict[str, Any] | None = None) -> ActionRecord:
    """`kubectl argo rollouts undo`: the previous ReplicaSet's template (by rollout.argoproj.io/revision) into
    the Rollout's spec.template, with the resourceVersion read (`read`: as the person previewed it)."""
    ro = read if read is not None else read_object(api, ROLLOUT, namespace, name)
    what = f"Rollout {namespace}/{name}"
    owned = _owned_replicasets(api, namespace, ro["metadata"]["uid"])
    current = max((_revision(rs, ROLLOUT_REVISION) for rs in owned
                   if (rs["metadata"].get("labels") or {}).get("rollouts-pod-template-hash")
                   == (ro.get("status") or {}).get("currentPodHash")), default=0) or \
        max((_revision(rs, ROLLOUT_REVISION) for rs in owned), default=0)
    target = _previous(owned, ROLLOUT_REVISION, current, to_revision, what)
    template = _template_of(target, "rollouts-pod-template-hash")
    body = {"metadata": {"resourceVersion": ro["metadata"]["resourceVersion"]}, "spec": {"template": template}}
    before = summarise(ro["spec"]["template"], current)
    done = patch_object(api, ROLLOUT, namespace, name, body)
    return ActionRecord(cluster=cluster, namespace=namespace, kind="Rollout", name=name, action="rollout-undo",
                        actor=actor, reason=reason, before=_summary_dict(before),
                        after=_summary_dict(summarise(template, _revision(target, ROLLOUT_REVISION))),
                        resource_version=done["metadata"]["resourceVersion"],
                        generation=int(done["metadata"].get("generation", 0)),
                        confirmation="accepted by the API server; the Argo Rollouts controller rolls the pods")


# ------------------------------------------------------------------------------------------- Flagger


def flagger_rollback_gate(canary: dict[str, Any]) -> tuple[str, str, str, str]:
    """(namespace, service, port, path) of the canary's `rollback` webhook gate, e.g.
    http://flagger-loadtester.test/rollback/check → ("test", "flagger-loadtester", "80", "/rollback/open")."""
    meta = canary["metadata"]
    hooks = ((canary.get("spec") or {}).get("analysis") or {}).get("webhooks") or []
    hook = next((h for h in hooks if h.get("type") == "rollback"), None)
    if hook is None:
        raise NotSupported(f"Canary {meta['namespace']}/{meta['name']} has no `rollback` webhook; Flagger's "
                           "documented manual rollback needs one (see docs.flagger.app/usage/webhooks, Manual Gating)")
    url = urlsplit(str(hook.get("url", "")))
    host = url.hostname or ""
    parts = host.split(".")
    if not url.path.endswith("/rollback/check") or not parts[0]:
        raise NotSupported(f"the rollback webhook {hook.get('url')!r} is not a flagger-loadtester gate "
                           "(…/rollback/check); open it the way its service documents")
    namespace = parts[1] if len(parts) > 1 and parts[1] != "svc" else meta["namespace"]
    port = str(url.port or (443 if url.scheme == "https" else 80))
    return namespace, parts[0], port, url.path.removesuffix("/check") + "/open"


def flagger_rollback(api: client.ApiClient, namespace: str, name: str, *, actor: str, reason: str,
                     cluster: str = "") -> ActionRecord:
    """Open the canary's rollback gate through the API server's service proxy; Flagger then marks the canary
    failed and routes all traffic back to the primary."""
    canary = read_object(api, CANARY, namespace, name)
    phase = (canary.get("status") or {}).get("phase")
    if phase not in ("Progressing", "Waiting", "WaitingPromotion"):
        raise Conflict(f"Canary {namespace}/{name} is {phase}; Flagger only rolls back a canary that is "
                       "Progressing or Waiting", current=canary)
    gate_ns, service, port, path = flagger_rollback_gate(canary)
    try:
        loose: Any = api
        request = loose.param_serialize(
            "POST", "/api/v1/namespaces/{namespace}/services/{name}/proxy" + path,
            path_params={"namespace": gate_ns, "name": f"{service}:{port}"},
            header_params={"Content-Type": "application/json", "Accept": "*/*"},
            body={"name": name, "namespace": namespace}, auth_settings=["BearerToken"])
        answer = loose.call_api(*request, _request_timeout=TIMEOUT_S)
        answer.read()
        if not 200 <= answer.status < 300:
            raise ApiException(http_resp=answer)
    except _ERRORS as exc:
        raise api_error(exc, f"opening Flagger's rollback gate {service}.{gate_ns}{path}") from exc
    return ActionRecord(cluster=cluster, namespace=namespace, kind="Canary", name=name, action="canary-rollback",
                        actor=actor, reason=reason, before={"phase": phase}, after={"rollback_gate": "open"},
                        resource_version=canary["metadata"]["resourceVersion"],
                        confirmation="rollback gate opened; Flagger marks the canary failed at its next check")
