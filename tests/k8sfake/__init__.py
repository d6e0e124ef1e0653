"""A fake Kubernetes API server for tests: HTTPS on 127.0.0.1, bearer tokens, discovery, list/watch, patches,
SelfSubjectAccessReview and pod logs, faithful enough for the official `kubernetes` client. See README.md."""

from __future__ import annotations

import base64
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import controllers, objects
from .auth import ALLOW_ALL, Authority, Rule
from .kubeconfig import ContextEntry, write_kubeconfig
from .logs import Logs
from .resources import CATALOGUE, Catalogue, ResourceType
from .server import ApiServer, Target
from .store import Store
from .tls import Pki, make_pki

__all__ = ["ALLOW_ALL", "ContextEntry", "FakeCluster", "Rule", "objects", "start_fake_cluster"]


@dataclass
class FakeCluster:
    """The running fake plus the in-process helper API a test uses as 'the controllers' of the cluster."""

    url: str
    token: str
    user: str
    namespace: str
    context: str
    kubeconfig: Path
    pki: Pki
    store: Store
    server: ApiServer
    authority: Authority
    logs: Logs
    tmp: Path
    _extra_contexts: list[ContextEntry] = field(default_factory=list)

    # ---------------------------------------------------------------- objects
    def _rt(self, api_version: str, kind: str) -> ResourceType:
        return self.store.catalogue.by_kind(api_version, kind)

    def ensure_namespace(self, name: str) -> None:
        ns_type = self._rt("v1", "Namespace")
        if ("", name) not in self.store.objects[ns_type.key]:
            self.store.create(ns_type, "", objects.namespace(name))

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create as a controller would (no authorisation); the namespace is created when missing."""
        rt = self._rt(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace", self.namespace) if rt.namespaced else ""
        if rt.namespaced:
            self.ensure_namespace(namespace)
        body = dict(obj)
        body["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        return self.store.create(rt, namespace, body).copy()

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.store.get(self._rt(api_version, kind), namespace, name).copy()

    def list(self, api_version: str, kind: str, namespace: str = "") -> list[dict[str, Any]]:
        return [s.copy() for _, s in self.store.items(self._rt(api_version, kind), namespace)]

    def modify(self, api_version: str, kind: str, namespace: str, name: str,
               change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Read-modify-write of the whole object, status included (a controller's write). A no-op change does not
        bump the resourceVersion; a spec change bumps the generation."""

        def mutate(current: dict[str, Any]) -> dict[str, Any]:
            new = change(current)
            new["metadata"].pop("resourceVersion", None)
            return new

        return self.store.update(self._rt(api_version, kind), namespace, name, mutate, subresource="*").copy()

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        self.store.delete(self._rt(api_version, kind), namespace, name)

    def compact(self) -> int:
        """Forget all watch history: watches and continue tokens from before now get 410."""
        return self.store.compact()

    @property
    def resource_version(self) -> int:
        return self.store.rv

    # ------------------------------------------------------------- controllers
    def roll_deployment(self, namespace: str, name: str, image: str) -> dict[str, Any] | None:
        return controllers.roll_deployment(self, namespace, name, image)

    def reconcile_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        return controllers.reconcile_deployment(self, namespace, name)

    def accept_httproute(self, namespace: str, name: str, accepted: bool = True) -> dict[str, Any]:
        return controllers.accept_httproute(self, namespace, name, accepted)

    def seed_deployment(self, name: str, namespace: str | None = None, image: str = "registry.example/model:v1",
                        replicas: int = 2) -> dict[str, Any]:
        """A Deployment with its ReplicaSet (revision 1), pods and a Service selecting them."""
        ns = namespace or self.namespace
        self.create(objects.deployment(name, ns, image=image, replicas=replicas))
        self.create(objects.service(name, ns))
        self.reconcile_deployment(ns, name)
        return self.get("apps/v1", "Deployment", ns, name)

    # -------------------------------------------------------------------- logs
    def append_log(self, namespace: str, pod: str, container: str, *lines: str) -> None:
        self.logs.append(namespace, pod, container, *lines)

    def restart_container(self, namespace: str, pod: str, container: str) -> None:
        """The container crashed: its log becomes `previous`, restartCount goes up, lastState is terminated."""
        self.logs.restart(namespace, pod, container)

        def bump(p: dict[str, Any]) -> dict[str, Any]:
            for cs in p["status"].get("containerStatuses", []):
                if cs["name"] == container:
                    cs["restartCount"] += 1
                    cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": objects.NOW,
                                                      "finishedAt": objects.NOW}}
            return p

        self.modify("v1", "Pod", namespace, pod, bump)

    # ---------------------------------------------------------- identities
    def add_token(self, user: str, rules: Iterable[Rule] = ALLOW_ALL, token: str | None = None,
                  context: str | None = None, namespace: str | None = None) -> str:
        """A new identity; also a context named `context` (default: the user) in the kubeconfig."""
        token = token or secrets.token_urlsafe(24)
        self.authority.add_token(token, user, tuple(rules))
        self._extra_contexts.append(ContextEntry(context or user, user, token, namespace or self.namespace))
        self.write_kubeconfig(self.kubeconfig)
        return token

    def add_cert_user(self, user: str, groups: tuple[str, ...] = (), rules: Iterable[Rule] = ALLOW_ALL,
                      context: str | None = None, untrusted: bool = False) -> str:
        """An identity that authenticates with a client certificate (CN = user, O = groups), in a new context
        (default: the user) whose kubeconfig entry holds client-certificate-data / client-key-data.
        `untrusted`: the certificate is signed by a CA the server does not trust. Returns the context."""
        from .tls import other_ca_key_pem

        self.authority.add_cert_user(user, groups, tuple(rules))
        cert, key = self.pki.client_certificate(user, groups, other_ca_key_pem() if untrusted else None)
        auth = {"client-certificate-data": base64.b64encode(cert).decode(),
                "client-key-data": base64.b64encode(key).decode()}
        name = context or user
        self._extra_contexts.append(ContextEntry(name, f"{name}-user", "", self.namespace, auth))
        self.write_kubeconfig(self.kubeconfig)
        return name

    def add_exec_user(self, user: str, rules: Iterable[Rule] = ALLOW_ALL, context: str | None = None,
                      fail: str = "") -> str:
        """An identity whose token comes from an exec credential plugin (client.authentication.k8s.io/v1),
        as cloud providers' kubeconfigs use: a small Python program that prints an ExecCredential. `fail`:
        the plugin prints this to stderr and exits 1 instead. Returns the context."""
        token = secrets.token_urlsafe(24)
        self.authority.add_token(token, user, tuple(rules))
        plugin = self.tmp / f"exec-plugin-{user}.py"
        plugin.write_text(EXEC_PLUGIN)
        args = [str(plugin), "--fail", fail] if fail else [str(plugin), token]
        auth = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable, "args": args,
                         "interactiveMode": "Never"}}
        name = context or user
        self._extra_contexts.append(ContextEntry(name, f"{name}-user", "", self.namespace, auth))
        self.write_kubeconfig(self.kubeconfig)
        return name

    def set_rules(self, rules: Iterable[Rule], token: str | None = None) -> None:
        self.authority.set_rules(token or self.token, tuple(rules))

    def expire_token(self, token: str | None = None) -> None:
        self.authority.expire(token or self.token)

    def write_kubeconfig(self, path: Path, token: str | None = None, ca_pem: bytes | None = None) -> Path:
        main = ContextEntry(self.context, self.user, token or self.token, self.namespace)
        return write_kubeconfig(path, self.url, ca_pem or self.pki.ca_pem, [main, *self._extra_contexts])

    def watchers(self, api_version: str, kind: str) -> int:
        """Open watch streams (and log followers excluded) on a kind: tests wait on this before changing things."""
        with self.store.lock:
            return len(self.store._watchers.get(self._rt(api_version, kind).key, []))

    def log_followers(self, namespace: str, pod: str, container: str) -> int:
        with self.logs.lock:
            return len(self.logs._followers.get((namespace, pod, container), []))

    # ---------------------------------------------------------------- counting
    def requests(self, verb: str | None = None, resource: str | None = None) -> int:
        with self.server._count_lock:
            return sum(n for (v, r), n in self.server.counts.items()
                       if (verb is None or v == verb) and (resource is None or r == resource))

    def reset_requests(self) -> None:
        with self.server._count_lock:
            self.server.counts.clear()


