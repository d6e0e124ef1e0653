"""A progressive rollout as a state machine: pure, every time passed in.

    pending ──start──▶ progressing (step i: the candidate at its weight, baking, analysed)
    progressing ──bake over, last analysis passed──▶ next step │ paused (gate) │ succeeded (last step)
    progressing ──pause──▶ paused (manual) ──resume──▶ progressing
    paused (gate) ──approve──▶ next step │ succeeded
    any active ──`rollback_after` consecutive failed analyses──▶ rolled-back (100% to the baseline)
    any active ──abort──▶ aborted (100% to the baseline) │ ──promote──▶ succeeded (100% to the candidate)

Analyses go on while paused: a breach sustained at a gate or in a manual pause still rolls
back. An inconclusive analysis (too few requests) neither counts as a failure nor resets the
count, and never lets a step advance.

Each function answers a Transition: the new state, the live split to set first (if any) and
the audit records to write. The runner commits the state only once the split is applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from console.domain.rollout_plan import Check, Measured, RolloutPlan, Verdict, judge

Phase = Literal["pending", "progressing", "paused", "succeeded", "rolled-back", "aborted"]
ACTIVE: frozenset[str] = frozenset({"pending", "progressing", "paused"})
KEEP_ANALYSES = 120
KEEP_EVENTS = 500


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RolloutError(ValueError):
    """An action that the rollout's phase does not allow (HTTP 409)."""


class Pause(Frozen):
    kind: Literal["gate", "manual", "error"]
    by: str
    since: float
    reason: str = ""


class AnalysisResult(Frozen):
    time: float
    step: int
    weight: int
    verdict: Verdict
    failures: int = Field(description="consecutive failed analyses, this one included")
    candidate: Measured
    baseline: Measured | None = None
    checks: tuple[Check, ...] = ()


class Event(Frozen):
    """A step, pause or decision, for the progress view and the charts."""

    time: float
    action: str  # start, step, pause, resume, approve, rollback, abort, promote, succeeded, restore
    actor: str
    step: int
    weight: int
    reason: str = ""


class Rollout(Frozen):
    id: str
    plan: RolloutPlan = Field(description="as resolved at start: baseline named, thresholds set")
    actor: str = Field(description="who started it")
    reason: str = ""
    phase: Phase = "pending"
    step: int = Field(default=-1, description="index into plan.steps; -1 before the first")
    weight: int = Field(default=0, description="the candidate's live share as the rollout last set it")
    step_started: float | None = None
    pause: Pause | None = None
    failures: int = 0
    last_analysis: AnalysisResult | None = None
    analyses: tuple[AnalysisResult, ...] = ()
    events: tuple[Event, ...] = ()
    next_analysis_at: float = 0
    created: float
    finished: float | None = None
    outcome: str = Field(default="", description="how it ended, in words")
    traffic_before: dict[str, int] = Field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.phase in ACTIVE

    @property
    def me(self) -> str:
        return f"rollout:{self.id}"

    @property
    def candidate(self) -> str:
        return self.plan.candidate

    @property
    def baseline(self) -> str:
        assert self.plan.baseline is not None
        return self.plan.baseline


@dataclass(frozen=True)
class Record:
    """One audit event to write."""

    action: str
    actor: str
    reason: str
    after: Mapping[str, Any]
    outcome: str = "ok"


@dataclass(frozen=True)
class Transition:
    state: Rollout
    split: dict[str, int] | None = None  # the live split to set before the state counts
    records: tuple[Record, ...] = field(default=())


def split_for(r: Rollout, weight: int) -> dict[str, int]:
    """The candidate at `weight`, the baseline the rest; other deployments get no live share."""
    return {n: w for n, w in ((r.candidate, weight), (r.baseline, 100 - weight)) if w > 0}


def _event(r: Rollout, now: float, action: str, actor: str, reason: str, weight: int | None = None) -> Event:
    return Event(time=now, action=action, actor=actor, step=r.step, weight=r.weight if weight is None else weight,
                 reason=reason)


