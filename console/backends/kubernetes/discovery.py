"""The kinds the console reads, and which of them the cluster serves (API discovery)."""

from __future__ import annotations

from dataclasses import dataclass

from console.backends.base import NotFound
from console.backends.kubernetes.connect import Connection


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    patchable: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> str:
        """`plural.group`, as RBAC messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.plural}" if namespace else f"{base}/{self.plural}"


DEPLOYMENT = Kind("apps", "v1", "deployments", "Deployment", patchable=True)
POD = Kind("", "v1", "pods", "Pod")
SERVICE = Kind("", "v1", "services", "Service")
CORE: tuple[Kind, ...] = (DEPLOYMENT, POD, SERVICE)

#: (group, versions in order of preference, plural, kind): watched only where the cluster serves them
OPTIONAL: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("gateway.networking.k8s.io", ("v1",), "httproutes", "HTTPRoute"),
    ("networking.istio.io", ("v1", "v1beta1"), "virtualservices", "VirtualService"),
    ("serving.kserve.io", ("v1beta1",), "inferenceservices", "InferenceService"),
    ("argoproj.io", ("v1alpha1",), "rollouts", "Rollout"),
    ("flagger.app", ("v1beta1",), "canaries", "Canary"),
)


def discover(conn: Connection) -> tuple[Kind, ...]:
    """The core kinds and every optional kind whose group, version and resource the cluster serves."""
    groups = {g["name"]: {v["version"] for v in g.get("versions", [])}
              for g in (conn.get("/apis").get("groups") or [])}
    kinds = list(CORE)
    for group, versions, plural, kind in OPTIONAL:
        version = next((v for v in versions if v in groups.get(group, ())), None)
        if version is None:
            continue
        try:
            resources = conn.get(f"/apis/{group}/{version}").get("resources") or []
        except NotFound:  # the group went away between the two reads (a CRD uninstalled)
            continue
        if any(r.get("name") == plural for r in resources):
            kinds.append(Kind(group, version, plural, kind, patchable=True))
    return tuple(kinds)