EXEC_PLUGIN = """\
import json, sys
if sys.argv[1] == "--fail":
    sys.stderr.write(sys.argv[2] + "\\n")
    sys.exit(1)
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": sys.argv[1]}}))
"""


@contextmanager
def start_fake_cluster(
    tmp_path: Path,
    *,
    drop_groups: Iterable[str] = (),
    history: int = 1000,
    bookmark_interval: float = 1.0,
    user: str = "alice",
    namespace: str = "default",
    context: str = "fake",
    auto_rollout: bool = False,
    auto_accept_routes: bool = False,
    types: tuple[ResourceType, ...] = CATALOGUE,
) -> Iterator[FakeCluster]:
    """Start the fake API server; yield a FakeCluster whose `kubeconfig` the official client can load.

    `drop_groups`: API groups the cluster does not serve (e.g. "argoproj.io"). `history`: events kept for watches
    (older resourceVersions get 410). `auto_rollout`: Deployment writes through the API run the deployment
    controller; `auto_accept_routes`: HTTPRoute writes get their status bumped to the new generation.
    """
    pki = make_pki(tmp_path / "k8sfake-pki")
    store = Store(Catalogue(types, frozenset(drop_groups)), history=history)
    authority = Authority()
    token = secrets.token_urlsafe(24)
    authority.add_token(token, user)
    logs = Logs()
    server = ApiServer(store, authority, logs, bookmark_interval=bookmark_interval)
    port = server.start(pki.server_context())
    try:
        cluster = FakeCluster(
            url=f"https://127.0.0.1:{port}", token=token, user=user, namespace=namespace, context=context,
            kubeconfig=tmp_path / "kubeconfig", pki=pki, store=store, server=server, authority=authority,
            logs=logs, tmp=tmp_path,
        )
        for ns in ("default", "kube-system", namespace):
            cluster.ensure_namespace(ns)
        cluster.write_kubeconfig(cluster.kubeconfig)

        def after_write(target: Target, verb: str) -> None:
            if target.subresource == "status" or verb == "delete":
                return
            if auto_rollout and target.rt.kind == "Deployment":
                cluster.reconcile_deployment(target.namespace, target.name or "")
            if auto_accept_routes and target.rt.kind == "HTTPRoute" and target.name:
                cluster.accept_httproute(target.namespace, target.name)

        server.after_write.append(after_write)
        yield cluster
    finally:
        server.stop()