def _record(r: Rollout, action: str, actor: str, reason: str, **after: Any) -> Record:
    body = {"rollout": r.id, "phase": r.phase, "step": r.step, "weight": r.weight,
            "candidate": r.candidate, "baseline": r.baseline, **after}
    return Record(action, actor, reason, body)


def _with_event(r: Rollout, event: Event, **update: Any) -> Rollout:
    return r.model_copy(update={**update, "events": (*r.events, event)[-KEEP_EVENTS:]})


def _require(r: Rollout, allowed: set[str], doing: str) -> None:
    if r.phase not in allowed:
        raise RolloutError(f"rollout {r.id} of {r.plan.endpoint!r} is {describe(r)}: it cannot {doing}")


def describe(r: Rollout) -> str:
    """'progressing at step 2 of 4 (25% to fraud-v3)', 'paused at the gate of step 3 ...', 'rolled-back'."""
    where = f"step {r.step + 1} of {len(r.plan.steps)} ({r.weight}% to {r.candidate})"
    if r.phase == "paused" and r.pause is not None:
        what = {"gate": "waiting for approval at", "manual": "paused by hand at",
                "error": "paused by an error at"}[r.pause.kind]
        return f"{what} {where}"
    if r.phase == "progressing":
        return f"progressing at {where}"
    return r.phase


def begin(rollout_id: str, plan: RolloutPlan, actor: str, reason: str, traffic: dict[str, int],
          now: float) -> Rollout:
    """A pending rollout of a resolved plan (see rollout_plan.resolve)."""
    if plan.baseline is None:
        raise ValueError("resolve the plan first: it names no baseline")
    return Rollout(id=rollout_id, plan=plan, actor=actor, reason=reason, created=now, traffic_before=dict(traffic))


def _to_step(r: Rollout, index: int, now: float, actor: str, reason: str,
             records: tuple[Record, ...] = ()) -> Transition:
    weight = r.plan.steps[index].weight
    moved = r.model_copy(update={"phase": "progressing", "step": index, "weight": weight, "step_started": now,
                                 "pause": None})
    why = reason or f"step {index + 1} of {len(r.plan.steps)}: {weight}% to {r.candidate}"
    state = _with_event(moved, _event(moved, now, "step", actor, why))
    step = _record(state, "rollout.step", actor, why, traffic=split_for(r, weight), bake_s=r.plan.bake(index),
                   gate=r.plan.gated(index))
    return Transition(state, split_for(r, weight), (*records, step))


def start(r: Rollout, now: float) -> Transition:
    _require(r, {"pending"}, "start")
    started = _with_event(r, _event(r, now, "start", r.actor, r.reason),
                          next_analysis_at=now + r.plan.analysis.interval_s)
    record = _record(started, "rollout.start", r.actor, r.reason, plan=r.plan.model_dump(mode="json"),
                     traffic_before=r.traffic_before)
    return _to_step(started, 0, now, started.me, "", (record,))


def analysis_due(r: Rollout, now: float) -> bool:
    return r.phase in ("progressing", "paused") and now >= r.next_analysis_at


def observe(r: Rollout, candidate: Measured, baseline: Measured | None, now: float) -> Transition:
    """Judge one analysis: the failure count moves, nothing else does (see `advance`)."""
    _require(r, {"progressing", "paused"}, "be analysed")
    verdict, checks = judge(r.plan.analysis, r.weight, candidate, baseline)
    failures = r.failures + 1 if verdict == "fail" else 0 if verdict == "pass" else r.failures
    result = AnalysisResult(time=now, step=r.step, weight=r.weight, verdict=verdict, failures=failures,
                            candidate=candidate, baseline=baseline, checks=checks)
    state = r.model_copy(update={
        "failures": failures, "last_analysis": result, "analyses": (*r.analyses, result)[-KEEP_ANALYSES:],
        "next_analysis_at": now + r.plan.analysis.interval_s})
    reason = "; ".join(c.text for c in checks)
    record = _record(state, "rollout.analysis", r.me, reason, analysis=result.model_dump(mode="json"))
    outcome = "ok" if verdict == "pass" else verdict
    return Transition(state, None, (Record(record.action, record.actor, record.reason, record.after, outcome),))


