"""The engine's rollout runner: progressive rollouts that run inside the engine process.

One asyncio task ticks every TICK_S: for each active rollout (at most one per endpoint) it
runs the analysis when due (from the engine's own per-second telemetry), then lets the
state machine (console/domain/rollout.py) decide. A decided split goes through the engine's
own `set_traffic` (a revision and its audit event, actor `rollout:<id>`); the rollout's new
state and its audit events are committed together, in one SQLite transaction, once the split
is applied. Rollouts live in the `rollouts` table of the engine's state database; after a
restart the active ones go on where they were (`rollout.restore` in the audit log).

While a rollout is active, hand-made traffic changes and rollbacks of its endpoint are
refused (409, naming the rollout): pause, abort or promote the rollout instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from console.domain import rollout as machine
from console.domain.models import DeploymentState, EndpointStatus
from console.domain.rollout import Rollout, RolloutError, Transition
from console.domain.rollout_plan import Measured, PlanError, RolloutPlan, measure, parse_plan, plan_from_data, resolve
from console.domain.telemetry import Sample
from console.engine.errors import EngineError

if TYPE_CHECKING:
    from console.engine.core import Engine

log = logging.getLogger(__name__)

TICK_S = 0.25
ACTIONS = ("pause", "resume", "approve", "abort", "promote")
SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (
    id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, active INTEGER NOT NULL, state TEXT NOT NULL,
    created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rollouts_by_endpoint ON rollouts (endpoint, created);
"""


def _error(status: int, message: str, **detail: Any) -> EngineError:
    return EngineError(status, message, **detail)


def _samples(history: list[dict[str, Any]], endpoint: str, deployment: str) -> list[Sample]:
    """The engine's telemetry dicts of one deployment's live traffic, as domain Samples."""
    return [
        Sample(time=s["time"], endpoint=endpoint, deployment=deployment, requests=s["requests"],
               errors_4xx=s["errors_4xx"], errors_5xx=s["errors_5xx"], latency_ms=s["latency_ms"])
        for s in history
        if s["endpoint"] == endpoint and s["deployment"] == deployment and not s["mirror"]
    ]


