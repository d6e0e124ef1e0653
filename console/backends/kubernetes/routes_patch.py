"""Traffic shifts on the route objects teams already run: Gateway API HTTPRoute backendRef weights, Istio
VirtualService route weights (and mirrorPercentage), KServe InferenceService `canaryTrafficPercent`.

Every patch carries the resourceVersion that was read (`metadata.resourceVersion` in a merge patch is a
precondition on the API server), so a concurrent change gets 409 and `Conflict(current=<the object now>)`,
never a silent overwrite. The same patch appends the change to the history annotation (history.py).
Functions take a `kubernetes.client.ApiClient`; they are synchronous and meant for worker threads.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client
from kubernetes import watch as _watch_module
from kubernetes.client.exceptions import ApiException

from console.backends.base import BackendError, Conflict, Forbidden, Invalid, NotFound, Unauthorized, Unreachable
from console.backends.kubernetes.wording import CONFIRMED, NOT_CONFIRMED

TIMEOUT_S = 15.0  # every request to the API server
_watch: Any = _watch_module  # the client's watch helper is untyped


@dataclass(frozen=True)
class RouteKind:
    kind: str
    group: str
    version: str
    plural: str


HTTPROUTE = RouteKind("HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes")
VIRTUALSERVICE = RouteKind("VirtualService", "networking.istio.io", "v1", "virtualservices")
INFERENCESERVICE = RouteKind("InferenceService", "serving.kserve.io", "v1beta1", "inferenceservices")
ROUTE_KINDS = {k.kind: k for k in (HTTPROUTE, VIRTUALSERVICE, INFERENCESERVICE)}


@dataclass(frozen=True)
class ActionRecord:
    """One mutation, for the console's audit log: where, what before and after, who and why."""

    cluster: str
    namespace: str
    kind: str
    name: str
    action: str
    actor: str
    reason: str
    before: Any
    after: Any
    resource_version: str = ""  # the object's resourceVersion after the change
    generation: int = 0
    confirmation: str = NOT_CONFIRMED
    detail: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------- errors