def _breach_text(r: Rollout) -> str:
    failed = [c.text for c in r.last_analysis.checks if c.status == "fail"] if r.last_analysis else []
    return (f"{r.failures} consecutive failed analyses ({', '.join(failed) or 'see the analyses'}): "
            f"100% back to {r.baseline}")


def _finish(r: Rollout, now: float, phase: Phase, action: str, actor: str, reason: str, weight: int,
            outcome: str) -> Transition:
    done = r.model_copy(update={"phase": phase, "weight": weight, "finished": now, "pause": None,
                                "outcome": outcome})
    state = _with_event(done, _event(done, now, action.removeprefix("rollout."), actor, reason))
    split = split_for(r, weight)
    return Transition(state, split, (_record(state, action, actor, reason, traffic=split),))


def advance(r: Rollout, now: float) -> Transition:
    """What time and the analyses decide: roll back, move on, wait at a gate, succeed, or nothing."""
    if r.active and r.phase != "pending" and r.failures >= r.plan.analysis.rollback_after:
        text = _breach_text(r)
        return _finish(r, now, "rolled-back", "rollout.rollback", r.me, text, 0, f"rolled back: {text}")
    if r.phase != "progressing" or r.step_started is None:
        return Transition(r)
    if now - r.step_started < r.plan.bake(r.step):
        return Transition(r)
    last = r.last_analysis
    if last is None or last.time < r.step_started or last.verdict != "pass" or r.failures:
        return Transition(r)
    if r.plan.gated(r.step):
        why = f"gate at step {r.step + 1} ({r.weight}% to {r.candidate}): waiting for approval"
        paused = r.model_copy(update={"phase": "paused", "pause": Pause(kind="gate", by=r.me, since=now, reason=why)})
        state = _with_event(paused, _event(paused, now, "pause", r.me, why))
        return Transition(state, None, (_record(state, "rollout.pause", r.me, why, kind="gate"),))
    return _next(r, now, r.me, "")


def _next(r: Rollout, now: float, actor: str, reason: str, records: tuple[Record, ...] = ()) -> Transition:
    if r.step + 1 < len(r.plan.steps):
        return _to_step(r, r.step + 1, now, actor, reason, records)
    why = reason or f"every step passed: {r.candidate} serves 100%"
    done = r.model_copy(update={"phase": "succeeded", "finished": now, "pause": None, "outcome": why})
    state = _with_event(done, _event(done, now, "succeeded", actor, why))
    return Transition(state, None, (*records, _record(state, "rollout.succeeded", actor, why)))


def pause(r: Rollout, actor: str, reason: str, now: float) -> Transition:
    _require(r, {"progressing"}, "be paused")
    why = reason or "paused by hand"
    paused = r.model_copy(update={"phase": "paused", "pause": Pause(kind="manual", by=actor, since=now, reason=why)})
    state = _with_event(paused, _event(paused, now, "pause", actor, why))
    return Transition(state, None, (_record(state, "rollout.pause", actor, why, kind="manual"),))


def resume(r: Rollout, actor: str, reason: str, now: float) -> Transition:
    _require(r, {"paused"}, "be resumed")
    assert r.pause is not None
    if r.pause.kind == "gate":
        raise RolloutError(f"rollout {r.id} of {r.plan.endpoint!r} is {describe(r)}: approve the gate to go on")
    why = reason or "resumed"
    # the time spent paused does not count as baking: the step bakes afresh
    resumed = r.model_copy(update={"phase": "progressing", "pause": None, "step_started": now})
    state = _with_event(resumed, _event(resumed, now, "resume", actor, why))
    return Transition(state, None, (_record(state, "rollout.resume", actor, why, paused=r.pause.model_dump()),))


def approve(r: Rollout, actor: str, reason: str, now: float) -> Transition:
    if r.phase != "paused" or r.pause is None or r.pause.kind != "gate":
        raise RolloutError(f"rollout {r.id} of {r.plan.endpoint!r} is {describe(r)}: there is no gate to approve")
    why = reason or f"gate at step {r.step + 1} approved"
    state = _with_event(r, _event(r, now, "approve", actor, why))
    record = _record(state, "rollout.approve", actor, why)
    return _next(state, now, state.me, "", (record,))


