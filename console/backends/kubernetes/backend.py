"""A kubeconfig context as a place: probe, inventory from the watch cache, permissions."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from console.backends.audit_log import ConsoleAuditLog
from console.backends.base import (
    BackendError,
    Forbidden,
    InventorySnapshot,
    NotFound,
    ProbeResult,
    Unauthorized,
    Unreachable,
)
from console.backends.kubernetes import endpoints as ep
from console.backends.kubernetes.connect import TIMEOUT, Connection, connect, kubeconfig_files
from console.backends.kubernetes.discovery import DEPLOYMENT, POD, SERVICE, Kind, discover
from console.backends.kubernetes.gcpause import gc_paused
from console.backends.kubernetes.mapping import SLIM, Index, created, deployment_status, label, service_url, workload
from console.backends.kubernetes.permissions import Permissions, review, wanted
from console.backends.kubernetes.watches import Watches
from console.backends.places import PlaceConfig
from console.domain.models import AuditEvent, DeploymentStatus, EndpointStatus, Revision

if TYPE_CHECKING:
    from console.backends.kubernetes.routes_patch import ActionRecord


SSR_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


@dataclass(frozen=True)
class _Mapped:
    """One mapped endpoint (or orphan Deployment) and what it was mapped from."""

    rv: str
    display: str
    index: Index
    endpoint: Any  # EndpointStatus, or DeploymentStatus for an orphan
    ref: ep.EndpointRef | None
    used: frozenset[tuple[str, str]]


class KubernetesBackend:
    """One context. The first `inventory()` discovers the kinds served and starts a list-then-watch
    per kind (and namespace); later calls read the cache. `close()` stops the watches."""

    freshness_s = 30.0

    def __init__(self, config: PlaceConfig, env: dict[str, str] | None = None, initial_wait_s: float = 15.0,
                 stale_after_s: float = 30.0, timeout: tuple[float, float] = TIMEOUT,
                 audit_log: ConsoleAuditLog | None = None) -> None:
        self.place_id = config.id
        self.audit_log = audit_log  # the console's own log: clusters keep none of Switchboard's actions
        self.config = config
        self.read_only = config.read_only
        self.initial_wait_s = initial_wait_s
        self.stale_after_s = stale_after_s
        self._env = env
        self._timeout = timeout
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._kinds: tuple[Kind, ...] | None = None
        self._watches: Watches | None = None
        self._built: tuple[int, InventorySnapshot] | None = None
        self._index: tuple[tuple[int, ...], Index] | None = None
        self._memo: dict[tuple[str, str, str], _Mapped] = {}
        self.refs: dict[str, ep.EndpointRef] = {}  # endpoint name → its object, as of the last inventory
        self._identity: str | None = None

    # ------------------------------------------------------------ connection
    def connection(self) -> Connection:
        with self._lock:
            if self._conn is None:
                self._conn = connect(self.config, self._env, self._timeout)
            return self._conn

    def kinds(self) -> tuple[Kind, ...]:
        """The kinds read, as discovered on first use."""
        if self._kinds is None:
            self._kinds = discover(self.connection())
        return self._kinds

    @property
    def namespaces(self) -> tuple[str, ...] | None:
        return tuple(self.config.namespaces) if self.config.namespaces else None

    def permissions(self) -> Permissions:
        """Asked of the cluster now (SelfSubjectAccessReview), for every kind read, in each
        chosen namespace (or all)."""
        return review(self.connection(), wanted(self.kinds(), self.namespaces or ("",)), self.read_only)

    def probe(self) -> ProbeResult:
        try:
            conn = self.connection()
            version = conn.get("/version")
            kinds = self.kinds()
            perms = self.permissions()
            user = self.cluster_identity()
        except BackendError as exc:
            return ProbeResult(False, str(exc), kind=getattr(exc, "kind", exc.__class__.__name__.lower()))
        missing = perms.missing()
        served = ", ".join(k.kind for k in kinds)
        summary = "all permissions the console uses" if not missing else f"{len(missing)} permissions missing"
        return ProbeResult(True, f"{conn.server}: Kubernetes {version.get('gitVersion', '?')}, context "
                                 f"{conn.context}; reads {served}; {summary}"
                                 f"{' (read-only in the console)' if self.read_only else ''}",
                           detail={"server": conn.server, "context": conn.context, "user": user,
                                   "version": version.get("gitVersion", ""), "kinds": [k.resource for k in kinds],
                                   "missing": missing, "read_only": self.read_only})

    def context_user(self) -> str:
        """Who the context says it is (the kubeconfig user entry): the audit events' identity."""
        return self.cluster_identity()

    def _user(self) -> str:
        """Who the context says it is (the user entry's name)."""
        for path in kubeconfig_files(self.config, self._env):
            try:
                doc = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError):
                continue
            for item in doc.get("contexts") or []:
                if item.get("name") == (self.config.context or doc.get("current-context")):
                    return str((item.get("context") or {}).get("user") or "")
        return ""

    # ------------------------------------------------------------ inventory
    def start(self) -> Watches:
        with self._lock:
            watches = self._watches
        if watches is None:
            kinds = self.kinds()
            conn = self.connection()
            with self._lock:
                if self._watches is None:
                    self._watches = Watches(conn, kinds, self.namespaces, SLIM)
                    self._watches.start()
                watches = self._watches
        return watches

    def inventory(self) -> InventorySnapshot:
        watches = self.start()
        if not watches.wait_synced(self.initial_wait_s):
            slow = [t.kind.resource for t in watches.threads if not t.synced.is_set()]
            raise Unreachable(f"{self.connection().server}: the first list of {', '.join(slow)} did not arrive "
                              f"within {self.initial_wait_s:g} s", kind="timeout")
        self._raise_if_unusable(watches)
        version = watches.cache.version
        built = self._built
        if built is not None and built[0] == version:
            return built[1]
        with gc_paused():
            snapshot = self._build(watches)
        self._built = (version, snapshot)
        return snapshot

    def _raise_if_unusable(self, watches: Watches) -> None:
        for thread in watches.failed():
            if isinstance(thread.error, Unauthorized):
                raise thread.error
            if isinstance(thread.error, Forbidden) and thread.kind == DEPLOYMENT:
                raise thread.error
        stale = watches.stale(self.stale_after_s)
        if stale is not None and stale.error is not None:
            down = time.monotonic() - (stale.down_since or time.monotonic())
            raise Unreachable(f"watch of {stale.kind.resource} down for {down:.0f} s: {stale.error}",
                              kind=getattr(stale.error, "kind", "stale"))

    def problems(self) -> list[str]:
        """Kinds not read, and why (e.g. 403 on one kind): shown beside the place."""
        watches = self._watches
        return [f"{t.kind.resource}: {t.error}" for t in watches.failed()] if watches else []

    def _build(self, watches: Watches) -> InventorySnapshot:
        """Map the cache to a snapshot. An endpoint whose object and whose Deployments, Pods and
        Services are unchanged since the last build is reused, not mapped again."""
        cache = watches.cache
        stamp = tuple(cache.versions.get(k.resource, 0) for k in (DEPLOYMENT, POD, SERVICE))
        if self._index is None or self._index[0] != stamp:
            self._index = (stamp, Index(cache.objects(DEPLOYMENT.resource), cache.objects(POD.resource),
                                        cache.objects(SERVICE.resource)))
        index = self._index[1]
        endpoints: list[EndpointStatus] = []
        refs: dict[str, ep.EndpointRef] = {}
        memo: dict[tuple[str, str, str], _Mapped] = {}
        used: set[tuple[str, str]] = set()
        watched = watches.kinds()
        for kind, mapper in ep.MAPPERS.items():
            if kind not in watched:
                continue
            for (ns, name), obj in sorted(cache.objects(kind).items()):
                display = f"{ns}/{name}" if f"{ns}/{name}" not in refs else f"{ns}/{name} ({obj.get('kind')})"
                rv = str((obj.get("metadata") or {}).get("resourceVersion", ""))
                hit = self._memo.get((kind, ns, name))
                if hit is None or (hit.rv, hit.display) != (rv, display) or hit.index is not index:
                    index.used = set()
                    endpoint, ref = mapper(obj, display, index)
                    hit = _Mapped(rv, display, index, endpoint, ref, frozenset(index.used))
                memo[(kind, ns, name)] = hit
                endpoints.append(hit.endpoint)
                refs[display] = hit.ref  # type: ignore[assignment]  # set for every endpoint
                used |= hit.used
        orphans = []
        unrouted: dict[str, list[tuple[DeploymentStatus, Any]]] = {}
        for key, dep in sorted(index.deployments.items()):
            if key in used:
                continue
            rv = str((dep.get("metadata") or {}).get("resourceVersion", ""))
            hit = self._memo.get(("orphan", *key))
            if hit is None or hit.rv != rv or hit.index is not index:
                hit = _Mapped(rv, "", index, _orphan(dep, index), None, frozenset())
            memo[("orphan", *key)] = hit
            orphans.append(hit.endpoint)
            unrouted.setdefault(key[0], []).append((hit.endpoint, dep))
        for ns, found in unrouted.items():  # listed per namespace, so they can be selected and acted on
            endpoint, ref = _unrouted(ns, found, index)
            endpoints.append(endpoint)
            refs[endpoint.name] = ref
        self._memo = memo
        self.refs = refs
        return InventorySnapshot(self.place_id, time.time(), tuple(endpoints), tuple(orphans))

    def close(self) -> None:
        with self._lock:
            watches, self._watches = self._watches, None
            conn, self._conn = self._conn, None
        if watches is not None:
            watches.stop()
        if conn is not None:
            conn.close()

    # ------------------------------------------------------------ audit
    def record(self, action: ActionRecord, outcome: str = "", endpoint: str | None = None,
               deployment: str | None = None, identity: str | None = None) -> AuditEvent | None:
        """Write `action` to the console's audit log (None when this backend has none)."""
        if self.audit_log is None:
            return None
        return self.audit_log.append(
            actor=action.actor, action=f"kubernetes.{action.action}", place=action.cluster or self.place_id,
            target=f"{action.kind} {action.namespace}/{action.name}", before=action.before, after=action.after,
            outcome=outcome or action.confirmation, reason=action.reason, endpoint=endpoint, deployment=deployment,
            identity=identity)

    def revisions(self, endpoint: str) -> list[Revision]:
        """The endpoint's traffic history, from its history annotation read fresh (SupportsHistory)."""
        from console.backends.kubernetes.traffic import revisions

        return revisions(self, endpoint)

    def audit(self, since: int = 0) -> list[AuditEvent]:
        """This place's events in the console's audit log (SupportsHistory)."""
        return self.audit_log.events(since, place=self.place_id) if self.audit_log is not None else []

    def cached(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object as last watched (kind: plural.group), for the actions' resourceVersion."""
        return self._watches.cache.get(kind, namespace, name) if self._watches else None

    # ------------------------------------------------------------ approvals (history.py), for the approvals dock
    def cluster_identity(self) -> str:
        """Who this console proposes, approves and acts as on this cluster: the user name the API server
        authenticated (SelfSubjectReview, Kubernetes 1.28+), else the kubeconfig's user entry. Asked once per
        connection; I/O, so called on workers only."""
        if self._identity is None:
            name = ""
            try:
                answer = self.connection().post(SSR_PATH, {"apiVersion": "authentication.k8s.io/v1",
                                                           "kind": "SelfSubjectReview"})
                name = str((((answer or {}).get("status") or {}).get("userInfo") or {}).get("username") or "")
            except (NotFound, Forbidden):
                name = ""  # an older cluster, or the review not allowed: the kubeconfig's name for the user
            self._identity = name or self._user() or self.config.context or self.place_id
        return self._identity

    def route_proposals(self) -> list[dict[str, Any]]:
        """Every watched route with a proposal annotation, from the watch cache (nothing is asked of the cluster;
        none before the first inventory): endpoint, kind, namespace, name, object, proposal (None and `error`
        when unreadable) and the live split."""
        from console.backends.kubernetes import history, routes_patch
        watches = self._watches
        if watches is None:
            return []
        names = {(r.kind, r.namespace, r.name): display for display, r in self.refs.items() if r is not None}
        found = []
        for rk in routes_patch.ROUTE_KINDS.values():
            for (ns, name), obj in sorted(watches.cache.objects(f"{rk.plural}.{rk.group}").items()):
                if history.PROPOSAL_ANNOTATION not in ((obj.get("metadata") or {}).get("annotations") or {}):
                    continue
                entry: dict[str, Any] = {"endpoint": names.get((rk.kind, ns, name), f"{ns}/{name}"), "kind": rk.kind,
                                         "namespace": ns, "name": name, "object": obj, "proposal": None,
                                         "split": {}, "error": ""}
                try:
                    entry["proposal"] = history.proposal_of(obj)
                    entry["split"] = routes_patch.split_of(rk.kind, obj)
                except BackendError as exc:
                    entry["error"] = str(exc)
                found.append(entry)
        return found

    def may_patch_route(self, kind: str, namespace: str, name: str = "") -> tuple[bool, str]:
        """(allowed, what is missing) for patching the route, asked of the cluster (SelfSubjectAccessReview)."""
        from console.backends.kubernetes import history, routes_patch
        rk = routes_patch.ROUTE_KINDS[kind]
        allowed, _why = history.may(self.connection().api, "patch", rk.group, rk.plural, namespace, name)
        return allowed, "" if allowed else history.missing_permission("patch", rk.group, rk.plural, namespace)

    def route_split(self, kind: str, obj: dict[str, Any]) -> dict[str, int]:
        from console.backends.kubernetes import routes_patch
        return routes_patch.split_of(kind, obj)

    def decide_route_proposal(self, verb: str, kind: str, namespace: str, name: str, *, reason: str = "",
                              read: dict[str, Any] | None = None, endpoint: str | None = None) -> ActionRecord:
        """Approve (`read`: the route as the approver saw it, whose resourceVersion the patch carries) or withdraw
        the route's pending proposal as this cluster identity; recorded in the console's audit log as approved,
        withdrawn or refused (the refusal re-raised)."""
        from console.backends.kubernetes import history
        from console.backends.kubernetes.routes_patch import ActionRecord
        me = self.cluster_identity()
        api = self.connection().api
        try:
            if verb == "approve":
                done = history.approve(api, kind, namespace, name, approver=me, reason=reason, read=read)
            else:
                done = history.withdraw(api, kind, namespace, name, actor=me, reason=reason)
        except BackendError as exc:
            try:
                proposal = history.proposal_of(read) if read is not None else None
            except BackendError:
                proposal = None
            refused = ActionRecord(cluster="", namespace=namespace, kind=kind, name=name,
                                   action=f"traffic-{verb}", actor=me, reason=f"{reason}; refused: {exc}".lstrip("; "),
                                   before=(proposal or {}).get("before"), after=(proposal or {}).get("after"),
                                   confirmation="refused")
            try:
                self.record(refused, outcome="refused", endpoint=endpoint, identity=me)
            except BackendError as audit_failed:  # the cluster's refusal is what the person must see
                raise exc.__class__(f"{exc} (and the console's audit log could not record it: {audit_failed})") \
                    from exc
            raise
        try:
            self.record(done, outcome="approved" if verb == "approve" else "withdrawn", endpoint=endpoint,
                        identity=me)
        except BackendError as audit_failed:  # done on the cluster: say so, and that the record is missing
            done = ActionRecord(**{**done.__dict__, "confirmation": f"{done.confirmation}; not in the console's "
                                                                    f"audit log: {audit_failed}"})
        return done


UNROUTED = "{namespace} · no route"


def _unrouted(namespace: str, found: list[tuple[DeploymentStatus, Any]], index: Index
              ) -> tuple[EndpointStatus, ep.EndpointRef]:
    """The Deployments of `namespace` that no route sends traffic to, as one inventory entry with no
    split: their details, pods, logs and rollback are reachable; a traffic change is not offered."""
    name = UNROUTED.format(namespace=namespace)
    deployments = [d.model_copy(update={"endpoint": name}) for d, _ in found]
    status = EndpointStatus(
        name=name, description=f"Deployments in namespace {namespace} that no HTTPRoute, VirtualService, "
                               "InferenceService, Rollout or Canary routes to", traffic={}, mirror={}, revision=0,
        applied_revision=0, scoring_uri="", deployments=deployments,
        created=min(d.created for d in deployments))
    ref = ep.EndpointRef("v1", "Namespace", namespace, namespace, "", 0,
                         workloads={d.name: workload(dep, index) for d, dep in found})
    return status, ref


def _orphan(dep: dict[str, Any], index: Index) -> DeploymentStatus:
    w = workload(dep, index)
    return deployment_status(w.name, "", w, service_url(label(w.name), w.namespace), created(dep))