def api_error(exc: BaseException, what: str, current: Callable[[], Any] | None = None) -> BackendError:
    """A client exception as a typed error, keeping the API server's own message (its Status body)."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, ApiException):
        message = exc.reason or ""
        try:
            body = json.loads(exc.body or b"")
            message = str(body.get("message") or message)
        except (ValueError, TypeError, AttributeError):
            pass
        text = f"{what}: HTTP {exc.status}: {message}"
        if exc.status == 401:
            return Unauthorized(f"{text} (token missing, expired or refused)")
        if exc.status == 403:
            return Forbidden(text)
        if exc.status == 404:
            return NotFound(text)
        if exc.status in (409, 412):
            now = None
            if current is not None:
                try:
                    now = current()
                except (ApiException, urllib3.exceptions.HTTPError):
                    now = None
            return Conflict(text, current=now)
        if exc.status in (400, 415, 422):
            return Invalid(text)
        return Unreachable(text, kind="protocol")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return Unreachable(f"{what}: {exc.__class__.__name__}: {exc}")
    return Unreachable(f"{what}: {exc}")


def custom(api: client.ApiClient) -> Any:
    """CustomObjectsApi, typed loosely: custom objects are plain dicts."""
    return client.CustomObjectsApi(api)


def read_object(api: client.ApiClient, rk: RouteKind, namespace: str, name: str) -> dict[str, Any]:
    try:
        obj: dict[str, Any] = custom(api).get_namespaced_custom_object(
            rk.group, rk.version, namespace, rk.plural, name, _request_timeout=TIMEOUT_S)
        return obj
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise api_error(exc, f"reading {rk.kind} {namespace}/{name}") from exc


def patch_object(api: client.ApiClient, rk: RouteKind, namespace: str, name: str, body: Any,
                 status: bool = False) -> dict[str, Any]:
    """A merge patch (a JSON-patch when `body` is a list); a 409 carries the object as it is now."""
    api_ = custom(api)
    call = api_.patch_namespaced_custom_object_status if status else api_.patch_namespaced_custom_object
    try:
        obj: dict[str, Any] = call(rk.group, rk.version, namespace, rk.plural, name, body,
                                   _request_timeout=TIMEOUT_S)
        return obj
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise api_error(exc, f"patching {rk.kind} {namespace}/{name}",
                        lambda: read_object(api, rk, namespace, name)) from exc


# ------------------------------------------------------------------------------------------- splits


def _percent(weights: dict[str, int]) -> dict[str, int]:
    total = sum(weights.values())
    if total <= 0:
        return dict.fromkeys(weights, 0)
    shares = {k: round(100 * w / total) for k, w in weights.items()}
    drift = 100 - sum(shares.values())
    if drift and shares:  # keep the sum at 100: the largest share absorbs rounding
        top = max(shares, key=lambda k: shares[k])
        shares[top] += drift
    return shares


def _vs_key(destination: dict[str, Any]) -> str:
    return str(destination.get("subset") or destination.get("host", ""))


def _isvc_names(obj: dict[str, Any]) -> tuple[str, str]:
    predictor = ((obj.get("status") or {}).get("components") or {}).get("predictor") or {}
    latest = predictor.get("latestReadyRevision") or predictor.get("latestCreatedRevision") or "latest"
    previous = predictor.get("previousRolledoutRevision") or predictor.get("latestRolledoutRevision") or "previous"
    return str(latest), str(previous) if previous != latest else "previous"


def split_of(kind: str, obj: dict[str, Any]) -> dict[str, int]:
    """The live split in percent (summing to 100) keyed by Service name (HTTPRoute), destination subset or host
    (VirtualService) or predictor revision (InferenceService: latest ready gets canaryTrafficPercent)."""
    spec = obj.get("spec") or {}
    weights: dict[str, int] = {}
    if kind == "HTTPRoute":
        for rule in spec.get("rules") or []:
            refs = rule.get("backendRefs") or []
            for ref in refs:
                weights.setdefault(str(ref["name"]), int(ref.get("weight", 1)))
            if refs:
                break
    elif kind == "VirtualService":
        for http in spec.get("http") or []:
            routes = http.get("route") or []
            for dest in routes:
                weights.setdefault(_vs_key(dest["destination"]), int(dest.get("weight", 100 if len(routes) == 1
                                                                                    else 0)))
            if routes:
                break
    elif kind == "InferenceService":
        latest, previous = _isvc_names(obj)
        canary = (spec.get("predictor") or {}).get("canaryTrafficPercent")
        return {latest: 100} if canary is None else {latest: int(canary), previous: 100 - int(canary)}
    else:
        raise Invalid(f"{kind} has no traffic split the console can change")
    return _percent(weights)


def mirror_percent_of(obj: dict[str, Any]) -> float | None:
    for http in (obj.get("spec") or {}).get("http") or []:
        if http.get("mirror"):
            return float((http.get("mirrorPercentage") or {}).get("value", 100.0))
    return None


def check_split(split: dict[str, Any], known: dict[str, int]) -> dict[str, int]:
    """`split` as whole percents summing to 100 over exactly the route's backends; else Invalid naming why."""
    out: dict[str, int] = {}
    for key, value in split.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise Invalid(f"weight of {key!r} must be a whole percent, got {value!r}")
        if not 0 <= value <= 100:
            raise Invalid(f"weight of {key!r} must be between 0 and 100, got {value}")
        out[str(key)] = int(value)
    unknown = sorted(set(out) - set(known))
    if unknown:
        raise Invalid(f"not a backend of this route: {', '.join(unknown)} (backends: {', '.join(sorted(known))})")
    missing = sorted(set(known) - set(out))
    if missing:
        raise Invalid(f"the split must name every backend; missing: {', '.join(missing)}")
    if sum(out.values()) != 100:
        raise Invalid(f"weights must sum to 100, got {sum(out.values())}")
    return out


def spec_patch(kind: str, obj: dict[str, Any], split: dict[str, int],
               mirror_percent: float | None = None) -> dict[str, Any]:
    """The `spec` part of a merge patch setting `split` (lists are replaced whole by a merge patch)."""
    spec = copy.deepcopy(obj.get("spec") or {})
    if kind == "HTTPRoute":
        for rule in spec.get("rules") or []:
            for ref in rule.get("backendRefs") or []:
                if ref["name"] in split:
                    ref["weight"] = split[ref["name"]]
        return {"rules": spec.get("rules") or []}
    if kind == "VirtualService":
        for http in spec.get("http") or []:
            for dest in http.get("route") or []:
                key = _vs_key(dest["destination"])
                if key in split:
                    dest["weight"] = split[key]
            if mirror_percent is not None and http.get("mirror"):
                http["mirrorPercentage"] = {"value": float(mirror_percent)}
        return {"http": spec.get("http") or []}
    latest, _previous = _isvc_names(obj)
    return {"predictor": {"canaryTrafficPercent": split[latest]}}


# ------------------------------------------------------------------------------------------- shift


