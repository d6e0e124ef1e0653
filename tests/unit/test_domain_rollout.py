"""Rollout plans (console/domain/rollout_plan.py) and the rollout state machine
(console/domain/rollout.py): parsing with field and line, resolution against the endpoint,
the analysis verdicts, and every transition with the decisions it makes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.domain import rollout as m
from console.domain.models import Slo
from console.domain.rollout import Rollout, RolloutError, Transition
from console.domain.rollout_plan import (
    MAX_PLAN_BYTES,
    Analysis,
    Measured,
    PlanError,
    RolloutPlan,
    judge,
    measure,
    parse_plan,
    plan_from_data,
    resolve,
)
from console.domain.telemetry import Sample

PLAN = """\
kind: Rollout
endpoint: fraud
candidate: fraud-v3
steps: [10, {weight: 50, bake_s: 5, gate: true}, 100]
bake_s: 30
analysis: {latency_ms: 100, error_rate_percent: 1, window_s: 10, interval_s: 2, rollback_after: 2}
"""
SPLIT = {"fraud-v1": 90, "fraud-v2": 10}
GOOD = Measured(requests=100, latency_ms=20, error_rate_percent=0)
SLOW = Measured(requests=100, latency_ms=400, error_rate_percent=0)
FEW = Measured(requests=3, latency_ms=400, error_rate_percent=50)


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.yaml")
    return caught.value.problems


def resolved(text: str = PLAN, slo: Slo | None = None) -> RolloutPlan:
    return resolve(parse_plan(text), slo, SPLIT)


def running(text: str = PLAN, now: float = 1000.0) -> Rollout:
    return m.start(m.begin("fraud-1", resolved(text), "ann", "release", SPLIT, now), now).state


# ---------------------------------------------------------------- the plan

def test_a_plan_parses_with_numbers_and_mappings_as_steps() -> None:
    plan = parse_plan(PLAN)
    assert [s.weight for s in plan.steps] == [10, 50, 100]
    assert [plan.bake(i) for i in range(3)] == [30, 5, 30]
    assert [plan.gated(i) for i in range(3)] == [False, True, False]
    assert plan.baseline is None and plan.analysis.min_requests == 20 and plan.analysis.quantile == "p95"
    assert parse_plan("endpoint: e\ncandidate: c\nsteps: [100]\ngates: [100]\n").gated(0)


@pytest.mark.parametrize(("text", "expected"), [
    ("endpoint: fraud\ncandidate: v3\nsteps: [10, 10, 100]\n", "field 'steps' (line 3): steps must rise strictly"),
    ("endpoint: fraud\ncandidate: v3\nsteps: [10, 50]\n", "the last step must be 100"),
    ("endpoint: fraud\ncandidate: v3\nsteps: []\n", "field 'steps' (line 3): Tuple should have at least 1 item"),
    ("endpoint: fraud\ncandidate: v3\nsteps: [0, 100]\n", "field 'steps.0.weight' (line 3): Input should be greater"),
    ("endpoint: fraud\ncandidate: v3\nsteps:\n  - 10\n  - {weight: 100, bake_s: -1}\n",
     "field 'steps.1.bake_s' (line 5): Input should be greater than or equal to 0"),
    ("endpoint: fraud\ncandidate: v3\nbaseline: v3\nsteps: [100]\n", "the baseline and the candidate are both 'v3'"),
    ("endpoint: fraud\ncandidate: v3\nsteps: [10, 100]\ngates: [20]\n", "gates [20] are not weights of any step"),
    ("endpoint: fraud\ncandidate: v3\nsteps: [100]\nanalysis:\n  interval_s: 0\n",
     "field 'analysis.interval_s' (line 5): Input should be greater than or equal to 0.5"),
    ("endpoint: fraud\ncandidate: v3\nsteps: [100]\nanalysis: {percentile: p50}\n",
     "field 'analysis.percentile' (line 4)"),
    ("endpoint: fraud\ncandidate: v3\nsteps: [100]\nbake: 5\n",
     "field 'bake' (line 4): Extra inputs are not permitted"),
    ("endpoint: Fraud!\ncandidate: v3\nsteps: [100]\n", "field 'endpoint' (line 1): String should match pattern"),
    ("candidate: v3\nsteps: [100]\n", "field 'endpoint' (line 1): Field required"),
    ("kind: Endpoint\nendpoint: fraud\ncandidate: v3\nsteps: [100]\n", "field 'kind': must be 'Rollout'"),
    ("endpoint: fraud\nendpoint: other\n", "line 2: duplicate key 'endpoint'"),
    ("endpoint: fraud\nsteps: [10\n", "malformed YAML"),
    ("- 10\n- 100\n", "expected a mapping with endpoint, candidate and steps, got list"),
    ("endpoint: a\n---\nendpoint: b\n", "expected one plan document, found 2"),
    ("", "expected one plan document, found 0"),
])
def test_every_problem_names_the_field_and_its_line(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found
    assert all(p.startswith("plan.yaml") for p in found)


def test_a_huge_plan_is_refused() -> None:
    assert "at most" in problems("#" * (MAX_PLAN_BYTES + 1))[0]


def test_a_plan_from_json_data_names_fields_without_lines() -> None:
    plan = plan_from_data({"endpoint": "fraud", "candidate": "v3", "steps": [100]})
    assert plan.steps[0].weight == 100
    with pytest.raises(PlanError) as caught:
        plan_from_data({"endpoint": "fraud", "candidate": "v3", "steps": [50]})
    assert caught.value.problems == ["plan: field 'steps': the last step must be 100 (the candidate takes all the "
                                     "traffic), got 50"]


def test_resolve_names_the_baseline_and_takes_the_slo_when_the_plan_sets_no_threshold() -> None:
    slo = Slo(percentile="p99", latency_ms=250, error_rate_percent=2, window_s=60)
    plan = resolved("endpoint: fraud\ncandidate: fraud-v3\nsteps: [100]\n", slo)
    assert plan.baseline == "fraud-v1"
    assert (plan.analysis.percentile, plan.analysis.latency_ms, plan.analysis.error_rate_percent) == ("p99", 250, 2)
    assert plan.analysis.window_s == 30  # the plan's window, not the SLO's
    own = resolved(PLAN, slo)
    assert (own.analysis.percentile, own.analysis.latency_ms) == ("p99", 100)  # the plan's thresholds
    named = resolved("endpoint: fraud\ncandidate: fraud-v3\nbaseline: fraud-v2\nsteps: [100]\n"
                     "analysis: {latency_ratio: 1.5}\n")
    assert named.baseline == "fraud-v2" and named.analysis.percentile == "p95"


def test_resolve_refuses_a_plan_without_thresholds_or_baseline() -> None:
    with pytest.raises(PlanError) as caught:
        resolve(parse_plan("endpoint: fraud\ncandidate: fraud-v1\nsteps: [100]\n"), None, SPLIT)
    assert len(caught.value.problems) == 2
    assert "sets no thresholds and endpoint 'fraud' has no SLO" in caught.value.problems[0]
    assert "'fraud-v1' already has the largest share" in caught.value.problems[1]


# ---------------------------------------------------------------- the analysis

def analysis(**kw: Any) -> Analysis:
    return Analysis(**{"min_requests": 20, **kw})


@pytest.mark.parametrize(("kw", "weight", "cand", "base", "verdict", "texts"), [
    ({"latency_ms": 100}, 10, GOOD, None, "pass", ["p95: 20 ms ≤ 100 ms"]),
    ({"latency_ms": 100}, 10, SLOW, None, "fail", ["p95: 400 ms > 100 ms"]),
    ({"latency_ms": 100}, 10, FEW, None, "inconclusive", ["p95: 3 requests in 30 s, fewer than 20"]),
    ({"latency_ratio": 1.2}, 10, GOOD, Measured(requests=500, latency_ms=20), "pass",
     ["p95 vs baseline: 20 ms ≤ 24 ms (1.2 x baseline 20 ms)"]),
    ({"latency_ratio": 1.2}, 10, Measured(requests=50, latency_ms=30), Measured(requests=500, latency_ms=20),
     "fail", ["p95 vs baseline: 30 ms > 24 ms"]),
    ({"latency_ratio": 1.2}, 10, GOOD, Measured(requests=5, latency_ms=20), "inconclusive",
     ["the baseline had fewer than 20 requests"]),
    ({"latency_ratio": 1.2, "latency_ms": 100}, 100, GOOD, None, "pass",
     ["p95: 20 ms ≤ 100 ms", "p95 vs baseline: skipped at 100%"]),
    ({"latency_ratio": 1.2}, 100, GOOD, None, "inconclusive", ["skipped at 100%"]),  # nothing judged
    ({"error_rate_percent": 1}, 10, Measured(requests=200, error_rate_percent=2.5), None, "fail",
     ["errors: 2.5% > 1%"]),
    ({"error_rate_over_baseline": 0.5}, 10, Measured(requests=200, error_rate_percent=1.2),
     Measured(requests=800, error_rate_percent=1), "pass", ["errors vs baseline: 1.2% ≤ 1.5%"]),
    ({"error_rate_over_baseline": 0.5}, 10, Measured(requests=200, error_rate_percent=3),
     Measured(requests=800, error_rate_percent=1), "fail", ["errors vs baseline: 3% > 1.5% (baseline 1% + 0.5"]),
    ({"latency_ms": 100, "error_rate_percent": 1}, 10, Measured(requests=100, latency_ms=50, error_rate_percent=9),
     None, "fail", ["p95: 50 ms ≤ 100 ms", "errors: 9% > 1%"]),
    ({"latency_ms": 100, "latency_ratio": 2}, 10, GOOD, None, "inconclusive",
     ["p95: 20 ms ≤ 100 ms", "p95 vs baseline: the baseline had fewer"]),
])
def test_judge(kw: dict[str, Any], weight: int, cand: Measured, base: Measured | None, verdict: str,
               texts: list[str]) -> None:
    got, checks = judge(analysis(**kw), weight, cand, base)
    assert got == verdict, checks
    for text, check in zip(texts, checks, strict=False):
        assert text in check.text, check.text


def test_measure_reads_the_live_samples_of_the_window() -> None:
    def sample(t: float, requests: int, p95: float, errors: int = 0, mirror: bool = False) -> Sample:
        return Sample(time=t, endpoint="fraud", deployment="v3", requests=requests, errors_5xx=errors,
                      latency_ms={"p95": p95}, mirror=mirror)

    samples = [sample(89, 100, 900), sample(91, 10, 20, 1), sample(95, 10, 30), sample(96, 50, 999, mirror=True),
               sample(100, 10, 40, 1)]
    got = measure(Analysis(window_s=10), samples, 100)
    assert got.requests == 30 and got.latency_ms == 40 and got.error_rate_percent == pytest.approx(100 * 2 / 30)
    assert measure(Analysis(window_s=10), [], 100) == Measured(requests=0, latency_ms=None, error_rate_percent=None)


# ---------------------------------------------------------------- the state machine

def test_start_sets_the_first_step_and_records_the_start() -> None:
    pending = m.begin("fraud-1", resolved(), "ann", "release", SPLIT, 1000)
    assert (pending.phase, pending.step, pending.baseline, pending.me) == ("pending", -1, "fraud-v1", "rollout:fraud-1")
    t = m.start(pending, 1000)
    assert t.split == {"fraud-v3": 10, "fraud-v1": 90}
    assert [r.action for r in t.records] == ["rollout.start", "rollout.step"]
    assert t.records[0].actor == "ann" and t.records[1].actor == "rollout:fraud-1"
    assert t.records[0].after["traffic_before"] == SPLIT
    assert (t.state.phase, t.state.step, t.state.weight, t.state.step_started) == ("progressing", 0, 10, 1000)
    assert t.state.next_analysis_at == 1002
    with pytest.raises(RolloutError, match="cannot start"):
        m.start(t.state, 1001)
    with pytest.raises(ValueError, match="resolve the plan first"):
        m.begin("x", parse_plan(PLAN), "ann", "", SPLIT, 0)


def test_analysis_counts_failures_and_is_due_every_interval() -> None:
    r = running()
    assert not m.analysis_due(r, 1001.9) and m.analysis_due(r, 1002)
    failed = m.observe(r, SLOW, GOOD, 1002)
    assert failed.split is None and failed.state.failures == 1 and failed.state.next_analysis_at == 1004
    (record,) = failed.records
    assert (record.action, record.outcome, record.actor) == ("rollout.analysis", "fail", "rollout:fraud-1")
    assert "p95: 400 ms > 100 ms" in record.reason and record.after["analysis"]["verdict"] == "fail"
    unsure = m.observe(failed.state, FEW, None, 1004)
    assert unsure.state.failures == 1 and unsure.records[0].outcome == "inconclusive"  # neither counts nor resets
    passed = m.observe(unsure.state, GOOD, None, 1006)
    assert passed.state.failures == 0 and passed.records[0].outcome == "ok"
    assert len(passed.state.analyses) == 3 and passed.state.last_analysis is not None


def test_a_sustained_breach_rolls_back_to_the_baseline() -> None:
    r = m.observe(running(), SLOW, None, 1002).state
    assert m.advance(r, 1002).state is r  # one failure: not sustained yet
    r = m.observe(r, SLOW, None, 1004).state
    t = m.advance(r, 1004)
    assert t.split == {"fraud-v1": 100}
    assert (t.state.phase, t.state.weight, t.state.finished, t.state.active) == ("rolled-back", 0, 1004, False)
    (record,) = t.records
    assert record.action == "rollout.rollback" and record.actor == "rollout:fraud-1"
    assert record.reason == "2 consecutive failed analyses (p95: 400 ms > 100 ms): 100% back to fraud-v1"
    assert t.state.outcome.startswith("rolled back: 2 consecutive")


@pytest.mark.parametrize("where", ["gate", "manual"])
def test_a_breach_also_rolls_back_while_paused(where: str) -> None:
    r = running()
    if where == "manual":
        r = m.pause(r, "bob", "", 1001).state
    else:
        r = m.observe(r, GOOD, None, 1002).state
        r = m.advance(r, 1030).state  # to step 2, which is gated
        r = m.observe(r, GOOD, None, 1031).state
        r = m.advance(r, 1035).state
        assert r.pause is not None and r.pause.kind == "gate"
    for now in (1040, 1042):
        r = m.observe(r, SLOW, None, now).state
    assert m.advance(r, 1042).state.phase == "rolled-back"


def test_a_step_advances_only_after_its_bake_and_a_passing_analysis_made_during_it() -> None:
    r = running()
    assert m.advance(r, 1029).state is r  # no analysis yet
    r = m.observe(r, GOOD, None, 1002).state
    assert m.advance(r, 1029.9).state is r  # baking
    unsure = m.observe(r, FEW, None, 1030).state
    assert m.advance(unsure, 1030).state is unsure  # the last analysis was inconclusive
    t = m.advance(r, 1030)
    assert t.split == {"fraud-v3": 50, "fraud-v1": 50}
    assert (t.state.step, t.state.weight, t.state.step_started) == (1, 50, 1030)
    assert [r.action for r in t.records] == ["rollout.step"] and t.records[0].after["gate"] is True
    assert m.advance(t.state, 1040).state is t.state  # the pass was before this step began


def test_a_gate_pauses_and_approval_moves_on() -> None:
    r = m.observe(running(), GOOD, None, 1002).state
    r = m.advance(r, 1030).state
    r = m.observe(r, GOOD, None, 1032).state
    gate = m.advance(r, 1035)
    assert gate.split is None and gate.state.phase == "paused"
    assert gate.state.pause == m.Pause(kind="gate", by="rollout:fraud-1", since=1035,
                                       reason="gate at step 2 (50% to fraud-v3): waiting for approval")
    assert m.advance(m.observe(gate.state, GOOD, None, 1040).state, 2000).state.phase == "paused"  # waits
    with pytest.raises(RolloutError, match="approve the gate to go on"):
        m.resume(gate.state, "bob", "", 1036)
    approved = m.approve(gate.state, "bob", "ok", 1037)
    assert approved.split == {"fraud-v3": 100}
    assert [(r.action, r.actor) for r in approved.records] == [("rollout.approve", "bob"),
                                                               ("rollout.step", "rollout:fraud-1")]
    assert approved.state.phase == "progressing" and approved.state.step == 2 and approved.state.pause is None
    with pytest.raises(RolloutError, match="no gate to approve"):
        m.approve(approved.state, "bob", "", 1038)


def test_the_last_step_succeeds_after_its_bake() -> None:
    plan = "endpoint: fraud\ncandidate: fraud-v3\nsteps: [100]\nbake_s: 0\nanalysis: {latency_ms: 100}\n"
    r = running(plan)
    assert r.weight == 100 and m.split_for(r, 100) == {"fraud-v3": 100}
    t = m.advance(m.observe(r, GOOD, None, 1005).state, 1005)
    assert t.split is None and t.state.phase == "succeeded" and t.state.weight == 100
    assert [r.action for r in t.records] == ["rollout.succeeded"] and t.state.finished == 1005
    gated = running(plan.replace("bake_s: 0", "bake_s: 0\ngates: [100]"))
    t = m.advance(m.observe(gated, GOOD, None, 1005).state, 1005)
    assert t.state.phase == "paused"
    assert m.approve(t.state, "bob", "", 1006).state.phase == "succeeded"


def test_pause_and_resume() -> None:
    r = m.observe(running(), GOOD, None, 1002).state
    paused = m.pause(r, "bob", "", 1003)
    assert paused.state.pause == m.Pause(kind="manual", by="bob", since=1003, reason="paused by hand")
    assert m.advance(paused.state, 5000).state is paused.state  # no step while paused
    with pytest.raises(RolloutError, match="paused by hand at step 1 of 3"):
        m.pause(paused.state, "bob", "", 1004)
    resumed = m.resume(paused.state, "carol", "go", 1010)
    assert resumed.state.phase == "progressing" and resumed.state.step_started == 1010  # bakes afresh
    assert resumed.records[0].after["paused"]["by"] == "bob"
    with pytest.raises(RolloutError, match="cannot be resumed"):
        m.resume(resumed.state, "carol", "", 1011)


def test_abort_and_promote_from_any_active_phase_and_nothing_after_the_end() -> None:
    r = running()
    for phase in (r, m.pause(r, "bob", "", 1001).state):
        aborted = m.abort(phase, "bob", "bad build", 1002)
        assert aborted.split == {"fraud-v1": 100} and aborted.state.phase == "aborted"
        assert aborted.records[0].action == "rollout.abort" and aborted.records[0].actor == "bob"
        assert aborted.state.outcome == "aborted by bob: bad build; 100% back to fraud-v1"
        promoted = m.promote(phase, "bob", "", 1002)
        assert promoted.split == {"fraud-v3": 100} and promoted.state.phase == "succeeded"
        assert promoted.records[0].action == "rollout.promote"
    for ended in (aborted.state, promoted.state):
        for action in (m.pause, m.resume, m.approve, m.abort, m.promote):
            with pytest.raises(RolloutError):
                action(ended, "bob", "", 1003)
        assert m.advance(ended, 9999).state is ended and not m.analysis_due(ended, 9999)


def test_a_refused_split_pauses_a_step_but_leaves_a_rollback_to_be_tried_again() -> None:
    r = m.observe(running(), GOOD, None, 1002).state
    step = m.advance(r, 1030)
    failed = m.split_failed(r, step, "fraud-v3 is not Ready", 1030)
    assert failed.split is None and failed.state.phase == "paused" and failed.state.weight == 10
    assert failed.state.pause is not None and failed.state.pause.kind == "error"
    assert [(x.action, x.outcome) for x in failed.records] == [
        ("rollout.step", "failed: fraud-v3 is not Ready"), ("rollout.pause", "ok")]
    assert m.resume(failed.state, "bob", "", 1031).state.phase == "progressing"
    breached = m.observe(m.observe(r, SLOW, None, 1004).state, SLOW, None, 1006).state
    rollback = m.advance(breached, 1006)
    kept = m.split_failed(breached, rollback, "fraud-v1 is not Ready", 1006)
    assert kept.state is breached and kept.records[0].action == "rollout.rollback"
    assert m.advance(kept.state, 1007).split == {"fraud-v1": 100}  # tried again


def test_a_restart_goes_on_or_pauses_when_the_live_split_is_not_the_rollouts() -> None:
    r = running()
    same = m.restored(r, 2000, {"fraud-v3": 10, "fraud-v1": 90, "fraud-v2": 0})
    assert same.state.phase == "progressing" and same.state.next_analysis_at == 2002
    assert same.records[0].action == "rollout.restore" and same.state.events[-1].actor == "engine"
    moved = m.restored(r, 2000, {"fraud-v1": 100})
    assert moved.state.phase == "paused" and moved.state.pause is not None and moved.state.pause.kind == "error"
    assert "is not the rollout's" in moved.records[0].reason


def test_status_carries_what_a_progress_view_needs() -> None:
    r = m.observe(running(), GOOD, None, 1002).state
    body = m.status(r, 1010)
    assert body["description"] == "progressing at step 1 of 3 (10% to fraud-v3)"
    assert body["steps"] == [{"weight": 10, "bake_s": 30, "gate": False}, {"weight": 50, "bake_s": 5, "gate": True},
                             {"weight": 100, "bake_s": 30, "gate": False}]
    assert body["bake_left_s"] == 20 and body["traffic"] == {"fraud-v3": 10, "fraud-v1": 90}
    assert (body["endpoint"], body["candidate"], body["baseline"], body["active"]) == ("fraud", "fraud-v3",
                                                                                     "fraud-v1", True)
    assert body["last_analysis"]["verdict"] == "pass" and body["events"][0]["action"] == "start"
    assert Rollout.model_validate_json(r.model_dump_json()) == r  # what the engine stores, read back


ACTIONS = st.sampled_from(["tick-good", "tick-slow", "tick-few", "pause", "resume", "approve", "abort", "promote"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(ACTIONS, st.floats(0, 40)), max_size=40))
def test_any_sequence_sets_only_valid_splits_and_an_end_is_final(steps: list[tuple[str, float]]) -> None:
    r = running()
    now = 1000.0
    for action, gap in steps:
        now += gap
        before = r
        try:
            if action.startswith("tick"):
                measured = {"tick-good": GOOD, "tick-slow": SLOW, "tick-few": FEW}[action]
                t: Transition = m.observe(r, measured, GOOD, now) if m.analysis_due(r, now) else Transition(r)
                t = m.advance(t.state, now)
            else:
                t = getattr(m, action)(r, "bob", "", now)
        except RolloutError:
            assert action != "tick" and (not r.active or action in ("pause", "resume", "approve"))
            continue
        if t.split is not None:
            assert sum(t.split.values()) == 100 and set(t.split) <= {"fraud-v3", "fraud-v1"}
            assert t.split == m.split_for(t.state, t.state.weight)
        if not before.active:
            assert t.state == before
        r = t.state
        assert r.step in range(3) and 0 <= r.failures and (r.phase == "paused") == (r.pause is not None)


def test_the_demo_canary_plan_parses_and_resolves_against_the_demo() -> None:
    path = Path(__file__).resolve().parents[2] / "resources" / "demo" / "canary.yaml"
    plan = resolve(parse_plan(path.read_text(), str(path)), None, SPLIT)
    assert (plan.endpoint, plan.candidate, plan.baseline) == ("fraud", "fraud-v3", "fraud-v1")
    assert [s.weight for s in plan.steps] == [10, 25, 50, 100] and plan.gated(2) and not plan.gated(1)
    assert plan.analysis.has_thresholds() and plan.analysis.rollback_after == 2