def abort(r: Rollout, actor: str, reason: str, now: float) -> Transition:
    _require(r, set(ACTIVE), "be aborted")
    why = reason or "aborted by hand"
    return _finish(r, now, "aborted", "rollout.abort", actor, why, 0, f"aborted by {actor}: {why}; "
                   f"100% back to {r.baseline}")


def promote(r: Rollout, actor: str, reason: str, now: float) -> Transition:
    _require(r, set(ACTIVE), "be promoted")
    why = reason or "promoted by hand"
    return _finish(r, now, "succeeded", "rollout.promote", actor, why, 100, f"promoted by {actor}: {why}; "
                   f"100% to {r.candidate}")


def split_failed(before: Rollout, attempted: Transition, error: str, now: float) -> Transition:
    """The split of `attempted` was refused (a deployment not Ready, say). A step that could not
    be set pauses the rollout (kind error); a rollback, abort or promotion leaves it as it was,
    so an automatic rollback is tried again at the next tick. Either way it is recorded."""
    action = attempted.records[-1].action if attempted.records else "rollout.step"
    failed = Record(action, attempted.records[-1].actor if attempted.records else before.me,
                    f"the split could not be set: {error}", {"rollout": before.id, "traffic": attempted.split},
                    outcome=f"failed: {error}")
    if attempted.state.phase not in ACTIVE or not before.active or before.phase == "pending":
        return Transition(before, None, (failed,))
    why = f"could not set {attempted.state.weight}% to {before.candidate}: {error}"
    paused = before.model_copy(update={"phase": "paused", "pause": Pause(kind="error", by=before.me, since=now,
                                                                         reason=why)})
    state = _with_event(paused, _event(paused, now, "pause", before.me, why))
    return Transition(state, None, (failed, _record(state, "rollout.pause", before.me, why, kind="error")))


def restored(r: Rollout, now: float, live: Mapping[str, int]) -> Transition:
    """The engine restarted: the rollout goes on where it was. Its telemetry is gone, so the
    analyses are inconclusive until a window has filled again, and no step advances before.
    If the live split is not the one the rollout last set (the engine stopped between setting
    a split and recording it), it pauses (kind error) for a person to resume or abort it."""
    expected = split_for(r, r.weight) if r.phase != "pending" else dict(r.traffic_before)
    why = f"engine restarted: the rollout goes on, {describe(r)}"
    update: dict[str, Any] = {"next_analysis_at": now + r.plan.analysis.interval_s}
    if {n: w for n, w in live.items() if w > 0} != expected and r.phase in ("progressing", "paused"):
        why = (f"engine restarted: the live split {dict(live)} is not the rollout's {expected}; "
               "paused: resume to go on from here, or abort")
        update.update(phase="paused", pause=Pause(kind="error", by="engine", since=now, reason=why))
    state = _with_event(r, _event(r, now, "restore", "engine", why), **update)
    return Transition(state, None, (_record(state, "rollout.restore", "engine", why),))


def status(r: Rollout, now: float) -> dict[str, Any]:
    """The rollout as the API answers it: the state plus what a progress view needs."""
    body: dict[str, Any] = r.model_dump(mode="json")
    bake_left = None
    if r.phase == "progressing" and r.step_started is not None:
        bake_left = max(0.0, r.plan.bake(r.step) - (now - r.step_started))
    steps = [{"weight": s.weight, "bake_s": r.plan.bake(i), "gate": r.plan.gated(i)}
             for i, s in enumerate(r.plan.steps)]
    body.update({"endpoint": r.plan.endpoint, "candidate": r.candidate, "baseline": r.baseline,
                 "active": r.active, "description": describe(r), "steps": steps, "bake_left_s": bake_left,
                 "traffic": split_for(r, r.weight) if r.phase != "pending" else r.traffic_before, "now": now})
    return body
