"""The resource types the fake serves, as discovery describes them."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

RW_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    versions: tuple[str, ...]  # preferred (and stored) version first
    kind: str
    plural: str
    namespaced: bool = True
    builtin: bool = True  # built-in kinds accept strategic merge patch and unconditional updates
    subresources: tuple[str, ...] = ("status",)
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = RW_VERBS

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    def api_version(self, version: str | None = None) -> str:
        v = version or self.versions[0]
        return f"{self.group}/{v}" if self.group else v

    def discovery_entries(self) -> list[dict[str, Any]]:
        digest = hashlib.sha256(f"{self.group}/{self.versions[0]}/{self.kind}".encode()).digest()
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        main["storageVersionHash"] = base64.b64encode(digest[:8]).decode()
        entries = [main]
        for sub in self.subresources:
            if sub == "status":
                entries.append(
                    {"name": f"{self.plural}/status", "singularName": "", "namespaced": self.namespaced,
                     "kind": self.kind, "verbs": ["get", "patch", "update"]}
                )
            elif sub == "scale":
                entries.append(
                    {"name": f"{self.plural}/scale", "singularName": "", "namespaced": self.namespaced,
                     "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}
                )
            elif sub == "log":
                entries.append(
                    {"name": f"{self.plural}/log", "singularName": "", "namespaced": self.namespaced,
                     "kind": "Pod", "verbs": ["get"]}
                )
        return entries


CATALOGUE: tuple[ResourceType, ...] = (
    ResourceType("", ("v1",), "Namespace", "namespaces", namespaced=False, short_names=("ns",),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    ResourceType("", ("v1",), "Pod", "pods", subresources=("status", "log"), short_names=("po",),
                 categories=("all",)),
    ResourceType("", ("v1",), "Service", "services", short_names=("svc",), categories=("all",),
                 verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    ResourceType("apps", ("v1",), "Deployment", "deployments", subresources=("status", "scale"),
                 short_names=("deploy",), categories=("all",)),
    ResourceType("apps", ("v1",), "ReplicaSet", "replicasets", subresources=("status", "scale"),
                 short_names=("rs",), categories=("all",)),
    ResourceType("authorization.k8s.io", ("v1",), "SelfSubjectAccessReview", "selfsubjectaccessreviews",
                 namespaced=False, subresources=(), verbs=("create",)),
    ResourceType("authentication.k8s.io", ("v1",), "SelfSubjectReview", "selfsubjectreviews",
                 namespaced=False, subresources=(), verbs=("create",)),
    ResourceType("gateway.networking.k8s.io", ("v1", "v1beta1"), "HTTPRoute", "httproutes", builtin=False,
                 categories=("gateway-api",)),
    ResourceType("gateway.networking.k8s.io", ("v1", "v1beta1"), "Gateway", "gateways", builtin=False,
                 short_names=("gtw",), categories=("gateway-api",)),
    ResourceType("networking.istio.io", ("v1", "v1beta1"), "VirtualService", "virtualservices", builtin=False,
                 short_names=("vs",), categories=("istio-io", "networking-istio-io")),
    ResourceType("networking.istio.io", ("v1", "v1beta1"), "DestinationRule", "destinationrules", builtin=False,
                 short_names=("dr",), categories=("istio-io", "networking-istio-io")),
    ResourceType("serving.kserve.io", ("v1beta1",), "InferenceService", "inferenceservices", builtin=False,
                 short_names=("isvc",)),
    ResourceType("argoproj.io", ("v1alpha1",), "Rollout", "rollouts", builtin=False,
                 subresources=("status", "scale"), short_names=("ro",)),
    ResourceType("flagger.app", ("v1beta1",), "Canary", "canaries", builtin=False, short_names=("canary",)),
)

# Groups that the real API server always serves; tests may drop only the others.
CORE_GROUPS = frozenset({"", "apps", "authorization.k8s.io"})  # SelfSubjectReview (1.28+) may be dropped


class Catalogue:
    def __init__(self, types: tuple[ResourceType, ...], dropped_groups: frozenset[str] = frozenset()) -> None:
        bad = dropped_groups & CORE_GROUPS
        if bad:
            raise ValueError(f"cannot drop built-in API groups: {sorted(bad)}")
        self.types = tuple(t for t in types if t.group not in dropped_groups)
        self._by_path = {(t.group, v, t.plural): t for t in self.types for v in t.versions}

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        for t in self.types:
            if t.group == group and t.kind == kind and version in t.versions:
                return t
        raise KeyError(f"{kind} in {api_version} is not served")

    def groups(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for t in self.types:
            if t.group:
                out.setdefault(t.group, t.versions)
        return out

    def serves(self, group: str, version: str) -> bool:
        return any(t.group == group and version in t.versions for t in self.types)

    def resource_list(self, group: str, version: str) -> dict[str, Any]:
        resources: list[dict[str, Any]] = []
        for t in self.types:
            if t.group == group and version in t.versions:
                resources.extend(t.discovery_entries())
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources,
        }

    def group_entry(self, group: str) -> dict[str, Any]:
        versions = self.groups()[group]
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}