class Rollouts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.store.db.executescript(SCHEMA)
        self._active: dict[str, Rollout] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- life ----------------------------------------------------------------------

    def restore(self, now: float | None = None) -> None:
        """The active rollouts of the last run go on (see machine.restored)."""
        now = time.time() if now is None else now
        for row in self.store.db.execute("SELECT state FROM rollouts WHERE active = 1 ORDER BY created"):
            r = Rollout.model_validate_json(row["state"])
            latest = self.store.latest_revision(r.plan.endpoint)
            self._commit(r, machine.restored(r, now, latest.traffic if latest else {}))

    def start_runner(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.tick(time.time())
            except Exception:  # one bad tick must not end every rollout's supervision
                log.exception("rollout tick failed")

    async def tick(self, now: float) -> None:
        async with self._lock:
            for endpoint in list(self._active):
                r = self._active[endpoint]
                if machine.analysis_due(r, now):
                    candidate, baseline = self._measure(r, now)
                    observed = machine.observe(r, candidate, baseline, now)
                    self._commit(r, observed)
                    r = observed.state
                decided = machine.advance(r, now)
                if decided.state is not r:
                    await self._apply(r, decided, now)

    # -- reading -------------------------------------------------------------------

    def _measure(self, r: Rollout, now: float) -> tuple[Measured, Measured]:
        analysis = r.plan.analysis
        history = self.engine.telemetry.recent(analysis.window_s + 2, now)
        endpoint = r.plan.endpoint
        return (measure(analysis, _samples(history, endpoint, r.candidate), now),
                measure(analysis, _samples(history, endpoint, r.baseline), now))

    def active(self, endpoint: str) -> Rollout | None:
        return self._active.get(endpoint)

    def latest(self, endpoint: str) -> Rollout | None:
        found = self._active.get(endpoint)
        if found is not None:
            return found
        row = self.store.db.execute(
            "SELECT state FROM rollouts WHERE endpoint = ? ORDER BY created DESC LIMIT 1", (endpoint,)).fetchone()
        return Rollout.model_validate_json(row["state"]) if row is not None else None

    def status(self, endpoint: str) -> dict[str, Any]:
        self.engine.endpoint(endpoint)  # 404 for an unknown endpoint
        r = self.latest(endpoint)
        if r is None:
            raise _error(404, f"no rollout has run on endpoint {endpoint!r} "
                         "(start one: switchboard rollout start -f plan.yaml)")
        return machine.status(r, time.time())

    def statuses(self) -> list[dict[str, Any]]:
        now = time.time()
        found = [self.latest(name) for name in self.engine.endpoint_names()]
        return [machine.status(r, now) for r in found if r is not None]

    def check_manual(self, endpoint: str) -> None:
        """Refuse a hand-made change of an endpoint under rollout."""
        r = self._active.get(endpoint)
        if r is not None:
            raise _error(
                409, f"endpoint {endpoint!r} is under rollout {r.id} ({machine.describe(r)}): a change by hand "
                f"would fight it; abort the rollout (100% back to {r.baseline}) or promote it "
                f"(100% to {r.candidate}) first: switchboard rollout abort|promote {endpoint}",
                rollout=machine.status(r, time.time()),
            )

    # -- changing ------------------------------------------------------------------

    async def begin(self, endpoint: str, source: str | dict[str, Any], actor: str, reason: str) -> dict[str, Any]:
        """Start a rollout from a plan: YAML text or a parsed mapping (its endpoint defaults to this one)."""
        attempt = {"plan": source}
        async with self._lock:
            with self.engine._audit_refusal(actor, "rollout.start", endpoint, None, attempt, reason):
                status = self.engine.endpoint(endpoint)
                # a rollout changes the split step by step without a proposal: not where approval is required
                self.engine.approvals.refuse_unapproved(endpoint)
                try:
                    if isinstance(source, str):
                        plan = parse_plan(source, "plan")
                    else:
                        plan = plan_from_data({"endpoint": endpoint, **source}, "plan")
                except PlanError as exc:
                    raise _error(422, "; ".join(exc.problems), problems=exc.problems) from None
                if plan.endpoint != endpoint:
                    raise _error(422, f"the plan is for endpoint {plan.endpoint!r}, not {endpoint!r}")
                running = self._active.get(endpoint)
                if running is not None:
                    raise _error(409, f"endpoint {endpoint!r} already has rollout {running.id} "
                                 f"({machine.describe(running)}): one rollout per endpoint",
                                 rollout=machine.status(running, time.time()))
                resolved = self._check(plan, status)
                number = self.store.db.execute("SELECT COUNT(*) AS n FROM rollouts WHERE endpoint = ?",
                                               (endpoint,)).fetchone()["n"] + 1
                now = time.time()
                pending = machine.begin(f"{endpoint}-{number}", resolved, actor, reason, status.traffic, now)
                started = machine.start(pending, now)
                assert started.split is not None
                await self._set_split(pending, started.split, started.records[-1].reason)
                self._commit(pending, started)
            return machine.status(started.state, now)

    @staticmethod
    def _check(plan: RolloutPlan, status: EndpointStatus) -> RolloutPlan:
        """The plan resolved against the endpoint, or a 422 listing every problem."""
        members = {d.name: d for d in status.deployments}
        problems = [f"{role}: {name!r} is not a deployment of endpoint {status.name!r} "
                    f"(deployments: {', '.join(sorted(members)) or 'none'})"
                    for role, name in (("candidate", plan.candidate), ("baseline", plan.baseline))
                    if name is not None and name not in members]
        resolved = None
        try:
            resolved = resolve(plan, status.slo, status.traffic)
        except PlanError as exc:
            problems += exc.problems
        roles = [("candidate", plan.candidate)] + ([("baseline", resolved.baseline)] if resolved else [])
        for role, name in roles:
            if name in members and members[name].state != DeploymentState.READY:
                problems.append(f"{role}: {name!r} is {members[name].state.value}, not Ready")
        if problems or resolved is None:
            raise _error(422, "; ".join(problems), problems=problems)
        return resolved

    async def act(self, endpoint: str, action: str, actor: str, reason: str) -> dict[str, Any]:
        if action not in ACTIONS:
            raise _error(404, f"no rollout action {action!r} (actions: {', '.join(ACTIONS)})")
        async with self._lock:
            with self.engine._audit_refusal(actor, f"rollout.{action}", endpoint, None, {"action": action}, reason):
                self.engine.endpoint(endpoint)
                r = self._active.get(endpoint)
                if r is None:
                    last = self.latest(endpoint)
                    ended = f" (the last one, {last.id}, {last.phase})" if last is not None else ""
                    raise _error(409, f"no rollout is in progress on endpoint {endpoint!r}{ended}")
                now = time.time()
                try:
                    decided: Transition = getattr(machine, action)(r, actor, reason, now)
                except RolloutError as exc:
                    raise _error(409, str(exc), rollout=machine.status(r, now)) from None
                if decided.split is not None:
                    await self._set_split(r, decided.split, decided.records[-1].reason)
                self._commit(r, decided)
            return machine.status(decided.state, now)

    async def _apply(self, before: Rollout, decided: Transition, now: float) -> None:
        """Set the decided split, then commit; a refused split is recorded (machine.split_failed)."""
        if decided.split is not None:
            try:
                await self._set_split(before, decided.split, decided.records[-1].reason)
            except EngineError as exc:
                message = exc.message
                log.warning("rollout %s: split %s refused: %s", before.id, decided.split, message)
                self._commit(before, machine.split_failed(before, decided, message, now))
                return
        self._commit(before, decided)

    async def _set_split(self, r: Rollout, traffic: dict[str, int], reason: str) -> None:
        endpoint = r.plan.endpoint
        latest = self.store.latest_revision(endpoint)
        assert latest is not None
        mirror = {n: w for n, w in latest.mirror.items() if traffic.get(n, 0) == 0}
        await self.engine.set_traffic(endpoint, str(latest.number), traffic, mirror, reason, r.me, by_rollout=True)

    def _commit(self, before: Rollout, decided: Transition) -> None:
        """The rollout's state and its audit events, in one transaction."""
        r = decided.state
        was = {"phase": before.phase, "step": before.step, "weight": before.weight, "failures": before.failures}
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO rollouts (id, endpoint, active, state, created) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET active = excluded.active, state = excluded.state",
                (r.id, r.plan.endpoint, int(r.active), r.model_dump_json(), r.created),
            )
            for record in decided.records:
                self.store.append_audit(
                    db, record.actor, record.action, record.outcome, endpoint=r.plan.endpoint,
                    deployment=r.candidate, before=was, after=json.loads(json.dumps(record.after, default=str)),
                    reason=record.reason,
                )
        if r.active:
            self._active[r.plan.endpoint] = r
        else:
            self._active.pop(r.plan.endpoint, None)