def shift_traffic(api: client.ApiClient, kind: str, namespace: str, name: str, split: dict[str, Any], *,
                  actor: str, reason: str, read: dict[str, Any] | None = None, mirror_percent: float | None = None,
                  cluster: str = "", action: str = "traffic-shift", extra_annotations: dict[str, Any] | None = None,
                  history_limit: int | None = None, now: float | None = None) -> ActionRecord:
    """Set the route's split (whole percents summing to 100). `read`: the object as the person saw it; its
    resourceVersion is the precondition (read now when absent). Raises Conflict(current=...) on 409."""
    from console.backends.kubernetes import history

    if kind not in ROUTE_KINDS:
        raise Invalid(f"traffic shifts are supported on {', '.join(ROUTE_KINDS)}, not {kind}")
    if not actor:
        raise Invalid("a traffic shift needs an actor (who is making it)")
    rk = ROUTE_KINDS[kind]
    obj = read if read is not None else read_object(api, rk, namespace, name)
    before = split_of(kind, obj)
    after = check_split(split, before)
    if mirror_percent is not None:
        if kind != "VirtualService" or mirror_percent_of(obj) is None:
            raise Invalid("mirrorPercentage can only be set on a VirtualService route that mirrors")
        if not 0 <= mirror_percent <= 100:
            raise Invalid(f"mirror percentage must be between 0 and 100, got {mirror_percent}")
    moment = time.time() if now is None else now
    entries = history.appended(obj, after, actor=actor, reason=reason, now=moment,
                               limit=history_limit or history.HISTORY_LIMIT)
    annotations: dict[str, Any] = {history.HISTORY_ANNOTATION: json.dumps(entries, separators=(",", ":")),
                                   **(extra_annotations or {})}
    body = {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"], "annotations": annotations},
            "spec": spec_patch(kind, obj, after, mirror_percent)}
    done = patch_object(api, rk, namespace, name, body)
    return ActionRecord(cluster=cluster, namespace=namespace, kind=kind, name=name, action=action, actor=actor,
                        reason=reason, before=before, after=split_of(kind, done),
                        resource_version=done["metadata"]["resourceVersion"],
                        generation=int(done["metadata"].get("generation", 0)),
                        confirmation=NOT_CONFIRMED if kind != "HTTPRoute" else "waiting for the gateways",
                        detail={"revision": entries[-1]["revision"],
                                **({"mirror_percent": mirror_percent} if mirror_percent is not None else {})})


# ------------------------------------------------------------------------------------------- applied?


def httproute_applied(route: dict[str, Any], generation: int | None = None) -> bool:
    """Every parent's status reports `generation` (default: the route's) accepted: Accepted True with
    observedGeneration >= generation. A route no parent has reported on is not applied."""
    want = int(generation if generation is not None else route["metadata"].get("generation", 0))
    parents = ((route.get("status") or {}).get("parents")) or []
    if not parents:
        return False
    for parent in parents:
        accepted = next((c for c in parent.get("conditions") or [] if c.get("type") == "Accepted"), None)
        if accepted is None or accepted.get("status") != "True" or int(accepted.get("observedGeneration", 0)) < want:
            return False
    return True


def wait_httproute_applied(api: client.ApiClient, namespace: str, name: str, generation: int,
                           timeout_s: float = 30.0, resource_version: str = "") -> bool:
    """Watch the route (from `resource_version`, or a fresh read) until every parent accepted `generation`;
    False when `timeout_s` passes first. Bounded: the watch's own timeout ends it."""
    deadline = time.monotonic() + timeout_s
    route = read_object(api, HTTPROUTE, namespace, name)
    if httproute_applied(route, generation):
        return True
    rv = route["metadata"]["resourceVersion"] or resource_version
    api_ = custom(api)
    while (left := deadline - time.monotonic()) > 0:
        w: Any = _watch.Watch()
        try:
            for event in w.stream(api_.list_namespaced_custom_object, HTTPROUTE.group, HTTPROUTE.version, namespace,
                                  HTTPROUTE.plural, field_selector=f"metadata.name={name}", resource_version=rv,
                                  timeout_seconds=max(1, int(left + 0.999)), _request_timeout=left + 5):
                obj = event["object"]
                rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                if event["type"] in ("ADDED", "MODIFIED") and httproute_applied(obj, generation):
                    w.stop()
                    return True
                if event["type"] == "DELETED":
                    raise NotFound(f"HTTPRoute {namespace}/{name} was deleted while waiting for the gateways")
                if time.monotonic() >= deadline:
                    w.stop()
                    break
        except ApiException as exc:
            if exc.status != 410:
                raise api_error(exc, f"watching HTTPRoute {namespace}/{name}") from exc
            route = read_object(api, HTTPROUTE, namespace, name)  # 410 Gone: relist, then watch on
            if httproute_applied(route, generation):
                return True
            rv = route["metadata"]["resourceVersion"]
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise api_error(exc, f"watching HTTPRoute {namespace}/{name}") from exc
    return False


def confirm(api: client.ApiClient, record: ActionRecord, timeout_s: float = 30.0) -> ActionRecord:
    """`record` with its confirmation: for HTTPRoute, whether the gateways accepted the new generation within
    `timeout_s`; for the others, the API server's acceptance only."""
    if record.kind != "HTTPRoute":
        return _replace(record, confirmation=NOT_CONFIRMED)
    ok = wait_httproute_applied(api, record.namespace, record.name, record.generation, timeout_s,
                                record.resource_version)
    return _replace(record, confirmation=CONFIRMED if ok else
                    f"not confirmed: the gateways did not report generation {record.generation} accepted "
                    f"within {timeout_s:.0f} s")


def _replace(record: ActionRecord, **changes: Any) -> ActionRecord:
    import dataclasses

    return dataclasses.replace(record, **changes)
