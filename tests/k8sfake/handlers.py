"""Request handlers: get, list (paginated), watch, create, update, patch, delete, status/scale, SSAR, pod logs."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import patch as patching
from . import status as st
from .auth import User
from .podlog import serve_log
from .selectors import field_selector, label_selector
from .store import Stored, dumps
from .watch import DEFAULT_WATCH_TIMEOUT, WatchParams, serve_watch

if TYPE_CHECKING:
    from .server import ApiServer, Target

CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


def _truthy(value: str | None) -> bool:
    return value in ("true", "1", "True")


def _int(query: Any, name: str) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise st.bad_request(f"invalid {name} {raw!r}: must be an integer") from exc


def _respond(body: Any, code: int = 200) -> web.Response:
    return web.Response(body=body if isinstance(body, bytes) else dumps(body), status=code,
                        content_type="application/json")


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise st.bad_request(f"the object provided is unrecognized: {exc}") from exc


def _verb(request: web.Request, target: Target) -> str:
    method = request.method
    if method == "GET":
        if target.name:
            return "get"
        return "watch" if _truthy(request.query.get("watch")) else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if target.name else "deletecollection"}.get(method, method.lower())


async def handle(server: ApiServer, request: web.Request, user: User, target: Target) -> web.StreamResponse:
    verb = _verb(request, target)
    rt = target.rt
    if verb not in rt.verbs and not target.subresource:
        raise st.method_not_allowed(verb, rt.plural, rt.group)
    server.count(verb, rt.plural + (f"/{target.subresource}" if target.subresource else ""))
    if rt.plural == "selfsubjectaccessreviews":
        review = server.authority.review(user, await _json_body(request))
        return _respond(review, 201)
    if rt.plural == "selfsubjectreviews":  # who am I (authentication.k8s.io/v1, Kubernetes 1.28+)
        return _respond({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                         "metadata": {"creationTimestamp": None},
                         "status": {"userInfo": {"username": user.name, "groups": list(user.groups)}}}, 201)
    server.authority.authorize(user, verb, rt.group, rt.plural, target.subresource, target.namespace, target.name)
    if target.subresource == "log":
        return await serve_log(server, request, target)
    if target.subresource == "scale":
        return await _scale(server, request, target, verb)
    if verb == "watch":
        return await _watch(server, request, target)
    if verb == "list":
        return _list(server, request, target)
    if verb == "get":
        return _respond(server.store.get(rt, target.namespace, target.name).json(target.api_version))
    if verb == "create":
        if target.subresource:
            raise st.method_not_allowed(verb, rt.plural, rt.group)
        return _respond(_create(server, target, await _json_body(request)), 201)
    if verb in ("update", "patch"):
        body = await request.read()
        stored = _write(server, request, target, verb, body)
        for hook in server.after_write:
            hook(target, verb)
        return _respond(stored.json(target.api_version))
    if verb == "delete":
        raw = await request.read()
        options = json.loads(raw) if raw.strip() else {}
        gone = server.store.delete(rt, target.namespace, target.name, options.get("preconditions"))
        for hook in server.after_write:
            hook(target, verb)
        return _respond(st.success(target.name, rt.group, rt.plural, gone.obj["metadata"]["uid"]))
    if verb == "deletecollection":
        matches = _matcher(request, target)
        for _, stored in server.store.items(rt, target.namespace):
            if matches(stored.obj):
                meta = stored.obj["metadata"]
                server.store.delete(rt, meta.get("namespace", ""), meta["name"])
        return _respond(st.success("", rt.group, rt.plural, ""))
    raise st.method_not_allowed(verb, rt.plural, rt.group)


def _matcher(request: web.Request, target: Target) -> Any:
    labels = label_selector(request.query.get("labelSelector"))
    fields = field_selector(request.query.get("fieldSelector"), target.rt.kind)
    return lambda obj: (labels is None or labels(obj)) and (fields is None or fields(obj))


def _create(server: ApiServer, target: Target, body: Any) -> bytes:
    rt = target.rt
    if not isinstance(body, dict):
        raise st.bad_request("the object provided is unrecognized")
    if body.get("apiVersion") not in (None, target.api_version):
        raise st.bad_request(
            f"the API version in the data ({body.get('apiVersion')}) does not match the expected API version "
            f"({target.api_version})"
        )
    if body.get("kind") not in (None, rt.kind):
        raise st.bad_request(f"the kind in the data ({body.get('kind')}) does not match the expected kind ({rt.kind})")
    meta = body.setdefault("metadata", {})
    if rt.namespaced and meta.get("namespace") not in (None, "", target.namespace):
        raise st.bad_request("the namespace of the provided object does not match the namespace sent on the request")
    body.get("metadata", {}).pop("resourceVersion", None)
    stored = server.store.create(rt, target.namespace, body)
    named = dataclasses.replace(target, name=stored.obj["metadata"]["name"])
    for hook in server.after_write:
        hook(named, "create")
    return stored.json(target.api_version)


def _write(server: ApiServer, request: web.Request, target: Target, verb: str, raw: bytes) -> Stored:
    rt = target.rt
    if verb == "update":
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise st.bad_request(f"the object provided is unrecognized: {exc}") from exc
        if not isinstance(body, dict):
            raise st.bad_request("the object provided is unrecognized")
        if (body.get("metadata") or {}).get("namespace") not in (None, "", target.namespace):
            raise st.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request")
        return server.store.update(rt, target.namespace, target.name, lambda _current: body,
                                   subresource=target.subresource, require_rv=True)
    content_type = request.headers.get("Content-Type", "")

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        current["apiVersion"] = target.api_version
        patched = patching.apply_patch(rt, content_type, raw, current)
        if not isinstance(patched, dict):
            raise st.bad_request("the patch did not produce an object")
        return patched

    return server.store.update(rt, target.namespace, target.name, mutate, subresource=target.subresource)


def _encode_continue(rv: int, key: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": key + "\x00"}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["rv"]), str(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise st.bad_request(f"continue key is not valid: {exc}") from exc


def _list(server: ApiServer, request: web.Request, target: Target) -> web.Response:
    rt, store, q = target.rt, server.store, request.query
    limit = _int(q, "limit")
    token = q.get("continue")
    at_rv: int | None = None
    start = ""
    if token:
        if q.get("resourceVersion"):
            raise st.bad_request("specifying resource version is not allowed when using continue")
        at_rv, start = _decode_continue(token)
        if at_rv < store.compacted_rv:
            raise st.gone_expired(CONTINUE_EXPIRED)
    elif q.get("resourceVersionMatch") == "Exact":
        at_rv = _int(q, "resourceVersion")
    with store.lock:
        snapshot_rv = at_rv if at_rv is not None else store.rv
        rows = store.items(rt, target.namespace, at_rv)
    matches = _matcher(request, target)
    selecting = bool(q.get("labelSelector") or q.get("fieldSelector"))
    if start:
        rows = [r for r in rows if r[0] >= start]
    chosen: list[Stored] = []
    chosen_key = ""
    meta: dict[str, Any] = {"resourceVersion": str(snapshot_rv)}
    for index, (key, stored) in enumerate(rows):
        if not matches(stored.obj):
            continue
        if limit and len(chosen) == limit:
            meta["continue"] = _encode_continue(snapshot_rv, chosen_key)
            if not selecting:
                meta["remainingItemCount"] = len(rows) - index
            break
        chosen.append(stored)
        chosen_key = key
    head = {"kind": f"{rt.kind}List", "apiVersion": target.api_version, "metadata": meta}
    body = dumps(head)[:-1] + b',"items":[' + b",".join(s.json(target.api_version) for s in chosen) + b"]}"
    return _respond(body)


async def _watch(server: ApiServer, request: web.Request, target: Target) -> web.StreamResponse:
    q = request.query
    rv_text = q.get("resourceVersion", "")
    since = None if rv_text in ("", "0") else _int(q, "resourceVersion")
    timeout = _int(q, "timeoutSeconds")
    params = WatchParams(
        rt=target.rt, api_version=target.api_version, namespace=target.namespace, since=since,
        matches=_matcher(request, target), timeout=float(timeout) if timeout else DEFAULT_WATCH_TIMEOUT,
        bookmarks=_truthy(q.get("allowWatchBookmarks")), bookmark_interval=server.bookmark_interval,
    )
    assert server._stopping is not None
    return await serve_watch(request, server.store, params, server._stopping,
                             lambda: server.count("event", target.rt.plural))


async def _scale(server: ApiServer, request: web.Request, target: Target, verb: str) -> web.Response:
    rt = target.rt

    def scale_of(stored: Stored) -> dict[str, Any]:
        obj, meta = stored.obj, stored.obj["metadata"]
        selector = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        return {
            "kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items()))},
        }

    current = server.store.get(rt, target.namespace, target.name)
    if verb == "get":
        return _respond(scale_of(current))
    raw = await request.read()
    scale = scale_of(current)
    if verb == "update":
        new_scale = json.loads(raw)
    else:
        content_type = request.headers.get("Content-Type", "")
        core = server.catalogue.lookup("", "v1", "pods")
        assert core is not None  # any built-in type accepts strategic merge for Scale
        new_scale = patching.apply_patch(core, content_type, raw, scale)
    replicas = int((new_scale.get("spec") or {}).get("replicas", 0))
    sent_rv = (new_scale.get("metadata") or {}).get("resourceVersion")

    def mutate(obj: dict[str, Any]) -> dict[str, Any]:
        obj.setdefault("spec", {})["replicas"] = replicas
        if sent_rv:
            obj["metadata"]["resourceVersion"] = sent_rv
        return obj

    stored = server.store.update(rt, target.namespace, target.name, mutate)
    for hook in server.after_write:
        hook(target, verb)
    return _respond(scale_of(stored))
