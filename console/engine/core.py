"""The engine's state machine: desired state, mutations, and their application.

Every mutation runs under one lock: check, commit (revision + audit event in one SQLite
transaction), then apply to the router by swapping its route table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.domain.models import (
    DeploymentSpec,
    DeploymentState,
    DeploymentStatus,
    EndpointSpec,
    EndpointStatus,
    Revision,
    Slo,
)
from console.domain.specs import Spec
from console.domain.split import split_problems
from console.engine.approvals import Approvals
from console.engine.errors import EngineError as EngineError
from console.engine.errors import parse_object_or_null
from console.engine.hoststats import HostStats, gpus_for
from console.engine.logs import LogHub
from console.engine.records import Records
from console.engine.rollouts import Rollouts
from console.engine.router import Router, RouteTable
from console.engine.store import Store
from console.engine.supervisor import Supervisor, resolve_paths
from console.engine.telemetry import Telemetry


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "none"


def parse_if_match(value: str | None) -> int:
    if value is None or not value.strip():
        raise EngineError(428, "If-Match header with the endpoint's current revision is required")
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise EngineError(400, f"If-Match must be a revision number, got {value!r}")
    return int(text)


NO_SLO_BODY = "send an SLO object (percentile, latency_ms, error_rate_percent, window_s), or null to clear it"


def parse_slo(raw: bytes) -> Slo | None:
    """A PUT body: an SLO object as JSON, or null to clear it."""
    return parse_object_or_null(raw, Slo, NO_SLO_BODY)


def _attempt(raw: bytes) -> Any:
    """What a refused SLO body said, for its audit event."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:2000].decode(errors="replace")


