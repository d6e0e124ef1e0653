"""What the identity of a context may do, asked of the cluster (SelfSubjectAccessReview)."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from console.backends.kubernetes.connect import Connection
from console.backends.kubernetes.discovery import Kind

SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class Permission:
    verb: str
    group: str
    resource: str  # plural, or plural/subresource
    namespace: str  # "" for every namespace (cluster scope)

    def describe(self) -> str:
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        where = f"in namespace {self.namespace}" if self.namespace else "in all namespaces"
        return f"{self.verb} {what} {where}"


@dataclass(frozen=True)
class Permissions:
    """Answers to every review asked; `allows` for the UI, `missing` for tooltips."""

    answers: dict[Permission, bool] = field(default_factory=dict)
    read_only: bool = False

    def allows(self, verb: str, kind: Kind, namespace: str = "") -> bool:
        """Whether `verb` on `kind` in `namespace` is allowed: asked for that namespace, or
        for every namespace. A read-only place allows no patch."""
        if self.read_only and verb not in READ_VERBS:
            return False
        for ns in (namespace, ""):
            answer = self.answers.get(Permission(verb, kind.group, kind.plural, ns))
            if answer is not None:
                return answer
        return False

    def missing_for(self, verb: str, kind: Kind, namespace: str = "") -> str | None:
        """None when allowed; else the sentence a disabled action's tooltip shows."""
        if self.allows(verb, kind, namespace):
            return None
        if self.read_only and verb not in READ_VERBS:
            return "this context is marked read-only in the console"
        return f"missing permission: {Permission(verb, kind.group, kind.plural, namespace).describe()}"

    def missing(self) -> list[str]:
        return sorted(p.describe() for p, ok in self.answers.items() if not ok)


def wanted(kinds: Iterable[Kind], namespaces: Iterable[str]) -> list[Permission]:
    """get/list/watch on every kind read, patch on those the console changes, and what the
    actions read (ReplicaSets for rollback, pod logs), in each namespace ("" = all)."""
    out: list[Permission] = []
    for ns in namespaces:
        for kind in kinds:
            verbs = (*READ_VERBS, "patch") if kind.patchable else READ_VERBS
            out.extend(Permission(v, kind.group, kind.plural, ns) for v in verbs)
        out.extend(Permission(v, "apps", "replicasets", ns) for v in ("get", "list"))
        out.append(Permission("get", "", "pods/log", ns))
    return out


def review(conn: Connection, permissions: Iterable[Permission], read_only: bool = False) -> Permissions:
    """One SelfSubjectAccessReview per permission, a few at a time."""
    def ask(p: Permission) -> bool:
        resource, _, sub = p.resource.partition("/")
        attrs = {"verb": p.verb, "group": p.group, "resource": resource, "namespace": p.namespace}
        if sub:
            attrs["subresource"] = sub
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        return bool((conn.post(SSAR_PATH, body).get("status") or {}).get("allowed"))

    asked = list(dict.fromkeys(permissions))
    with ThreadPoolExecutor(max_workers=6, thread_name_prefix="k8s-ssar") as pool:
        answers = dict(zip(asked, pool.map(ask, asked), strict=True))
    return Permissions(answers, read_only)
