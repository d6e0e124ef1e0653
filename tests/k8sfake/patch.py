"""PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch (the subset built-in kinds need), JSON patch
(RFC 6902, through the `jsonpatch` library)."""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
import jsonpointer

from . import status as st
from .resources import ResourceType

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"

# patchMergeKey of the list fields the console touches (from the Kubernetes API types' struct tags).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
# Lists of primitives merged as sets (patchStrategy:merge without a key).
PRIMITIVE_MERGE = frozenset({"finalizers"})
# `ports` merges by containerPort in a container and by port in a Service spec.
_PORT_KEYS = ("containerPort", "port")


def accepted_types(rt: ResourceType) -> list[str]:
    types = [JSON_PATCH, MERGE]
    if rt.builtin:
        types.append(STRATEGIC)
    return types


def apply_patch(rt: ResourceType, content_type: str, body: bytes, current: dict[str, Any]) -> dict[str, Any]:
    media = content_type.split(";")[0].strip().lower()
    if media not in accepted_types(rt):
        raise st.unsupported_media_type(accepted_types(rt))
    try:
        patch = json.loads(body or b"null")
    except ValueError as exc:
        raise st.bad_request(f"error decoding patch: {exc}") from exc
    if media == JSON_PATCH:
        if not isinstance(patch, list):
            raise st.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        try:
            result: dict[str, Any] = jsonpatch.JsonPatch(patch).apply(current)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise st.unprocessable(f"testing value failed: {exc}") from exc
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise st.unprocessable(str(exc)) from exc
        return result
    if not isinstance(patch, dict):
        raise st.bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
    merged: dict[str, Any] = merge_patch(current, patch) if media == MERGE else strategic_merge(current, patch, "")
    return merged


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field in MERGE_KEYS:
        return MERGE_KEYS[field]
    if field == "ports":
        for key in _PORT_KEYS:
            if any(isinstance(i, dict) and key in i for i in items):
                return key
    return None


def strategic_merge(target: Any, patch: Any, field: str) -> Any:
    if not isinstance(patch, dict):
        return patch
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if directive not in (None, "merge"):
        raise st.bad_request(f"Unknown patch type: {directive}")
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            out[name] = [v for v in out.get(name) or [] if v not in value]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list):
            out[key] = _merge_list(out.get(key), value, key)
        else:
            merged = strategic_merge(out.get(key), value, key)
            if merged is None:
                out.pop(key, None)
            else:
                out[key] = merged
    return out


def _merge_list(current: Any, patch: list[Any], field: str) -> list[Any]:
    items: list[Any] = list(current) if isinstance(current, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [i for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    if field in PRIMITIVE_MERGE:
        return items + [v for v in patch if v not in items]
    key = _merge_key(field, patch + items)
    if key is None:
        return patch  # lists without a merge key are replaced, as in JSON merge patch
    out = list(items)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise st.bad_request(f"map: {item} does not contain declared merge key: {key}")
        index = next((n for n, c in enumerate(out) if isinstance(c, dict) and c.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                out.pop(index)
            continue
        if index is None:
            out.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            out[index] = strategic_merge(out[index], item, field)
    return out