class Engine:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.store = Store(state_dir / "state.db")
        self.logs = LogHub(state_dir / "logs")
        self.supervisor = Supervisor(self.logs)
        self.stats = HostStats()
        self.telemetry = Telemetry(extra=self._extra_figures)
        self.router = Router(self.supervisor, self.telemetry, self.logs)
        self.data_url = ""
        self.lock = asyncio.Lock()
        self._endpoints: dict[str, tuple[EndpointSpec, str, datetime]] = {}
        self._gpus: list[dict[str, Any]] | None = None
        self.approvals = Approvals(self)  # proposals and their approval (console/engine/approvals.py)
        self.records = Records(self)  # figures before and after each change, release records
        self.rollouts = Rollouts(self)  # progressive rollouts run by the engine (console/engine/rollouts.py)

    # -- life ----------------------------------------------------------------------

    async def start(self) -> None:
        """Restore every endpoint, deployment and the last committed split."""
        await self.supervisor.start()
        self._endpoints = self.store.endpoints()
        for spec, created in self.store.deployments().values():
            self.supervisor.ensure(spec, created)
        for name in self._endpoints:
            self._install(name)
        self.rollouts.restore()
        self.rollouts.start_runner()

    async def stop(self) -> None:
        await self.rollouts.stop()
        await self.supervisor.shutdown()
        self.logs.close()
        self.store.close()

    def tick(self) -> None:
        self.logs.flush()
        self.approvals.settle()
        self.records.tick()
        self._gpus = self.stats.gpus()
        deployments = self.supervisor.deployments.values()
        self.stats.retain({r.pid for d in deployments for r in d.replicas if r.pid is not None})
        pairs = [(d.spec.endpoint, d.spec.name) for d in self.supervisor.deployments.values()]
        self.telemetry.tick(pairs)
        metrics = self.telemetry.metrics
        for dep in self.supervisor.deployments.values():
            status = dep.status()
            metrics.ready.labels(dep.spec.endpoint, dep.spec.name).set(status.replicas_ready)
            metrics.desired.labels(dep.spec.endpoint, dep.spec.name).set(status.replicas_desired)
        for name in self._endpoints:
            latest = self.store.latest_revision(name)
            for dep_name in self._members(name):
                weight = latest.traffic.get(dep_name, 0) if latest else 0
                metrics.weight.labels(name, dep_name).set(weight)

    def _extra_figures(self, endpoint: str, deployment: str) -> dict[str, Any]:
        dep = self.supervisor.deployments.get(deployment)
        if dep is None:
            return {"replicas_ready": 0, "replicas_desired": 0, "cpu_percent": 0.0, "rss_bytes": 0, "gpus": None}
        status = dep.status()
        pids = {r.id: r.pid for r in dep.replicas if r.pid is not None}
        cpu, rss = self.stats.processes(list(pids.values()))
        return {
            "replicas_ready": status.replicas_ready, "replicas_desired": status.replicas_desired,
            "cpu_percent": cpu, "rss_bytes": rss, "gpus": gpus_for(self._gpus, pids),
        }

    # -- reading -------------------------------------------------------------------

    def _members(self, endpoint: str) -> list[str]:
        return sorted(d.spec.name for d in self.supervisor.deployments.values() if d.spec.endpoint == endpoint)

    def _install(self, endpoint: str) -> None:
        _, key, _ = self._endpoints[endpoint]
        latest = self.store.latest_revision(endpoint)
        traffic, mirror, number = (latest.traffic, latest.mirror, latest.number) if latest else ({}, {}, 0)
        self.router.install(RouteTable.build(endpoint, number, key, traffic, mirror, set(self._members(endpoint))))

    def endpoint_names(self) -> list[str]:
        return sorted(self._endpoints)

    def endpoint(self, name: str) -> EndpointStatus:
        if name not in self._endpoints:
            raise EngineError(404, f"no endpoint named {name!r} (endpoints: {_names(self._endpoints)})",
                              known=sorted(self._endpoints))
        spec, _, created = self._endpoints[name]
        latest = self.store.latest_revision(name)
        return EndpointStatus(
            name=name, description=spec.description, production=spec.production, slo=spec.slo, policy=spec.policy,
            traffic=latest.traffic if latest else {}, mirror=latest.mirror if latest else {},
            revision=latest.number if latest else 0, applied_revision=self.router.applied_revision(name),
            routed=self.router.routed(name),
            scoring_uri=f"{self.data_url}/endpoints/{name}/score",
            deployments=[self.supervisor.deployments[d].status() for d in self._members(name)],
            created=created,
        )

    def deployment(self, name: str) -> DeploymentStatus:
        dep = self.supervisor.deployments.get(name)
        if dep is None:
            raise EngineError(404, f"no deployment named {name!r} (deployments: {_names(self.supervisor.deployments)})",
                              known=sorted(self.supervisor.deployments))
        return dep.status()

    def key(self, endpoint: str) -> str:
        if endpoint not in self._endpoints:
            raise EngineError(404, f"no endpoint named {endpoint!r}")
        return self._endpoints[endpoint][1]

    def revisions(self, endpoint: str) -> list[Revision]:
        self.endpoint(endpoint)
        return self.store.revisions(endpoint)

    # -- mutations -----------------------------------------------------------------

    async def apply(self, specs: list[Spec], actor: str, base_dir: Path | None) -> dict[str, list[str]]:
        """Create or update; unchanged documents change nothing. Answers what changed."""
        async with self.lock:
            return self._apply(specs, actor, base_dir)

    def _apply(self, specs: list[Spec], actor: str, base_dir: Path | None) -> dict[str, list[str]]:
        endpoints = [s for s in specs if isinstance(s, EndpointSpec)]
        deployments = [resolve_paths(s, base_dir) for s in specs if isinstance(s, DeploymentSpec)]
        problems = self._apply_problems(endpoints, deployments)
        if problems:
            raise EngineError(422, "; ".join(problems), problems=problems)
        existing = self.store.deployments()
        changed: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
        with self.store.transaction() as db:
            for spec in endpoints:
                before = self._endpoints.get(spec.name)
                if before is not None and "slo" not in spec.model_fields_set:
                    spec = spec.model_copy(update={"slo": before[0].slo})  # no `slo:` keeps the SLO set
                if before is not None and "policy" not in spec.model_fields_set:
                    spec = spec.model_copy(update={"policy": before[0].policy})  # and no `policy:` the policy
                if before is not None and before[0] == spec:
                    changed["unchanged"].append(f"endpoint/{spec.name}")
                    continue
                self.store.put_endpoint(db, spec)
                kind = "updated" if before else "created"
                changed[kind].append(f"endpoint/{spec.name}")
                self.store.append_audit(
                    db, actor, f"endpoint.{'update' if before else 'create'}", "ok", endpoint=spec.name,
                    before=before[0].model_dump() if before else None, after=spec.model_dump(),
                )
                if before is None:
                    self.store.add_revision(db, spec.name, spec.traffic, spec.mirror, actor, "created", "create")
            for dspec in deployments:
                old = existing.get(dspec.name)
                if old is not None and old[0] == dspec:
                    changed["unchanged"].append(f"deployment/{dspec.name}")
                    continue
                self.store.put_deployment(db, dspec)
                changed["updated" if old else "created"].append(f"deployment/{dspec.name}")
                self.store.append_audit(
                    db, actor, f"deployment.{'update' if old else 'create'}", "ok", endpoint=dspec.endpoint,
                    deployment=dspec.name, before=old[0].model_dump() if old else None, after=dspec.model_dump(),
                )
        self._endpoints = self.store.endpoints()
        stored = self.store.deployments()
        for dspec in deployments:
            self.supervisor.ensure(dspec, stored[dspec.name][1])  # the stored creation time, as after a restart
        for name in {s.name for s in endpoints} | {d.endpoint for d in deployments}:
            self._install(name)
        return changed

    def _apply_problems(self, endpoints: list[EndpointSpec], deployments: list[DeploymentSpec]) -> list[str]:
        problems = []
        known_endpoints = set(self._endpoints) | {e.name for e in endpoints}
        names = [s.name for s in endpoints] + [d.name for d in deployments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"names appear more than once in this apply: {dupes}")
        for dspec in deployments:
            if dspec.endpoint not in known_endpoints:
                problems.append(f"deployment {dspec.name!r}: endpoint {dspec.endpoint!r} does not exist")
            current = self.supervisor.deployments.get(dspec.name)
            if current is not None and current.spec.endpoint != dspec.endpoint:
                problems.append(
                    f"deployment {dspec.name!r} belongs to endpoint {current.spec.endpoint!r}; "
                    "it cannot move to another endpoint"
                )
            if current is not None and current.deleting:
                problems.append(f"deployment {dspec.name!r} is being deleted")
        for espec in endpoints:
            if espec.name in self._endpoints:
                continue
            members = set(self._members(espec.name)) | {d.name for d in deployments if d.endpoint == espec.name}
            if espec.traffic or espec.mirror:
                found = split_problems(espec.traffic, espec.mirror, members)
                problems += [f"endpoint {espec.name!r}: {p}" for p in found]
        return problems

    def _ready(self, endpoint: str) -> set[str]:
        return {
            d.spec.name for d in self.supervisor.deployments.values()
            if d.spec.endpoint == endpoint and d.state == DeploymentState.READY
        }

    def _check_revision(self, endpoint: str, if_match: str | None) -> Revision:
        status = self.endpoint(endpoint)
        wanted = parse_if_match(if_match)
        latest = self.store.latest_revision(endpoint)
        assert latest is not None
        if wanted != latest.number:
            raise EngineError(
                409,
                f"endpoint {endpoint!r} is at revision {latest.number}, not {wanted}: it changed since you read it",
                current=status.model_dump(mode="json"),
            )
        return latest

    async def set_traffic(
        self, endpoint: str, if_match: str | None, traffic: dict[str, int], mirror: dict[str, int],
        reason: str, actor: str, by_rollout: bool = False,
    ) -> EndpointStatus:
        attempt = {"if_match": if_match, "traffic": traffic, "mirror": mirror}
        async with self.lock:
            with self._audit_refusal(actor, "traffic.shift", endpoint, None, attempt, reason):
                if not by_rollout:  # a rollout's own steps: its start was checked (rollouts.begin)
                    self.rollouts.check_manual(endpoint)  # under rollout: abort or promote it instead
                    self.approvals.refuse_unapproved(endpoint)  # policy.approval_required: propose instead
                latest = self._check_revision(endpoint, if_match)
                self._commit_split(endpoint, latest, traffic, mirror, reason, actor, "shift", None)
            return self.endpoint(endpoint)

    async def rollback(
        self, endpoint: str, if_match: str | None, to_revision: int | None, reason: str, actor: str
    ) -> EndpointStatus:
        attempt = {"if_match": if_match, "to_revision": to_revision}
        async with self.lock:
            with self._audit_refusal(actor, "traffic.rollback", endpoint, None, attempt, reason):
                self.rollouts.check_manual(endpoint)  # under rollout: abort it (100% back to its baseline)
                latest = self._check_revision(endpoint, if_match)
                history = {r.number: r for r in self.store.revisions(endpoint)}
                target_number = to_revision if to_revision is not None else latest.number - 1
                target = history.get(target_number)
                if target is None:
                    raise EngineError(
                        422, f"endpoint {endpoint!r} has no revision {target_number} to roll back to "
                        f"(revisions 1..{latest.number})",
                    )
                why = reason or f"rollback to revision {target.number}"
                self._commit_split(
                    endpoint, latest, target.traffic, target.mirror, why, actor, "rollback", target.number
                )
            return self.endpoint(endpoint)

    @contextlib.contextmanager
    def _audit_refusal(
        self, actor: str, action: str, endpoint: str | None, deployment: str | None, attempt: Any, reason: str
    ) -> Iterator[None]:
        """A refused mutation is an audit event too: who tried what, and why it was refused."""
        try:
            yield
        except EngineError as exc:
            if endpoint is not None and endpoint not in self._endpoints:
                raise  # nothing of that name: nothing to record it against
            with self.store.transaction() as db:
                self.store.append_audit(
                    db, actor, action, f"rejected ({exc.status}): {exc.message}", endpoint=endpoint,
                    deployment=deployment, before=None, after=attempt, reason=reason,
                )
            raise

    def _commit_split(
        self, endpoint: str, latest: Revision, traffic: dict[str, int], mirror: dict[str, int],
        reason: str, actor: str, kind: str, restores: int | None,
    ) -> None:
        problems = split_problems(traffic, mirror, self._members(endpoint), self._ready(endpoint))
        if problems:
            raise EngineError(422, "; ".join(problems), problems=problems)
        before = {"revision": latest.number, "traffic": latest.traffic, "mirror": latest.mirror}
        with self.store.transaction() as db:
            revision = self.store.add_revision(db, endpoint, traffic, mirror, actor, reason, kind, restores)
            self.store.append_audit(
                db, actor, f"traffic.{kind}", "ok", endpoint=endpoint, before=before,
                after={"revision": revision.number, "traffic": traffic, "mirror": mirror}, reason=reason,
            )
            self.records.changed(db, revision)  # figures of the window before now; after, later
        self._install(endpoint)

    async def set_slo(self, endpoint: str, raw: bytes, actor: str) -> EndpointStatus:
        """Set (an SLO object) or clear (null) the endpoint's SLO; refusals are audited too."""
        async with self.lock:
            with self._audit_refusal(actor, "endpoint.slo", endpoint, None, _attempt(raw), ""):
                self.endpoint(endpoint)
                slo = parse_slo(raw)
                spec = self._endpoints[endpoint][0]
                if spec.slo != slo:
                    with self.store.transaction() as db:
                        self.store.put_endpoint(db, spec.model_copy(update={"slo": slo}))
                        self.store.append_audit(
                            db, actor, "endpoint.slo", "ok", endpoint=endpoint,
                            before=spec.slo.model_dump() if spec.slo else None,
                            after=slo.model_dump() if slo else None,
                        )
                    self._endpoints = self.store.endpoints()
            return self.endpoint(endpoint)

    async def delete_deployment(self, name: str, actor: str, reason: str = "") -> None:
        """Refused while it has live or mirror share. The drain runs outside the mutation lock,
        so a rollback elsewhere is never held up by it."""
        async with self.lock:
            dep = self.supervisor.deployments.get(name)
            if dep is None:
                raise EngineError(404, f"no deployment named {name!r}", known=sorted(self.supervisor.deployments))
            endpoint = dep.spec.endpoint
            with self._audit_refusal(actor, "deployment.delete", endpoint, name, None, reason):
                if dep.deleting:
                    raise EngineError(409, f"deployment {name!r} is already being deleted")
                latest = self.store.latest_revision(endpoint)
                live = latest.traffic.get(name, 0) if latest else 0
                mirrored = latest.mirror.get(name, 0) if latest else 0
                if live or mirrored:
                    raise EngineError(
                        409, f"deployment {name!r} still has {live}% live and {mirrored}% mirror traffic on "
                        f"endpoint {endpoint!r}: shift its traffic away first",
                        current=self.endpoint(endpoint).model_dump(mode="json"),
                    )
            dep.deleting = True  # from here no split may give it traffic: it is not Ready
            before = dep.spec.model_dump()
        await self.supervisor.remove(name)
        async with self.lock:
            with self.store.transaction() as db:
                self.store.delete_deployment(db, name)
                self.store.append_audit(
                    db, actor, "deployment.delete", "ok", endpoint=endpoint, deployment=name,
                    before=before, after=None, reason=reason,
                )
            self._install(endpoint)

    def engine_info(self) -> dict[str, Any]:
        return {
            "data_url": self.data_url, "gpu": self.stats.has_gpu, "gpu_error": self.stats.gpu_error,
            "endpoints": len(self._endpoints), "deployments": len(self.supervisor.deployments),
            "now": datetime.now(UTC).isoformat(),
        }

